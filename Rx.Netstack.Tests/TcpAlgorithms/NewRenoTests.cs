using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class NewRenoTests
{
    private const int Mss = 1460;
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(50);
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(10).Ticks);

    [Fact]
    public void A_partial_ack_of_less_than_one_segment_gives_nothing_back()
    {
        var cc = new NewReno(Mss);
        cc.OnEnterRecovery(T0, 20 * Mss);
        cc.OnPartialAck(500); // RFC 6582 §3.2 step 5: the SMSS comes back only for at least one SMSS acknowledged
        Assert.Equal(13 * Mss - 500, cc.CongestionWindow);
    }

    [Fact]
    public void Congestion_avoidance_adds_one_segment_per_round_trip()
    {
        var cc = new NewReno(Mss);
        cc.OnEnterRecovery(T0, 40 * Mss);
        cc.OnExitRecovery(T0);
        Assert.Equal(20 * Mss, cc.CongestionWindow);
        var clock = new AckClock(cc, Mss, Rtt, T0);
        for (int round = 1; round <= 10; round++)
        {
            clock.Round();
            Assert.Equal((20 + round) * Mss, cc.CongestionWindow);
        }
        // Delayed ACKs do not slow it down: bytes are counted, not ACKs.
        for (int round = 1; round <= 10; round++)
        {
            clock.Round(segmentsPerAck: 2);
            Assert.Equal((30 + round) * Mss, cc.CongestionWindow);
        }
    }
}
