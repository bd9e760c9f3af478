using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Tests.TcpAlgorithms;

/// <summary>
/// Drives a congestion controller like a sender that always has data: each round trip it has a full window in flight,
/// and the ACKs for it arrive spread evenly over the next RTT; after each ACK the sender refills the window.
/// </summary>
internal sealed class AckClock(ICongestionControl cc, int mss, TimeSpan rtt, Instant start)
{
    public Instant Now { get; private set; } = start;

    /// <summary>Acknowledges one window's worth of whole segments, <paramref name="segmentsPerAck"/> at a time, over one RTT.</summary>
    public void Round(int segmentsPerAck = 1)
    {
        int segments = cc.CongestionWindow / mss;
        int acks = Math.Max((segments + segmentsPerAck - 1) / segmentsPerAck, 1);
        Instant roundStart = Now;
        for (int i = 1; i <= acks; i++)
        {
            Instant at = roundStart + TimeSpan.FromTicks(rtt.Ticks * i / acks);
            int covered = Math.Min(segmentsPerAck, segments - (i - 1) * segmentsPerAck); // an odd last segment is ACKed alone
            cc.OnAck(at, Math.Max(covered, 1) * mss, cc.CongestionWindow, rtt);
        }
        Now = roundStart + rtt;
    }

    /// <summary>One ACK of <paramref name="segments"/> segments at the current time with the window full.</summary>
    public void Ack(int segments = 1) => cc.OnAck(Now, segments * mss, cc.CongestionWindow, rtt);

    /// <summary>Moves time on without ACKs.</summary>
    public void Advance(TimeSpan by) => Now += by;
}
