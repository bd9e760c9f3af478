using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// RACK-TLP (RFC 8985) as exact transcripts, with D-SACK (RFC 2883) and the undo of needless retransmissions (RFC 3708,
/// RFC 3522, RFC 4015). The handshake takes 10 ms; four segments go out together at 20 ms and the peer's first ACK at 30 ms
/// makes RACK's minimum RTT 10 ms, so the reordering window, once in use, is 10 / 4 = 2.5 ms per multiplier.
/// </summary>
public sealed class TcpRackTests
{
    private const int Mss = TcpTestPeer.Mss;
    private static uint S(int i) => (uint)(1001 + i * Mss);
    private static SackBlock Block(int from, int to) => new(new SeqNumber(S(from)), new SeqNumber(S(to)));

    private static TcpTestPeer Connected(CongestionControlAlgorithm cc = CongestionControlAlgorithm.NewReno, bool rack = true)
    {
        var c = Client(1000, PlainSettings with { EnableSack = true, EnableRack = rack, CongestionControl = cc });
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

    /// <summary>Four segments at 20 ms; the first is acknowledged at 30 ms (RACK's first RTT sample, 10 ms).</summary>
    private static TcpTestPeer FourInFlight(CongestionControlAlgorithm cc = CongestionControlAlgorithm.NewReno, bool rack = true)
    {
        var c = Connected(cc, rack);
        c.Do(20, t => t.Send(new byte[4 * Mss]));
        Assert.Equal(4, c.TakeAll(20).Count);
        c.Send(30, Seg(TcpFlags.Ack, 3001, S(1)));
        c.ExpectNothing(30);
        return c;
    }

    [Fact]
    public void With_SACK_the_connection_uses_RACK_and_without_it_duplicate_ACKs()
    {
        Assert.Equal("RackRecovery", TypeOfRecovery(Connected()));
        Assert.Equal("DupAckRecovery", TypeOfRecovery(Connected(rack: false)));
        var plain = Client(1000, PlainSettings);
        plain.Expect(0, Check.Flags(TcpFlags.Syn));
        plain.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { MaxSegmentSize = Mss });
        plain.Expect(10, Check.Flags(TcpFlags.Ack));
        Assert.Equal("DupAckRecovery", TypeOfRecovery(plain));
        // A peer that does not offer SACK gets duplicate-ACK recovery even when we offered it.
        var noSackPeer = Client(1000, PlainSettings with { EnableSack = true });
        noSackPeer.Expect(0, Check.Flags(TcpFlags.Syn), Check.SackPermitted(true));
        noSackPeer.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { MaxSegmentSize = Mss });
        noSackPeer.Expect(10, Check.Flags(TcpFlags.Ack));
        Assert.Equal("DupAckRecovery", TypeOfRecovery(noSackPeer));
    }

    private static string TypeOfRecovery(TcpTestPeer c) =>
        typeof(TcpControlBlock).GetField("_recovery", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
            .GetValue(c.Tcb)!.GetType().Name;

    [Fact]
    public void A_segment_overtaken_by_a_later_one_is_lost_only_when_the_reordering_window_passed()
    {
        var c = FourInFlight();
        // S2 is SACKed at 31 ms; S1, sent at the same time but lower, is not yet lost: one segment SACKed is below DupThresh,
        // so the window is min_RTT/4 = 2.5 ms past RACK.rtt (11 ms): the reordering timer is due at 20 + 11 + 2.5 ms.
        c.Send(31, AckWith(S(1), Block(2, 3)));
        c.ExpectNothing(33.4);
        c.Expect(33.5, Check.Seq(S(1)), Check.PayloadLength(Mss));
        Assert.Equal(1, c.Context.Counters.ReorderTimeouts);
        Assert.Equal(1, c.Context.Counters.FastRetransmits);
        // S3 was sent with S1 but after it in sequence, so it is not "sent before" the delivered S2: it is not resent.
        c.ExpectNothing(60);
        Assert.Equal(1, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);
    }

    [Fact]
    public void Duplicate_ACKs_alone_mark_nothing_lost_before_the_reordering_window_passed()
    {
        // Three duplicate ACKs: duplicate-ACK recovery resends at the third; RACK waits for the window even though three
        // segments' worth of SACKs would make it zero — here they SACK the same segment again, so only one is SACKed.
        var c = FourInFlight();
        c.Send(31, AckWith(S(1), Block(2, 3)));
        c.Send(31.5, AckWith(S(1), Block(2, 3)));
        c.Send(32, AckWith(S(1), Block(2, 3)));
        // S1 arrives late (reordered): everything is acknowledged before the timer at 33.5 ms, nothing is resent.
        c.Send(33, Seg(TcpFlags.Ack, 3001, S(4)));
        c.ExpectNothing(1000);
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);
        Assert.Equal(0, c.Context.Counters.FastRetransmits);
        Assert.Equal(true, c.Snapshot()["Recovery.ReorderingSeen"]);
    }

    [Fact]
    public void Three_segments_SACKed_without_reordering_seen_mark_the_hole_lost_at_once()
    {
        var c = Connected();
        c.Do(20, t => t.Send(new byte[5 * Mss]));
        Assert.Equal(5, c.TakeAll(20).Count);
        c.Send(30, Seg(TcpFlags.Ack, 3001, S(1)));
        c.Send(31, AckWith(S(1), Block(2, 5))); // three segments SACKed: the DupThresh rule, window zero (RFC 8985 §6.2 step 4)
        c.Expect(31, Check.Seq(S(1)), Check.PayloadLength(Mss));
        Assert.Equal(0, c.Context.Counters.ReorderTimeouts);
    }

    [Fact]
    public void Without_RACK_a_lone_SACK_marks_nothing_lost()
    {
        var c = FourInFlight(rack: false);
        c.Send(31, AckWith(S(1), Block(2, 3)));
        // One SACKed segment is no duplicate-ACK loss (RFC 6675 IsLost wants three): S1 waits; only the tail loss probe
        // (PTO 2·SRTT from the ACK at 30 ms) resends the last segment.
        c.ExpectNothing(49);
        c.Expect(50, Check.Seq(S(3)));
        Assert.Equal(0, c.Context.Counters.FastRetransmits);
        Assert.Equal(0, c.Context.Counters.ReorderTimeouts);
    }

    [Fact]
    public void A_lost_retransmission_is_found_by_time_again()
    {
        var c = FourInFlight();
        c.Send(31, AckWith(S(1), Block(2, 3)));
        c.Expect(33.5, Check.Seq(S(1)));
        // The resend of S1 is lost too; S3 (sent at 20) is delivered, which says nothing of S1's resend at 33.5. At 45 ms the
        // peer SACKs new data sent after the resend: then S1 is lost again, RACK.rtt after its resend.
        c.Send(34, AckWith(S(1), Block(2, 4)));
        c.ExpectNothing(40);
        c.Do(40, t => t.Send(new byte[Mss]));
        c.Expect(40, Check.Seq(S(4)));
        c.Send(50, AckWith(S(1), Block(4, 5), Block(2, 4)));
        var resent = c.TakeAll(60);
        Assert.Contains(resent, e => e.Header.Sequence.Value == S(1));
        Assert.Equal(2, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);
        Assert.Equal(0, c.Context.Counters.Timeouts);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_DSACK_for_a_needless_fast_retransmit_undoes_the_reduction_and_widens_the_reordering_window(CongestionControlAlgorithm cc)
    {
        var c = FourInFlight(cc);
        var before = c.Tcb.GetInfo(c.Now);
        c.Send(31, AckWith(S(1), Block(2, 3)));
        c.Expect(33.5, Check.Seq(S(1)));
        var reduced = c.Tcb.GetInfo(c.Now);
        Assert.True(reduced.SlowStartThreshold < before.SlowStartThreshold, $"{reduced.SlowStartThreshold} < {before.SlowStartThreshold}");
        Assert.Equal(1, c.Snapshot()["Recovery.ReorderWindowMultiplier"]);

        // The original S1 was only delayed: everything is acknowledged, then the duplicate is reported (RFC 2883 §4 case 1).
        c.Send(35, Seg(TcpFlags.Ack, 3001, S(4)));
        c.Send(36, AckWith(S(4), Block(1, 2)));
        Assert.Equal(1, c.Context.Counters.DuplicateSacksReceived);
        Assert.Equal(1, c.Context.Counters.SpuriousRetransmissionsUndone);
        var undone = c.Tcb.GetInfo(c.Now);
        Assert.Equal(before.SlowStartThreshold, undone.SlowStartThreshold); // RFC 4015 §2: back to before the episode
        Assert.True(undone.CongestionWindow >= before.CongestionWindow, $"{undone.CongestionWindow} ≥ {before.CongestionWindow}");
        Assert.False(undone.InRecovery);
        Assert.Equal(2, c.Snapshot()["Recovery.ReorderWindowMultiplier"]); // RFC 8985 §6.2 step 4: one step per round with a D-SACK

        // The next overtaking waits twice as long: min_RTT/4 · 2 = 5 ms past RACK.rtt.
        c.Do(40, t => t.Send(new byte[3 * Mss]));
        Assert.Equal(3, c.TakeAll(40).Count);
        c.Send(50, Seg(TcpFlags.Ack, 3001, S(5)));
        c.Send(51, AckWith(S(5), Block(6, 7)));
        c.ExpectNothing(55.9);
        c.Expect(56, Check.Seq(S(5)));
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_real_loss_is_not_undone(CongestionControlAlgorithm cc)
    {
        var c = FourInFlight(cc);
        var before = c.Tcb.GetInfo(c.Now);
        c.Send(31, AckWith(S(1), Block(2, 3)));
        c.Expect(33.5, Check.Seq(S(1)));
        // The resend fills the hole (no D-SACK ever comes): the reduction stands.
        c.Send(44, Seg(TcpFlags.Ack, 3001, S(4)));
        c.ExpectNothing(1000);
        Assert.Equal(0, c.Context.Counters.SpuriousRetransmissionsUndone);
        Assert.True(c.Tcb.GetInfo(c.Now).SlowStartThreshold < before.SlowStartThreshold);
    }

    private static TcpTestPeer ConnectedWithTimestamps(CongestionControlAlgorithm cc, bool sack)
    {
        var c = Client(1000, PlainSettings with { EnableSack = sack, EnableTimestamps = true, CongestionControl = cc });
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.Timestamps(true));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with
        {
            SackPermitted = sack,
            MaxSegmentSize = Mss,
            HasTimestamps = true,
            TimestampValue = 500,
            TimestampEcho = 1000, // our TSval at 0 ms: the offset is the ISN (RFC 7323 §5.4)
        });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        return c;
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno, false)]
    [InlineData(CongestionControlAlgorithm.Cubic, false)]
    [InlineData(CongestionControlAlgorithm.NewReno, true)]
    [InlineData(CongestionControlAlgorithm.Cubic, true)]
    public void A_timeout_the_timestamps_show_needless_is_undone_and_new_data_follows(CongestionControlAlgorithm cc, bool sack)
    {
        var c = ConnectedWithTimestamps(cc, sack);
        int smss = Mss - 12;
        c.Do(20, t => t.Send(new byte[4 * smss]));
        Assert.Equal(4, c.TakeAll(20).Count); // TSval 1020
        var before = c.Tcb.GetInfo(c.Now);
        // The ACKs are delayed past the RTO (200 ms; with SACK a tail loss probe goes first at 40 ms and RTO runs from it).
        var resent = c.TakeAll(sack ? 240 : 220).Where(e => e.Header.Sequence.Value == 1001).ToList();
        Assert.NotEmpty(resent);
        Assert.Equal(1, c.Context.Counters.Timeouts);
        Assert.Equal(smss, c.Tcb.GetInfo(c.Now).CongestionWindow); // RFC 5681 §3.1: the loss window
        // The ACK of the original (echoing TSval 1020, older than the resend's) arrives: Eifel detection (RFC 3522 §3.2).
        c.Send(250, Seg(TcpFlags.Ack, 3001, S(0) + (uint)(2 * smss)) with { HasTimestamps = true, TimestampValue = 600, TimestampEcho = 1020 });
        Assert.Equal(1, c.Context.Counters.SpuriousRetransmissionsUndone);
        var undone = c.Tcb.GetInfo(c.Now);
        Assert.Equal(before.SlowStartThreshold, undone.SlowStartThreshold);
        Assert.True(undone.CongestionWindow >= before.CongestionWindow, $"{undone.CongestionWindow} ≥ {before.CongestionWindow}");
        // RFC 4015 §2: no go-back-N after a needless timeout — the rest is in the network; new data may follow.
        c.Do(251, t => t.Send(new byte[smss]));
        var next = c.TakeAll(251);
        Assert.DoesNotContain(next, e => e.Header.Sequence.Value == S(0) + (uint)(2 * smss));
        Assert.Contains(next, e => e.Header.Sequence.Value == S(0) + (uint)(4 * smss));
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_timeout_whose_resend_filled_the_hole_is_not_undone(CongestionControlAlgorithm cc)
    {
        var c = ConnectedWithTimestamps(cc, sack: false);
        int smss = Mss - 12;
        c.Do(20, t => t.Send(new byte[4 * smss]));
        Assert.Equal(4, c.TakeAll(20).Count);
        Assert.Contains(c.TakeAll(220), e => e.Header.Sequence.Value == 1001); // the resend carries TSval 1220
        int reduced = c.Tcb.GetInfo(c.Now).SlowStartThreshold;
        c.Send(250, Seg(TcpFlags.Ack, 3001, S(0) + (uint)(4 * smss)) with { HasTimestamps = true, TimestampValue = 600, TimestampEcho = 1220 });
        Assert.Equal(0, c.Context.Counters.SpuriousRetransmissionsUndone);
        Assert.Equal(reduced, c.Tcb.GetInfo(c.Now).SlowStartThreshold);
        Assert.Equal(cc == CongestionControlAlgorithm.NewReno ? 2 * smss : (int)(4 * smss * Cubic.Beta), reduced); // RFC 5681 §3.1, RFC 9438 §4.8
    }

    private static TcpTestPeer SackReceiver()
    {
        var c = Client(1000, PlainSettings with { EnableSack = true });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        return c;
    }

    [Fact]
    public void Data_received_twice_is_reported_once_in_a_DSACK_block_that_comes_first()
    {
        var c = SackReceiver();
        var seg = new byte[100];
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), seg); // in order: the ACK is delayed
        c.Send(21, Seg(TcpFlags.Ack, 3001, 1001), seg); // again, wholly below RCV.NXT: RFC 2883 §4 case 1, ACKed at once
        c.Expect(21, Check.Ack(3101), Check.SackBlocks((3001, 3101)));
        c.Send(22, Seg(TcpFlags.Ack, 3201, 1001), seg); // out of order
        c.Expect(22, Check.Ack(3101), Check.SackBlocks((3201, 3301)));
        c.Send(23, Seg(TcpFlags.Ack, 3201, 1001), seg); // the same again: the D-SACK, then the block that holds it (§4 case 2)
        c.Expect(23, Check.Ack(3101), Check.SackBlocks((3201, 3301), (3201, 3301)));
        c.Send(24, Seg(TcpFlags.Ack, 3251, 1001), seg); // half of it held already: only that half is the duplicate
        c.Expect(24, Check.Ack(3101), Check.SackBlocks((3251, 3301), (3201, 3351)));
        c.Send(25, Seg(TcpFlags.Ack, 3501, 1001), seg); // new data: no D-SACK any more (reported once)
        c.Expect(25, Check.Ack(3101), Check.SackBlocks((3501, 3601), (3201, 3351)));
        c.Send(26, Seg(TcpFlags.Ack, 3101, 1001), seg); // fills the hole up to 3351; a duplicate across RCV.NXT after it
        c.Expect(26, Check.Ack(3351), Check.SackBlocks((3501, 3601)));
        c.Send(27, Seg(TcpFlags.Ack, 3301, 1001), seg); // [3301, 3351) old, [3351, 3401) new
        c.Expect(27, Check.Ack(3401), Check.SackBlocks((3301, 3351), (3501, 3601)));
        c.ExpectNothing(100);
        Assert.Equal(4, c.Context.Counters.DuplicateSacksSent);
    }

    [Fact]
    public void Duplicates_in_one_receive_burst_each_get_an_ACK_with_their_own_DSACK()
    {
        var c = SackReceiver();
        var seg = new byte[100];
        c.Do(20, tcb =>
        {
            for (uint s = 3001; s < 3501; s += 100) tcb.Process(c.Now, Seg(TcpFlags.Ack, s, 1001), seg);
        });
        c.TakeAll(20);
        // Three resends arrive together (one receive burst), all below RCV.NXT (RFC 2883 §4 case 1): the first answers with
        // its D-SACK, the next two touch and go out as one in a second ACK, so the sender hears of each needless resend.
        c.Do(30, tcb =>
        {
            tcb.Process(c.Now, Seg(TcpFlags.Ack, 3001, 1001), seg);
            tcb.Process(c.Now, Seg(TcpFlags.Ack, 3201, 1001), seg);
            tcb.Process(c.Now, Seg(TcpFlags.Ack, 3301, 1001), seg);
        });
        c.Expect(30, Check.Ack(3501), Check.SackBlocks((3001, 3101)));
        c.Expect(30, Check.Ack(3501), Check.SackBlocks((3201, 3401)));
        c.ExpectNothing(100);
        Assert.Equal(2, c.Context.Counters.DuplicateSacksSent);
    }

    [Fact]
    public void An_in_order_segment_that_runs_into_held_data_reports_each_held_range_as_a_DSACK()
    {
        // A coalesced run of resends (the hole's repair, then needless resends of data held out of order) reaches the
        // receiver as one segment from RCV.NXT: the held parts of it are duplicates (RFC 2883 §4), one D-SACK each, below
        // the new cumulative ACK (case 1), as separate segments would each have drawn.
        var c = SackReceiver();
        var seg = new byte[100];
        c.Send(20, Seg(TcpFlags.Ack, 3101, 1001), seg);
        c.Expect(20, Check.Ack(3001), Check.SackBlocks((3101, 3201)));
        c.Send(21, Seg(TcpFlags.Ack, 3301, 1001), seg);
        c.Expect(21, Check.Ack(3001), Check.SackBlocks((3301, 3401), (3101, 3201)));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1001), new byte[500]); // [3001, 3501): two held ranges inside it
        c.Expect(30, Check.Ack(3501), Check.SackBlocks((3101, 3201)));
        c.Expect(30, Check.Ack(3501), Check.SackBlocks((3301, 3401)));
        c.ExpectNothing(100);
        Assert.Equal(2, c.Context.Counters.DuplicateSacksSent);
    }

    [Fact]
    public void An_out_of_order_segment_across_two_held_ranges_reports_both_each_with_the_block_holding_it()
    {
        var c = SackReceiver();
        var seg = new byte[100];
        c.Send(20, Seg(TcpFlags.Ack, 3201, 1001), seg);
        c.Expect(20, Check.Ack(3001), Check.SackBlocks((3201, 3301)));
        c.Send(21, Seg(TcpFlags.Ack, 3401, 1001), seg);
        c.Expect(21, Check.Ack(3001), Check.SackBlocks((3401, 3501), (3201, 3301)));
        // [3201, 3501) above RCV.NXT: both held ranges again, [3301, 3401) new. RFC 2883 §4 case 2: each D-SACK is followed by
        // the SACK block holding it.
        c.Send(30, Seg(TcpFlags.Ack, 3201, 1001), new byte[300]);
        c.Expect(30, Check.Ack(3001), Check.SackBlocks((3201, 3301), (3201, 3501)));
        c.Expect(30, Check.Ack(3001), Check.SackBlocks((3401, 3501), (3201, 3501)));
        c.ExpectNothing(100);
        Assert.Equal(2, c.Context.Counters.DuplicateSacksSent);
    }

    [Fact]
    public void A_burst_of_duplicates_gets_at_most_nine_ACKs()
    {
        var c = SackReceiver();
        var seg = new byte[100];
        c.Do(20, tcb =>
        {
            for (uint s = 3001; s < 5001; s += 100) tcb.Process(c.Now, Seg(TcpFlags.Ack, s, 1001), seg);
        });
        c.TakeAll(20);
        c.Do(30, tcb =>
        {
            for (uint s = 3001; s < 5001; s += 200) tcb.Process(c.Now, Seg(TcpFlags.Ack, s, 1001), seg); // ten, none touching
        });
        List<Emitted> acks = c.TakeAll(30);
        // The first D-SACK and eight waiting behind it (TcpReceiver.MaxQueuedDuplicateSacks); the tenth is not reported.
        Assert.Equal(9, acks.Count);
        for (int i = 0; i < acks.Count; i++)
            Assert.True(Check.SackBlocks((3001 + 200 * (uint)i, 3101 + 200 * (uint)i)).Predicate(acks[i]), $"ACK {i}: {acks[i]}");
        Assert.Equal(9, c.Context.Counters.DuplicateSacksSent);
    }

    [Fact]
    public void Without_SACK_a_duplicate_is_only_ACKed()
    {
        var c = Client(1000, PlainSettings);
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), new byte[100]);
        c.Send(21, Seg(TcpFlags.Ack, 3001, 1001), new byte[100]);
        c.Expect(21, Check.Ack(3101), Check.SackBlocks());
        Assert.Equal(0, c.Context.Counters.DuplicateSacksSent);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    [InlineData(CongestionControlAlgorithm.Bbr)]
    public void A_DSACK_for_one_needless_resend_of_a_real_loss_episode_is_no_reordering_whatever_the_controller(
        CongestionControlAlgorithm cc)
    {
        // Eight segments at 20 ms; S1 is lost, S2 arrives but the ACK that SACKed it is lost, so at 31 ms three SACKed
        // segments above both make them lost at once (RFC 8985 §6.2 step 4: no reordering seen, DupThresh SACKed).
        var c = Connected(cc);
        c.Do(20, t => t.Send(new byte[8 * Mss]));
        Assert.Equal(8, c.TakeAll(20).Count);
        c.Send(30, Seg(TcpFlags.Ack, 3001, S(1)));
        c.Send(31, AckWith(S(1), Block(3, 6)));
        c.Send(32, AckWith(S(1), Block(3, 8)));
        var repairs = c.TakeAll(40);
        Assert.Contains(repairs, e => e.Header.Sequence.Value == S(1));
        Assert.Contains(repairs, e => e.Header.Sequence.Value == S(2));
        // The resend of S1 fills the hole; the resend of S2 comes back as a duplicate (RFC 2883 §4): needless, but the
        // episode repaired a real loss. Two copies of S2 arrived because an ACK was lost, not because S2 was late.
        c.Send(42, Seg(TcpFlags.Ack, 3001, S(8)));
        c.Send(43, AckWith(S(8), Block(2, 3)));
        Assert.Equal(1, c.Context.Counters.DuplicateSacksReceived);
        Assert.Equal(0, c.Context.Counters.SpuriousRetransmissionsUndone);
        // RFC 8985 §6.2: the D-SACK widens the window a step (step 4) but is no reordering (step 3 takes only an original
        // delivered below RACK.fack), for any controller: the repairs that follow do not wait for it.
        Assert.Equal(false, c.Snapshot()["Recovery.ReorderingSeen"]);
        Assert.Equal(2, c.Snapshot()["Recovery.ReorderWindowMultiplier"]);

        // The next hole with three segments SACKed above it is repaired at once (the DupThresh rule, window zero).
        c.Do(50, t => t.Send(new byte[4 * Mss]));
        Assert.Equal(4, c.TakeAll(60).Count);
        c.Send(62, AckWith(S(8), Block(9, 12))); // before the tail loss probe (2·SRTT after 50 ms)
        c.Expect(62, Check.Seq(S(8)), Check.PayloadLength(Mss));
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    [InlineData(CongestionControlAlgorithm.Bbr)]
    public void A_needless_resend_undone_by_DSACK_leaves_a_window_that_shrinks_back_after_sixteen_recoveries(CongestionControlAlgorithm cc)
    {
        // S1 is resent after the window (2.5 ms) and reported twice: the episode is undone by D-SACK. Without timestamps that
        // is no proof of reordering — a lost ACK makes the same D-SACK — so RACK.reordering_seen stays false; the window
        // grows one step (RFC 8985 §6.2 step 4) and lasts sixteen recoveries without another D-SACK.
        var c = FourInFlight(cc);
        c.Send(31, AckWith(S(1), Block(2, 3)));
        c.Expect(33.5, Check.Seq(S(1)));
        c.Send(35, Seg(TcpFlags.Ack, 3001, S(4)));
        c.Send(36, AckWith(S(4), Block(1, 2)));
        Assert.Equal(1, c.Context.Counters.SpuriousRetransmissionsUndone);
        Assert.Equal(false, c.Snapshot()["Recovery.ReorderingSeen"]);
        Assert.Equal(2, c.Snapshot()["Recovery.ReorderWindowMultiplier"]);

        // Seventeen rounds of two segments whose first is lost: each is a recovery repaired by RACK's timer, the window
        // (one SACKed segment is below DupThresh) is min_RTT/4 · multiplier after RACK.rtt (10 ms).
        int next = 4;
        double at = 40;
        for (int round = 1; round <= 17; round++)
        {
            double window = round <= 16 ? 5 : 2.5;
            c.Do(at, t => t.Send(new byte[2 * Mss]));
            Assert.Equal(2, c.TakeAll(at).Count);
            c.Send(at + 10, AckWith(S(next), Block(next + 1, next + 2)));
            c.ExpectNothing(at + 10 + window - 0.1);
            c.Expect(at + 10 + window, Check.Seq(S(next)), Check.PayloadLength(Mss));
            c.Send(at + 20, Seg(TcpFlags.Ack, 3001, S(next + 2))); // the resend filled the hole: the recovery ends
            Assert.Equal(round < 16 ? 2 : 1, c.Snapshot()["Recovery.ReorderWindowMultiplier"]);
            next += 2;
            at += 30;
        }
        Assert.Equal(false, c.Snapshot()["Recovery.ReorderingSeen"]);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Genuine_reordering_makes_every_later_repair_wait_the_window(CongestionControlAlgorithm cc)
    {
        // S1 arrives after S2 and was never resent: an original delivered below RACK.fack (RFC 8985 §6.2 step 3).
        var c = FourInFlight(cc);
        c.Send(31, AckWith(S(1), Block(2, 3)));
        c.Send(32, Seg(TcpFlags.Ack, 3001, S(4)));
        Assert.Equal(true, c.Snapshot()["Recovery.ReorderingSeen"]);
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);

        // Now three segments SACKed above a hole no longer mark it lost at once (as they do before any reordering, see
        // Three_segments_SACKed_without_reordering_seen_mark_the_hole_lost_at_once): it waits min_RTT/4 = 2.5 ms.
        c.Do(40, t => t.Send(new byte[4 * Mss]));
        Assert.Equal(4, c.TakeAll(40).Count);
        c.Send(50, AckWith(S(4), Block(5, 8)));
        c.ExpectNothing(52.4);
        c.Expect(52.5, Check.Seq(S(4)), Check.PayloadLength(Mss));
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Over_a_duplicating_link_both_ends_send_and_understand_DSACKs(CongestionControlAlgorithm cc)
    {
        var settings = new TcpSettings { CongestionControl = cc, SendBufferSize = 128 * 1024, ReceiveBufferSize = 128 * 1024 };
        var link = TcpPair.CleanLink with { Duplication = 0.05, Loss = 0.01 };
        var pair = new TcpPair(settings, settings, link, seed: 4);
        var data = new byte[400_000];
        new Random(4).NextBytes(data);
        using var app = new StreamExchange(data, []);
        pair.Application = app.Run;
        Assert.True(pair.RunUntil(app.Done, TimeSpan.FromMinutes(5)));
        Assert.Equal(data, app.ReceivedByB);
        Assert.True(pair.ContextB.Counters.DuplicateSacksSent > 0, "the receiver reports duplicates");
        Assert.True(pair.ContextA.Counters.DuplicateSacksReceived > 0, "the sender reads them");
        Assert.True(pair.ContextA.Counters.FastRetransmits > 0, "losses were repaired by RACK");
    }

    [Fact]
    public void The_minimum_RTT_is_windowed_so_the_reordering_window_follows_a_route_to_a_longer_path()
    {
        var c = Client(1000, PlainSettings with { EnableSack = true, EnableTailLossProbe = false });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        c.Do(20, t => t.Send(new byte[4 * Mss]));
        Assert.Equal(4, c.TakeAll(20).Count);
        // 10 ms round trips; S1 arrives after S2 (reordering seen): the window is min_RTT/4 = 2.5 ms.
        c.Send(30, AckWith(S(1), Block(2, 3)));
        c.Send(31, Seg(TcpFlags.Ack, 3001, S(4)));
        Assert.Equal(true, c.Snapshot()["Recovery.ReorderingSeen"]);
        Assert.Equal(Ms(2.5), ReorderWindow(c));

        // The route changes to a 40 ms path: one segment every 10 s, each acknowledged 40 ms later.
        uint next = S(4);
        for (int i = 1; i <= 31; i++)
        {
            double t = 1000.0 * 10 * i;
            c.Do(t, tcb => tcb.Send(new byte[Mss]));
            c.Expect(t, Check.Seq(next));
            next += Mss;
            c.Send(t + 40, Seg(TcpFlags.Ack, 3001, next));
            // Within five minutes of the 10 ms sample (taken at 30 ms) the old minimum stands; after them the window follows
            // the new path, 40 / 4 ms.
            TimeSpan expected = t + 40 <= 30 + 5 * 60 * 1000 ? Ms(2.5) : Ms(10);
            Assert.True(expected == ReorderWindow(c), $"at {t} ms: {ReorderWindow(c)}\n{c.Snapshot()}");
        }
    }

    private static TimeSpan ReorderWindow(TcpTestPeer c)
    {
        var rack = (RackRecovery)typeof(TcpControlBlock)
            .GetField("_recovery", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.GetValue(c.Tcb)!;
        return rack.ReorderWindow(c.Tcb.GetInfo(c.Now).SmoothedRtt);
    }
}
