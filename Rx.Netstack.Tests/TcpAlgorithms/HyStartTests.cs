using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.TcpAlgorithms;

/// <summary>
/// HyStart++ (RFC 9406) in the first slow start of NewReno and CUBIC, as theories over both: a round's minimum RTT rising by
/// the threshold over the round before enters Conservative Slow Start (growth ÷ 4), five rounds of it end slow start at the
/// window reached, an RTT falling back resumes slow start; loss and timeouts end it; stretch ACKs count in full.
/// </summary>
public class HyStartTests
{
    private const int Mss = 1460;
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(100); // RttThresh = 100 ms / 8 = 12.5 ms
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(10).Ticks);

    /// <summary>
    /// A sender that fills cwnd after each ACK and delimits rounds as HyStart++ does (a round starts with the ACK that reaches
    /// SND.NXT as it was when the round before started), so each <see cref="Round"/> is exactly one of HyStart++'s rounds.
    /// </summary>
    private sealed class Flow(ICongestionControl cc)
    {
        private SeqNumber _una = new(1000);
        private SeqNumber _nxt = new(1000 + (uint)cc.CongestionWindow);
        private SeqNumber _windowEnd;
        private bool _started;
        private Instant _now = T0;

        /// <summary>
        /// One round, every ACK covering <paramref name="perAck"/> segments and measuring <paramref name="rtt"/>; returns the
        /// bytes it acknowledged (about one window: slow start grows by as much).
        /// </summary>
        public int Round(TimeSpan rtt, int perAck = 1)
        {
            SeqNumber start = _una;
            do Ack(perAck, rtt);
            while (_una + perAck * Mss < _windowEnd);
            return _una - start;
        }

        private void Ack(int segments, TimeSpan rtt)
        {
            SeqNumber ack = _una + Math.Min(segments * Mss, _nxt - _una);
            int flight = _nxt - _una;
            if (!_started || ack >= _windowEnd)
            {
                _started = true;
                _windowEnd = _nxt;
            }
            _now += TimeSpan.FromMilliseconds(1);
            cc.OnAckArrived(_now, ack, _nxt, rtt);
            cc.OnAck(_now, ack - _una, flight, rtt);
            _una = ack;
            SeqNumber limit = _una + cc.CongestionWindow;
            if (limit > _nxt) _nxt = limit;
        }
    }

    private static bool InCss(ICongestionControl cc) => cc switch
    {
        Cubic c => c.InConservativeSlowStart,
        NewReno n => n.InConservativeSlowStart,
        _ => throw new ArgumentException("no HyStart++", nameof(cc)),
    };

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    /// <summary>A controller that two rounds at the base RTT and one 20 ms above it put in Conservative Slow Start.</summary>
    private static (ICongestionControl Cc, Flow Flow) InConservativeSlowStart(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        var flow = new Flow(cc);
        flow.Round(Base);
        flow.Round(Base);
        flow.Round(Base + Ms(20));
        Assert.True(InCss(cc));
        return (cc, flow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_stretch_ack_counts_every_segment_it_acknowledges(CongestionControlAlgorithm algorithm)
    {
        // A receiver that merges a burst ACKs 45 segments at once; RFC 3465's L = 2 would grow by 2 of them.
        var cc = CongestionControl.Create(algorithm, Mss);
        cc.OnAck(T0, 45 * Mss, cc.CongestionWindow, Base);
        Assert.Equal(55 * Mss, cc.CongestionWindow);

        var off = CongestionControl.Create(algorithm, Mss, seed: 0, hyStart: false);
        off.OnAck(T0, 45 * Mss, off.CongestionWindow, Base);
        Assert.Equal(12 * Mss, off.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Slow_start_with_stretch_acks_still_doubles_every_round(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        var flow = new Flow(cc);
        for (int round = 0; round < 5; round++)
        {
            int before = cc.CongestionWindow;
            int acked = flow.Round(Base, perAck: 8);
            Assert.Equal(before + acked, cc.CongestionWindow);
            Assert.InRange(cc.CongestionWindow, 1.8 * before, 2 * before);
        }
        Assert.False(InCss(cc));
        Assert.Equal(int.MaxValue, cc.SlowStartThreshold);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_rise_below_the_threshold_keeps_slow_start(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        var flow = new Flow(cc);
        flow.Round(Base);
        flow.Round(Base + Ms(12)); // 12 ms < 12.5 ms
        Assert.False(InCss(cc));
        int before = cc.CongestionWindow;
        int acked = flow.Round(Base + Ms(20)); // 8 ms over the round before, still below its threshold of 112 / 8 = 14 ms
        Assert.False(InCss(cc));
        Assert.Equal(before + acked, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_round_trip_time_rise_enters_conservative_slow_start_and_five_rounds_of_it_end_slow_start(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        var flow = new Flow(cc);
        flow.Round(Base);
        flow.Round(Base);
        int before = cc.CongestionWindow;
        flow.Round(Base + Ms(13)); // ≥ 100 + 12.5 ms: CSS after the round's eighth sample
        Assert.True(InCss(cc));
        // Eight ACKs of slow start, then a quarter of a segment per ACK for the rest of the round.
        int segments = before / Mss;
        Assert.InRange(cc.CongestionWindow, before + 8 * Mss + (segments - 8) * Mss / 4 - Mss, before + 8 * Mss + (segments - 8) * Mss / 4 + Mss);

        for (int round = 1; round < HyStartPlusPlus.CssRounds; round++)
        {
            int start = cc.CongestionWindow;
            flow.Round(Base + Ms(13));
            Assert.True(InCss(cc));
            Assert.Equal(int.MaxValue, cc.SlowStartThreshold);
            Assert.InRange(cc.CongestionWindow, start * 1.2, start * 1.3); // CSS: a quarter of slow start's doubling
        }

        // The fifth round ended: the first ACK of the next one sets ssthresh to cwnd, and congestion avoidance begins.
        int reached = cc.CongestionWindow;
        flow.Round(Base + Ms(13));
        Assert.False(InCss(cc));
        Assert.InRange(cc.SlowStartThreshold, reached - 1, reached);
        Assert.InRange(cc.CongestionWindow, reached, reached * 1.1);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void An_rtt_falling_back_during_conservative_slow_start_resumes_slow_start(CongestionControlAlgorithm algorithm)
    {
        var (cc, flow) = InConservativeSlowStart(algorithm);
        flow.Round(Base + Ms(19)); // below the 120 ms that started CSS: it was jitter
        Assert.False(InCss(cc));
        int before = cc.CongestionWindow;
        int acked = flow.Round(Base + Ms(19));
        Assert.False(InCss(cc));
        Assert.Equal(int.MaxValue, cc.SlowStartThreshold);
        Assert.Equal(before + acked, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Without_hystart_a_rising_rtt_changes_nothing(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss, seed: 0, hyStart: false);
        var flow = new Flow(cc);
        flow.Round(Base);
        for (int round = 1; round < 8; round++)
        {
            int before = cc.CongestionWindow;
            int acked = flow.Round(Base + Ms(20 * round));
            Assert.Equal(before + acked, cc.CongestionWindow);
        }
        Assert.Equal(int.MaxValue, cc.SlowStartThreshold);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void After_a_timeout_slow_start_counts_one_segment_per_ack_and_hystart_stays_off(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        cc.OnRetransmissionTimeout(T0, 200 * Mss);
        Assert.Equal(Mss, cc.CongestionWindow);
        // RFC 3465 §2.3: after a timeout an ACK may cover data the receiver held out of order; one segment per ACK.
        cc.OnAck(T0, 45 * Mss, cc.CongestionWindow, Base);
        Assert.Equal(2 * Mss, cc.CongestionWindow);

        var flow = new Flow(cc);
        flow.Round(Base);
        flow.Round(Base);
        flow.Round(Base + Ms(50));
        Assert.False(InCss(cc)); // RFC 9406 §4.2: HyStart++ is for the first slow start; this one has its ssthresh
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_loss_in_conservative_slow_start_ends_it(CongestionControlAlgorithm algorithm)
    {
        var (cc, flow) = InConservativeSlowStart(algorithm);
        cc.OnEnterRecovery(T0, cc.CongestionWindow);
        Assert.False(InCss(cc));
        Assert.True(cc.SlowStartThreshold < int.MaxValue);
    }

    [Theory]
    [InlineData(1, 4)]     // clamped up to MIN_RTT_THRESH
    [InlineData(40, 5)]    // RTT / 8
    [InlineData(100, 12.5)]
    [InlineData(500, 16)]  // clamped down to MAX_RTT_THRESH
    public void The_threshold_is_an_eighth_of_the_last_round_minimum_within_4_to_16_ms(double rttMs, double thresholdMs) =>
        Assert.Equal(Ms(thresholdMs), HyStartPlusPlus.RttThreshold(Ms(rttMs)));
}
