using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Tail loss probes (RFC 8985 §7) as exact transcripts. The handshake takes 10 ms, so SRTT = 10 ms, RTTVAR = 5 ms and the
/// RTO is the 200 ms minimum; PTO = 2·SRTT = 20 ms, plus 200 ms (WCDelAckT) when one segment is in flight.
/// </summary>
public sealed class TcpTailLossProbeTests
{
    private const int Mss = TcpTestPeer.Mss;
    private static uint S(int i) => (uint)(1001 + i * Mss);

    private static TcpTestPeer Connected(bool sack = true)
    {
        var c = Client(1000, PlainSettings with { EnableSack = sack });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = sack, MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        return c;
    }

    [Fact]
    public void Silence_after_a_flight_brings_a_probe_of_the_last_segment_after_two_RTTs_then_the_RTO_runs_from_the_probe()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[2 * Mss]));
        c.Expect(20, Check.Seq(S(0)), Check.PayloadLength(Mss));
        c.Expect(20, Check.Seq(S(1)), Check.PayloadLength(Mss));
        c.ExpectNothing(39);
        c.Expect(40, Check.Seq(S(1)), Check.PayloadLength(Mss)); // the probe: the highest segment again
        Assert.Equal(1, c.Context.Counters.TailLossProbes);
        Assert.Equal(0, c.Context.Counters.Timeouts);
        c.ExpectNothing(239); // one probe only; the RTO is re-armed from the probe
        c.Expect(240, Check.Seq(S(0)), Check.PayloadLength(Mss));
        Assert.Equal(1, c.Context.Counters.Timeouts);
        Assert.Equal(1, c.Context.Counters.TailLossProbes);
    }

    [Fact]
    public void On_a_sub_millisecond_path_the_probe_waits_at_least_10_ms_not_two_RTTs()
    {
        // A 1 ms handshake: SRTT = 1 ms, so 2·SRTT = 2 ms — shorter than a thread's scheduling delay on a busy host. The PTO
        // is held to 10 ms (a probe any earlier was spurious on an in-memory pipe).
        var c = Client(1000, PlainSettings with { EnableSack = true });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(1, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = Mss });
        c.Expect(1, Check.Flags(TcpFlags.Ack));
        c.Do(2, t => t.Send(new byte[2 * Mss]));
        Assert.Equal(2, c.TakeAll(2).Count);
        c.ExpectNothing(11);
        c.Expect(12, Check.Seq(S(1)), Check.PayloadLength(Mss));
        Assert.Equal(1, c.Context.Counters.TailLossProbes);
    }

    [Fact]
    public void One_segment_in_flight_waits_for_the_worst_case_delayed_ACK_and_the_probe_takes_the_RTO_s_place()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[100]));
        c.Expect(20, Check.Seq(S(0)), Check.PayloadLength(100));
        c.ExpectNothing(219);
        // PTO = 2·10 + 200 = 220 ms, clamped to the RTO deadline (also 220): the probe goes instead of a timeout.
        c.Expect(220, Check.Seq(S(0)), Check.PayloadLength(100));
        Assert.Equal(0, c.Context.Counters.Timeouts);
        // No back-off happened: the RTO after the probe is 200 ms, not 400.
        c.ExpectNothing(419);
        c.Expect(420, Check.Seq(S(0)), Check.PayloadLength(100));
        Assert.Equal(1, c.Context.Counters.Timeouts);
    }

    [Fact]
    public void A_lost_last_segment_is_repaired_by_the_probe_without_a_timeout()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[3 * Mss]));
        Assert.Equal(3, c.TakeAll(20).Count);
        // The first two arrived, the third is lost. The ACK restarts the PTO with one segment in flight: 2·10 + 200 ms from
        // 30 ms, clamped to the RTO deadline at 230 ms; the probe goes there instead of a timeout.
        c.Send(30, Seg(TcpFlags.Ack, 3001, S(2)));
        c.ExpectNothing(229);
        c.Expect(230, Check.Seq(S(2)), Check.PayloadLength(Mss));
        c.Send(240, Seg(TcpFlags.Ack, 3001, S(3)));
        c.ExpectNothing(2000); // all acknowledged: no timer left running
        Assert.Equal(0, c.Context.Counters.Timeouts);
        Assert.Equal(1, c.Context.Counters.TailLossProbes);
        Assert.Equal(1, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).BytesInFlight);
    }

    [Fact]
    public void With_unsent_data_the_probe_is_a_new_segment()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[12 * Mss]));
        int initialWindow = c.TakeAll(20).Count; // cwnd-limited (RFC 5681 initial window)
        Assert.InRange(initialWindow, 2, 11);
        c.Expect(40, Check.Seq(S(initialWindow)), Check.PayloadLength(Mss)); // new data, beyond cwnd (RFC 8985 §7.3)
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);
    }

    [Fact]
    public void Without_SACK_there_is_no_probe_only_the_RTO()
    {
        var c = Connected(sack: false);
        c.Do(20, t => t.Send(new byte[2 * Mss]));
        Assert.Equal(2, c.TakeAll(20).Count);
        c.ExpectNothing(219);
        c.Expect(220, Check.Seq(S(0)));
        Assert.Equal(0, c.Context.Counters.TailLossProbes);
    }

    [Fact]
    public void The_probe_can_be_turned_off()
    {
        var c = Client(1000, PlainSettings with { EnableSack = true, EnableTailLossProbe = false });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        c.Do(20, t => t.Send(new byte[2 * Mss]));
        Assert.Equal(2, c.TakeAll(20).Count);
        c.ExpectNothing(219);
        c.Expect(220, Check.Seq(S(0)));
    }
}
