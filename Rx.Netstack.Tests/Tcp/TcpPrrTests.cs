using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Proportional Rate Reduction (RFC 9937) as transcripts: how many segments fast recovery lets out per ACK. Twenty segments
/// are in flight when the first is lost; CUBIC's ssthresh is 0.7 · 20 = 14 segments, so PRR sends about 7 segments for every
/// 10 delivered until the pipe reaches 14, and cwnd is ssthresh when recovery ends.
/// </summary>
public sealed class TcpPrrTests
{
    private const int Mss = TcpTestPeer.Mss;
    private static uint S(int i) => (uint)(1001 + i * Mss);
    private static SackBlock Block(int from, int to) => new(new SeqNumber(S(from)), new SeqNumber(S(to)));

    private static TcpHeader AckWith(uint ack, params SackBlock[] blocks)
    {
        TcpHeader h = Seg(TcpFlags.Ack, 3001, ack);
        foreach (SackBlock b in blocks) h.AddSackBlock(b);
        return h;
    }

    /// <summary>
    /// Connected at 10 ms with <paramref name="settings"/>; at 20 ms the ten segments of the initial window go out, ACKed one
    /// by one from 30 ms, so slow start doubles cwnd to twenty segments and S10–S29 are in flight from 30–31 ms.
    /// </summary>
    private static TcpTestPeer TwentyInFlight(TcpSettings settings, bool sack = true)
    {
        var c = Client(1000, settings);
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = sack, MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        c.Do(20, t => t.Send(new byte[80 * Mss]));
        Assert.Equal(10, c.TakeAll(20).Count);
        for (int i = 1; i <= 10; i++) c.Send(30 + 0.1 * (i - 1), Seg(TcpFlags.Ack, 3001, S(i)));
        Assert.Equal(20, c.TakeAll(31).Count);
        Assert.Equal(20 * Mss, c.Tcb.GetInfo(c.Now).CongestionWindow);
        return c;
    }

    private static void AssertSends(int[] expected, IEnumerable<int> actual) =>
        Assert.True(expected.SequenceEqual(actual), $"segments sent per ACK: expected {string.Join(",", expected)}, got {string.Join(",", actual)}");

    private static TcpSettings Settings(bool prr = true, bool rack = true, bool sack = true) => PlainSettings with
    {
        EnableSack = sack,
        EnableRack = rack,
        EnableProportionalRateReduction = prr,
        CongestionControl = CongestionControlAlgorithm.Cubic,
        EnableTailLossProbe = false,
        SendBufferSize = 256 * 1024,
    };

    /// <summary>
    /// S10 is lost: the peer's first ACK after it SACKs S11–S13 (three segments, enough to mark S10 lost at once), then one
    /// ACK per segment SACKs S14, S15 … (0.1 ms apart from 40 ms). Returns how many segments went out after each ACK.
    /// </summary>
    private static List<int> SacksAfterOneLoss(TcpTestPeer c, int acks)
    {
        var sends = new List<int>();
        for (int k = 1; k <= acks; k++)
        {
            c.Send(40 + 0.1 * k, AckWith(S(10), Block(11, 13 + k)));
            sends.Add(c.TakeAll(40 + 0.1 * k).Count);
        }
        return sends;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void One_loss_in_twenty_PRR_sends_seven_segments_per_ten_delivered_and_ends_at_ssthresh(bool rack)
    {
        var c = TwentyInFlight(Settings(rack: rack));
        List<int> sends = SacksAfterOneLoss(c, 17);
        var info = c.Tcb.GetInfo(c.Now);
        Assert.True(info.InRecovery);
        Assert.Equal(14 * Mss, info.SlowStartThreshold); // CUBIC: 0.7 · 20
        // RecoverFS = 20 segments. The first ACK delivered three: ⌈3 · 14/20⌉ = 3 go (the fast retransmit and two new);
        // then each ACK delivers one and the total sent follows ⌈delivered · 0.7⌉, seven for every ten, until the pipe is
        // down to ssthresh (the 13th ACK); from there PRR holds it there, one out per one delivered.
        AssertSends([3, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1], sends);
        Assert.Equal((int)Math.Ceiling(19 * 0.7), sends.Sum()); // 19 segments delivered
        Assert.Equal(1, c.Context.Counters.FastRetransmits);

        // The retransmission arrives: everything sent is acknowledged, recovery ends with cwnd at ssthresh.
        c.Send(60, Seg(TcpFlags.Ack, 3001, S(30 + sends.Sum() - 1)));
        info = c.Tcb.GetInfo(c.Now);
        Assert.False(info.InRecovery);
        Assert.Equal(14 * Mss, info.CongestionWindow);
        Assert.Equal(1, info.SegmentsRetransmitted);
        Assert.Equal(14, c.TakeAll(60).Count); // a window of ssthresh goes out
        c.ExpectNothing(61);
    }

    [Fact]
    public void Without_PRR_RFC_6675_recovery_waits_for_the_pipe_to_fall_below_ssthresh_then_sends_one_per_ACK()
    {
        var c = TwentyInFlight(Settings(prr: false));
        List<int> sends = SacksAfterOneLoss(c, 17);
        // The contrast: the fast retransmit alone (the pipe, 16 + 1, is above ssthresh, 14), silence until the pipe fell
        // to 13, then one per ACK.
        AssertSends([1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], sends);
    }

    [Fact]
    public void Without_SACK_PRR_paces_NewReno_recovery_by_the_duplicate_ACKs()
    {
        var c = TwentyInFlight(Settings(sack: false), sack: false);
        // Nineteen duplicate ACKs, each standing for one segment delivered (RFC 9937 §6.2 without SACK). The first two send
        // a new segment each (Limited Transmit, RFC 3042), so 22 are in flight when the third starts recovery: ssthresh is
        // 0.7 · 22 = 15.4 segments and RecoverFS 20.
        var sends = new List<int>();
        for (int k = 1; k <= 19; k++)
        {
            c.Send(40 + 0.1 * k, Seg(TcpFlags.Ack, 3001, S(10)));
            sends.Add(c.TakeAll(40 + 0.1 * k).Count);
        }
        Assert.Equal(1, c.Context.Counters.FastRetransmits);
        Assert.Equal(22483, c.Tcb.GetInfo(c.Now).SlowStartThreshold);
        AssertSends([1, 1], sends.Take(2));
        // From the third: the total sent follows ⌈delivered · 15.4/20⌉ segments.
        List<int> recovery = sends.Skip(2).ToList();
        AssertSends([1, 1, 1, 1, 0, 1, 1, 1, 0, 1], recovery.Take(10));
        c.Send(60, Seg(TcpFlags.Ack, 3001, S(32 + recovery.Sum() - 1)));
        var info = c.Tcb.GetInfo(c.Now);
        Assert.False(info.InRecovery);
        Assert.Equal(info.SlowStartThreshold, info.CongestionWindow);
        Assert.Equal(15, c.TakeAll(60).Count); // 15.4 segments: 15 go out
        c.ExpectNothing(61);
    }

    [Fact]
    public void After_heavy_loss_PRR_SSRB_grows_the_flight_back_to_ssthresh_as_slow_start_would()
    {
        var c = TwentyInFlight(Settings());
        // Ten of the twenty are lost (S10–S19); S20–S29 are SACKed one ACK each (the new data sent meanwhile is in flight).
        var sends = new List<int>();
        for (int k = 1; k <= 10; k++)
        {
            c.Send(40 + 0.1 * k, AckWith(S(10), Block(20, 20 + k)));
            sends.Add(c.TakeAll(40 + 0.1 * k).Count);
        }
        var info = c.Tcb.GetInfo(c.Now);
        Assert.True(info.InRecovery);
        Assert.Equal(22483, info.SlowStartThreshold); // 0.7 · 22 segments in flight when recovery began
        // The third SACKed segment marks all ten lost: the pipe (9 segments) is far below ssthresh (15.4). SACK-only ACKs are
        // not "safe" (RFC 9937 §6.2), so PRR-CRB holds to packet conservation: one out per segment delivered (the two before
        // recovery went out as SACKs made room in cwnd).
        AssertSends([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], sends);
        // The two new segments sent before recovery arrive and are SACKed: still one out per one delivered.
        c.Send(41.1, AckWith(S(10), Block(20, 31)));
        c.Send(41.2, AckWith(S(10), Block(20, 32)));
        Assert.Equal(2, c.TakeAll(41.2).Count);

        // The repairs come back in order: each ACK advances SND.UNA by one segment and shows no new loss — safe, so PRR-SSRB
        // sends what it delivered plus one SMSS, two segments per ACK (slow start's growth) until the pipe reaches ssthresh,
        // then one per ACK.
        var growth = new List<int>();
        for (int k = 1; k <= 9; k++)
        {
            c.Send(50 + 0.1 * k, AckWith(S(10 + k), Block(20, 32)));
            growth.Add(c.TakeAll(50 + 0.1 * k).Count);
        }
        AssertSends([2, 2, 2, 2, 2, 1, 1, 1, 1], growth);
        Assert.Equal(22483L, c.Snapshot()["Recovery.Prr.Window"]); // the pipe is held at ssthresh
        Assert.Equal(0, c.Context.Counters.Timeouts);

        // Everything arrives: recovery ends with cwnd at ssthresh, no timeout on the way.
        var info2 = c.Tcb.GetInfo(c.Now);
        c.Send(60, Seg(TcpFlags.Ack, 3001, S(19) + (uint)info2.BytesInFlight));
        info2 = c.Tcb.GetInfo(c.Now);
        Assert.False(info2.InRecovery);
        Assert.Equal(22483, info2.CongestionWindow);
        Assert.Equal(15, c.TakeAll(60).Count);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.Cubic, true)]
    [InlineData(CongestionControlAlgorithm.NewReno, true)]
    [InlineData(CongestionControlAlgorithm.Bbr, false)]
    public void PRR_paces_loss_based_controllers_and_stands_aside_for_BBR(CongestionControlAlgorithm cc, bool prr)
    {
        var c = Client(1000, Settings() with { CongestionControl = cc });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        // BBR sets its own window in recovery (Linux skips PRR for a controller with cong_control).
        Assert.Equal(prr, c.Snapshot().Names.Any(n => n.StartsWith("Recovery.Prr.", StringComparison.Ordinal)));
    }
}
