using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// RACK's response to a retransmission timeout (RFC 8985 §6.3) as exact transcripts: the first outstanding segment is lost,
/// the others only when sent more than RACK.rtt + reo_wnd before the timeout; what the peer SACKed is never resent. The
/// handshake takes 10 ms, so the RTO is the 200 ms minimum; tail loss probes are off so only the RTO runs.
/// </summary>
public sealed class TcpRackTimeoutTests
{
    private const int Mss = TcpTestPeer.Mss;
    private static uint S(int i) => (uint)(1001 + i * Mss);
    private static SackBlock Block(int from, int to) => new(new SeqNumber(S(from)), new SeqNumber(S(to)));

    private static TcpTestPeer Connected(bool rack = true)
    {
        var c = Client(1000, PlainSettings with { EnableSack = true, EnableRack = rack, EnableTailLossProbe = false });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        return c;
    }

    private static TcpHeader AckWith(uint ack, params SackBlock[] blocks)
    {
        TcpHeader h = Seg(TcpFlags.Ack, 3001, ack);
        foreach (SackBlock b in blocks) h.AddSackBlock(b);
        return h;
    }

    private static RackRecovery Rack(TcpTestPeer c) => (RackRecovery)
        typeof(TcpControlBlock).GetField("_recovery", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
            .GetValue(c.Tcb)!;

    private static bool Lost(TcpTestPeer c, int segment) => Rack(c).IsMarkedLost(new SeqNumber(S(segment)));

    [Fact]
    public void A_timeout_marks_the_first_segment_and_those_sent_a_RACK_RTT_before_it_lost_not_a_recent_one()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[4 * Mss]));
        Assert.Equal(4, c.TakeAll(20).Count);
        c.Send(30, AckWith(S(1))); // RACK.rtt 10 ms; the RTO (200 ms) runs from here
        c.Do(225, t => t.Send(new byte[Mss]));
        c.Expect(225, Check.Seq(S(4)));
        // At 230 ms the timer expires. S1 is first: lost and resent at once. S2 and S3 went out at 20 ms, more than RACK.rtt
        // (10 ms) + reo_wnd (0: no reordering seen) ago: lost. S4 went out 5 ms ago: it may still arrive, so it is not.
        c.Expect(230, Check.Seq(S(1)), Check.PayloadLength(Mss));
        c.ExpectNothing(239); // cwnd is one segment (RFC 5681 §3.1): S2 and S3 wait for the ACK
        Assert.Equal(1, c.Context.Counters.Timeouts);
        Assert.False(Lost(c, 1)); // resent
        Assert.True(Lost(c, 2));
        Assert.True(Lost(c, 3));
        Assert.False(Lost(c, 4));
        // The resend of S1 and S4 arrive: slow start opens cwnd to two segments, and exactly the two lost ones go.
        c.Send(240, AckWith(S(2), Block(4, 5)));
        c.Expect(240, Check.Seq(S(2)), Check.PayloadLength(Mss));
        c.Expect(240, Check.Seq(S(3)), Check.PayloadLength(Mss));
        c.ExpectNothing(249);
        c.Send(250, AckWith(S(5)));
        c.ExpectNothing(2000);
        Assert.Equal(3, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);
    }

    [Fact]
    public void After_a_timeout_with_SACKed_holes_only_the_lost_segments_are_resent()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[6 * Mss]));
        Assert.Equal(6, c.TakeAll(20).Count);
        c.Send(30, AckWith(S(1)));
        c.Expect(230, Check.Seq(S(1))); // the first timeout: S1..S5 are lost, S1 goes
        // S3's original arrives late and is SACKed. It was sent before the resend of S1, so RACK does not take S1 for lost
        // again; nothing may go (cwnd one segment, the resend of S1 in flight).
        c.Send(240, AckWith(S(1), Block(3, 4)));
        c.ExpectNothing(629);
        c.Expect(630, Check.Seq(S(1))); // the second timeout (backed off to 400 ms) keeps the SACK information
        Assert.Equal(2, c.Context.Counters.Timeouts);
        Assert.True(Lost(c, 2) && Lost(c, 4) && Lost(c, 5) && !Lost(c, 3));
        // S1 arrives; cwnd is two segments: S2 and S4 go, never the SACKed S3 (RFC 6675 §5.1: use the SACK information).
        c.Send(640, AckWith(S(2), Block(3, 4)));
        c.Expect(640, Check.Seq(S(2)));
        c.Expect(640, Check.Seq(S(4)));
        c.ExpectNothing(649);
        c.Send(650, AckWith(S(3), Block(3, 5)));
        c.Expect(650, Check.Seq(S(5)));
        c.Send(660, AckWith(S(6)));
        c.ExpectNothing(3000);
        Assert.Equal(5, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted); // S1 twice, S2, S4, S5
    }

    [Fact]
    public void Without_RACK_a_timeout_goes_back_N_and_resends_the_SACKed_segment_too()
    {
        var c = Connected(rack: false);
        c.Do(20, t => t.Send(new byte[6 * Mss]));
        Assert.Equal(6, c.TakeAll(20).Count);
        c.Send(30, AckWith(S(1)));
        c.Expect(230, Check.Seq(S(1)));
        c.Send(240, AckWith(S(1), Block(3, 4)));
        var sent = c.TakeAll(639);
        c.Send(640, AckWith(S(2), Block(3, 4)));
        c.Send(650, AckWith(S(4), Block(4, 5)));
        c.Send(660, AckWith(S(6)));
        sent.AddRange(c.TakeAll(3000));
        Assert.Contains(sent, e => e.Header.Sequence.Value == S(3)); // RFC 2018 §8: the scoreboard was cleared
    }

    [Fact]
    public void A_peer_that_reneged_on_SACKed_data_gets_it_again_at_the_timeout()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[3 * Mss]));
        Assert.Equal(3, c.TakeAll(20).Count);
        c.Send(30, AckWith(S(1), Block(2, 3))); // S2 SACKed: S1 is lost once the reordering window (2.5 ms) passed
        c.Expect(32.5, Check.Seq(S(1)));
        // The resend of S1 arrives, but the peer dropped S2 it had SACKed (RFC 2018 §8 allows it): the ACK stops at S2.
        c.Send(40, AckWith(S(2)));
        c.ExpectNothing(239);
        // The timeout finds the segment at SND.UNA SACKed — the peer reneged — so the SACK information goes and S2 is resent.
        c.Expect(240, Check.Seq(S(2)), Check.PayloadLength(Mss));
        c.Send(250, AckWith(S(3)));
        c.ExpectNothing(2000);
    }
}
