using System.Diagnostics;

namespace Rx.Netstack.Tcp.Congestion;

/// <summary>
/// BBR version 1 (draft-cardwell-iccrg-bbr-congestion-control-00; the algorithm of Linux's tcp_bbr.c): a model-based
/// controller that does not take loss for congestion. From each delivery rate sample (<see cref="DeliveryRateSampler"/>) it
/// keeps the bottleneck bandwidth (the windowed maximum over 10 round trips) and the round-trip propagation time (the minimum
/// over 10 s), sets the pacing rate to gain·bandwidth and cwnd to gain·BDP, and moves through STARTUP, DRAIN, PROBE_BW and
/// PROBE_RTT (§4.3). Works in bytes.
/// </summary>
/// <remarks>
/// <para>Loss recovery (§4.2.3.4–4.2.3.5): on entering fast recovery the window is what is in the network plus what the ACK
/// delivered (packet conservation) for one round trip, then grows again towards the model's target; on leaving recovery it is
/// restored to at least what it was before. A retransmission timeout leaves one segment and the same restore at the end.</para>
/// <para>Not implemented: the long-term bandwidth (policer) estimate of Linux's lt_bw, the ACK aggregation allowance of later
/// Linux versions, and the per-loss cwnd decrement (samples carry no loss count).</para>
/// </remarks>
internal sealed class Bbr : ICongestionControl
{
    /// <summary>STARTUP's pacing and cwnd gain, 2/ln 2 (§4.3.1.1): the smallest that doubles the delivery rate each round.</summary>
    public const double HighGain = 2.885;

    /// <summary>DRAIN's pacing gain, the inverse of STARTUP's (§4.3.2).</summary>
    public const double DrainGain = 1 / HighGain;

    /// <summary>cwnd gain in PROBE_BW (§4.2.3.2): room for delayed and stretched ACKs.</summary>
    public const double CwndGain = 2;

    /// <summary>Rounds the maximum filter remembers a bandwidth sample (§4.1.1.1: BtlBwFilterLen).</summary>
    public const int BandwidthWindowRounds = 10;

    /// <summary>How long a minimum RTT holds before PROBE_RTT (§4.1.2.1: RTpropFilterLen).</summary>
    public static readonly TimeSpan MinRttWindow = TimeSpan.FromSeconds(10);

    /// <summary>How long PROBE_RTT holds the flight at <see cref="MinPipeSegments"/> (§4.3.4: ProbeRTTDuration).</summary>
    public static readonly TimeSpan ProbeRttDuration = TimeSpan.FromMilliseconds(200);

    /// <summary>The smallest cwnd, in segments (§4.2.3.1: BBRMinPipeCwnd).</summary>
    public const int MinPipeSegments = 4;

    /// <summary>STARTUP ends when the bandwidth grew less than this factor ...</summary>
    private const double FullBandwidthGrowth = 1.25;

    /// <summary>... in this many rounds in a row (§4.3.1.2).</summary>
    private const int FullBandwidthRounds = 3;

    /// <summary>The pacing rate is this much under the estimate, so the bottleneck queue drains (Linux's bbr_pacing_margin_percent).</summary>
    private const double PacingMargin = 0.99;

    /// <summary>PROBE_BW's pacing gains, one phase per min RTT (§4.3.3): probe up, drain what that queued, cruise.</summary>
    private static readonly double[] ProbeBwGains = [1.25, 0.75, 1, 1, 1, 1, 1, 1];

    /// <summary>The modes of §4.3.</summary>
    public enum Mode
    {
        /// <summary>Exponential search for the bottleneck bandwidth.</summary>
        Startup,
        /// <summary>Drains the queue STARTUP built.</summary>
        Drain,
        /// <summary>Cruises at the bandwidth, probing for more one phase in eight.</summary>
        ProbeBw,
        /// <summary>Holds the flight low to measure the propagation time again.</summary>
        ProbeRtt,
    }

    private readonly Random _random;           // picks PROBE_BW's first phase (§4.3.3: not the one that drains)
    private int _mss;                           // bytes per segment
    private long _cwnd;                         // the congestion window in bytes
    private double _pacingRate;                 // bytes per second; 0 until the first RTT is known
    private Mode _mode = Mode.Startup;          // the state machine of §4.3
    private double _pacingGain = HighGain;      // this mode's (or phase's) pacing gain
    private double _cwndGain = HighGain;        // this mode's cwnd gain

    private MaxFilter _maxBw;                   // BtlBw: windowed max of delivery rates, bytes per second, by round
    private TimeSpan _minRtt = TimeSpan.MaxValue; // RTprop: the least RTT seen in the filter's window; MaxValue while unknown
    private Instant _minRttStamp;               // when _minRtt was last set (or confirmed by PROBE_RTT)

    private long _roundCount;                   // round trips so far (§4.1.1.3)
    private long _nextRoundDelivered;           // delivered count that ends the current round
    private bool _roundStart;                   // this ACK began a new round

    private bool _filledPipe;                   // STARTUP found the bottleneck (§4.3.1.2)
    private double _fullBw;                     // the bandwidth at the last 25 % step
    private int _fullBwCount;                   // rounds since without 25 % growth

    private int _cycleIndex;                    // PROBE_BW's phase
    private Instant _cycleStamp;                // when that phase began

    private Instant _probeRttDoneStamp;         // when PROBE_RTT may end; default while the flight is still coming down
    private bool _probeRttRoundDone;            // a round passed in PROBE_RTT at the low flight

    private long _priorCwnd;                    // cwnd before recovery or PROBE_RTT, restored after (§4.2.3.4)
    private bool _packetConservation;           // the first round of recovery: cwnd follows what is in the network
    private LossState _previousState;           // the loss state at the previous sample, to see recovery begin and end
    private bool _timedOut;                     // a retransmission timeout cut cwnd; the next sample sees the loss state

    /// <summary>A controller starting from the initial window of RFC 6928 for <paramref name="mss"/>.</summary>
    public Bbr(int mss, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mss);
        _mss = mss;
        _cwnd = CongestionControl.InitialWindow(mss);
        _random = new Random(seed);
    }

    /// <inheritdoc />
    public int CongestionWindow => (int)Math.Min(_cwnd, int.MaxValue);

    /// <summary>BBR keeps no slow-start threshold; the window it sets is also the one loss recovery sends by.</summary>
    public int SlowStartThreshold => CongestionWindow;

    /// <inheritdoc />
    public bool UsesRateSamples => true;

    /// <inheritdoc />
    public double PacingRate => _pacingRate;

    /// <summary>The mode now (tests, diagnostics).</summary>
    public Mode CurrentMode => _mode;

    /// <summary>BtlBw, bytes per second (tests, diagnostics).</summary>
    public double BottleneckBandwidth => _maxBw.Best;

    /// <summary>RTprop, or null while unknown (tests, diagnostics).</summary>
    public TimeSpan? MinRtt => _minRtt == TimeSpan.MaxValue ? null : _minRtt;

    /// <summary>STARTUP found the bottleneck.</summary>
    public bool FilledPipe => _filledPipe;

    /// <summary>Round trips counted.</summary>
    public long RoundCount => _roundCount;

    /// <summary>The pacing gain now.</summary>
    public double PacingGain => _pacingGain;

    // BBR takes its signals from rate samples; the loss-based calls only mark the loss state and save the window.

    /// <inheritdoc />
    public void OnAck(Instant now, int bytesAcked, int bytesInFlight, TimeSpan? smoothedRtt) { }

    /// <inheritdoc />
    public void OnEnterRecovery(Instant now, int bytesInFlight) => SaveCwnd();

    /// <inheritdoc />
    public void OnExitRecovery(Instant now) { }

    /// <summary>A timeout: keep the window to restore, leave one segment (as Linux's tcp_enter_loss), and start full-bandwidth
    /// detection over (Linux's CA_EVENT_LOSS).</summary>
    public void OnRetransmissionTimeout(Instant now, int bytesInFlight)
    {
        SaveCwnd();
        _cwnd = _mss;
        _fullBw = 0;
        _fullBwCount = 0;
        _roundStart = true;
        _timedOut = true;
    }

    /// <inheritdoc />
    public void SetMaxSegmentSize(int mss)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mss);
        if (_roundCount == 0 && _cwnd == CongestionControl.InitialWindow(_mss)) _cwnd = CongestionControl.InitialWindow(mss);
        _mss = mss;
        _cwnd = Math.Max(_cwnd, MinPipeSegments * (long)mss);
    }

    /// <inheritdoc />
    public void SaveForUndo() { }

    /// <summary>The losses were not: look for the full bandwidth afresh (Linux's bbr_undo_cwnd); cwnd is the model's anyway.</summary>
    public void Undo()
    {
        _fullBw = 0;
        _fullBwCount = 0;
    }

    /// <summary>
    /// One ACK's rate sample (§4.1 and §4.2, in the order of Linux's bbr_main): update the model, move through the modes, then
    /// set the pacing rate and cwnd.
    /// </summary>
    public void OnRateSample(Instant now, in RateSample rs, in AckSignals ack)
    {
        UpdateBandwidth(rs);
        UpdateCyclePhase(now, rs, ack);
        CheckFullBandwidthReached(rs);
        CheckDrain(now, ack);
        UpdateMinRtt(now, rs, ack);
        SetPacingRate(_pacingGain, ack.SmoothedRtt);
        SetCwnd(rs, ack);
        Debug.Assert(_cwnd >= _mss, "cwnd holds a segment at least");
    }

    /// <summary>§4.1.1: count rounds by the delivered counter, feed the max filter (app-limited samples only when they raise it).</summary>
    private void UpdateBandwidth(in RateSample rs)
    {
        _roundStart = false;
        if (rs.NewlyDelivered <= 0) return;
        if (rs.PriorDelivered >= _nextRoundDelivered)
        {
            _nextRoundDelivered = rs.TotalDelivered;
            _roundCount++;
            _roundStart = true;
            _packetConservation = false;
        }
        if (!rs.IsValid) return;
        double bw = rs.BytesPerSecond;
        if (!rs.IsAppLimited || bw >= _maxBw.Best) _maxBw.Update(bw, _roundCount, BandwidthWindowRounds);
    }

    /// <summary>§4.3.3: the next PROBE_BW phase after a min RTT, or sooner/later depending on what the phase was for.</summary>
    private void UpdateCyclePhase(Instant now, in RateSample rs, in AckSignals ack)
    {
        if (_mode != Mode.ProbeBw) return;
        bool fullLength = _minRtt != TimeSpan.MaxValue && now - _cycleStamp > _minRtt;
        bool next = _pacingGain switch
        {
            // Probing: go on until a min RTT passed and the flight reached gain·BDP (or the probe cost losses).
            > 1 => fullLength && (ack.State != LossState.Open || ack.PriorBytesInFlight >= Inflight(_pacingGain)),
            // Draining: stop as soon as the flight is down at BDP.
            < 1 => fullLength || ack.PriorBytesInFlight <= Inflight(1),
            _ => fullLength,
        };
        if (!next) return;
        _cycleIndex = (_cycleIndex + 1) % ProbeBwGains.Length;
        _cycleStamp = now;
        _pacingGain = ProbeBwGains[_cycleIndex];
        _ = rs;
    }

    /// <summary>§4.3.1.2: the pipe is full when three rounds in a row (not app-limited) grew the bandwidth by less than 25 %.</summary>
    private void CheckFullBandwidthReached(in RateSample rs)
    {
        if (_filledPipe || !_roundStart || rs.IsAppLimited) return;
        if (_maxBw.Best >= _fullBw * FullBandwidthGrowth)
        {
            _fullBw = _maxBw.Best;
            _fullBwCount = 0;
            return;
        }
        if (++_fullBwCount >= FullBandwidthRounds) _filledPipe = true;
    }

    /// <summary>§4.3.2: STARTUP → DRAIN when the pipe filled; DRAIN → PROBE_BW when the flight is down at BDP.</summary>
    private void CheckDrain(Instant now, in AckSignals ack)
    {
        if (_mode == Mode.Startup && _filledPipe)
        {
            _mode = Mode.Drain;
            _pacingGain = DrainGain;
            _cwndGain = HighGain;
        }
        if (_mode == Mode.Drain && ack.BytesInFlight <= Inflight(1)) EnterProbeBw(now);
    }

    private void EnterProbeBw(Instant now)
    {
        _mode = Mode.ProbeBw;
        _cwndGain = CwndGain;
        // Start in a random phase other than the draining one (§4.3.3), so flows sharing a bottleneck do not probe together.
        _cycleIndex = (ProbeBwGains.Length - _random.Next(ProbeBwGains.Length - 1)) % ProbeBwGains.Length; // 0, 2 … 7
        _cycleStamp = now;
        _pacingGain = ProbeBwGains[_cycleIndex];
    }

    /// <summary>
    /// §4.1.2 and §4.3.4: take a lower RTT, or any after the 10 s window expired — then PROBE_RTT: hold the flight at four
    /// segments for 200 ms and a round, so the queue empties and the propagation time shows.
    /// </summary>
    private void UpdateMinRtt(Instant now, in RateSample rs, in AckSignals ack)
    {
        bool expired = _minRtt != TimeSpan.MaxValue && now > _minRttStamp + MinRttWindow;
        if (rs.Rtt >= TimeSpan.Zero && (rs.Rtt < _minRtt || expired))
        {
            _minRtt = rs.Rtt;
            _minRttStamp = now;
        }
        if (expired && _mode != Mode.ProbeRtt)
        {
            _mode = Mode.ProbeRtt;
            _pacingGain = 1;
            _cwndGain = 1;
            SaveCwnd();
            _probeRttDoneStamp = default;
        }
        if (_mode != Mode.ProbeRtt) return;
        ack.MarkAppLimited(); // PROBE_RTT's low rates say nothing of the path
        if (_probeRttDoneStamp == default && ack.BytesInFlight <= MinPipeSegments * (long)_mss)
        {
            _probeRttDoneStamp = now + ProbeRttDuration;
            _probeRttRoundDone = false;
            _nextRoundDelivered = rs.TotalDelivered;
        }
        else if (_probeRttDoneStamp != default)
        {
            if (_roundStart) _probeRttRoundDone = true;
            if (_probeRttRoundDone && now > _probeRttDoneStamp)
            {
                _minRttStamp = now;
                _cwnd = Math.Max(_cwnd, _priorCwnd);
                if (_filledPipe) EnterProbeBw(now);
                else
                {
                    _mode = Mode.Startup;
                    _pacingGain = _cwndGain = HighGain;
                }
            }
        }
    }

    /// <summary>
    /// §4.2.1: pacing rate = gain · BtlBw (a percent under it). Before a bandwidth sample, the initial window over the
    /// smoothed RTT at the high gain; in STARTUP it never falls.
    /// </summary>
    private void SetPacingRate(double gain, TimeSpan? smoothedRtt)
    {
        double bw = _maxBw.Best;
        if (bw <= 0)
        {
            if (smoothedRtt is { Ticks: > 0 } srtt)
                _pacingRate = Math.Max(_pacingRate, HighGain * _cwnd * TimeSpan.TicksPerSecond / srtt.Ticks);
            return;
        }
        double rate = gain * bw * PacingMargin;
        if (_filledPipe || rate > _pacingRate) _pacingRate = rate;
    }

    /// <summary>
    /// §4.2.3: cwnd = cwnd_gain · BDP plus a few segments for offload and delayed ACKs, reached by growing with what is
    /// delivered; held by packet conservation in the first round of recovery, at four segments in PROBE_RTT.
    /// </summary>
    private void SetCwnd(in RateSample rs, in AckSignals ack)
    {
        long acked = rs.NewlyDelivered;
        long floor = MinPipeSegments * (long)_mss;
        if (acked > 0 && !RecoverOrRestore(acked, ack))
        {
            long target = Inflight(_cwndGain) + 3L * _mss; // the offload and ACK quanta (Linux's bbr_quantization_budget)
            if (_mode == Mode.ProbeBw && _cycleIndex == 0) target += 2L * _mss;
            if (_filledPipe) _cwnd = Math.Min(_cwnd + acked, target);
            else if (_cwnd < target || rs.TotalDelivered < CongestionControl.InitialWindow(_mss)) _cwnd += acked;
            _cwnd = Math.Max(_cwnd, floor);
        }
        if (_mode == Mode.ProbeRtt) _cwnd = Math.Min(_cwnd, floor);
    }

    /// <summary>
    /// §4.2.3.4–4.2.3.5: entering recovery, cwnd = what is in flight plus what this ACK delivered, and so for a round;
    /// leaving it (or a timeout's go-back-N), back to at least the window before. True when cwnd was set here.
    /// </summary>
    private bool RecoverOrRestore(long acked, in AckSignals ack)
    {
        LossState state = ack.State;
        if (_timedOut)
        {
            _previousState = LossState.Loss; // the timeout began it; the conservation round does not apply
            _timedOut = false;
        }
        if (state == LossState.Recovery && _previousState == LossState.Open)
        {
            _packetConservation = true;
            _nextRoundDelivered = ack.TotalDelivered; // the round starts now
            _cwnd = ack.BytesInFlight + acked;
        }
        else if (_previousState != LossState.Open && state == LossState.Open)
        {
            _cwnd = Math.Max(_cwnd, _priorCwnd);
            _packetConservation = false;
        }
        _previousState = state;
        if (!_packetConservation) return false;
        _cwnd = Math.Max(_cwnd, ack.BytesInFlight + acked);
        return true;
    }

    /// <summary>The window before recovery or PROBE_RTT (§4.2.3.4), the larger one if already inside one.</summary>
    private void SaveCwnd()
    {
        _priorCwnd = _previousState == LossState.Open && _mode != Mode.ProbeRtt ? _cwnd : Math.Max(_priorCwnd, _cwnd);
    }

    /// <summary>gain · BDP in bytes (§4.2.3.2); the initial window while the model has no RTT or bandwidth yet.</summary>
    private long Inflight(double gain)
    {
        if (_minRtt == TimeSpan.MaxValue || _maxBw.Best <= 0) return CongestionControl.InitialWindow(_mss);
        double bdp = _maxBw.Best * _minRtt.Ticks / TimeSpan.TicksPerSecond;
        return (long)(gain * bdp);
    }

    /// <summary>
    /// A windowed maximum kept as its best three samples (Kathleen Nichols' algorithm, as in Linux's lib/minmax.c): the
    /// largest, and the largest of the second and last thirds of the window, so the maximum can age out without history.
    /// </summary>
    private struct MaxFilter
    {
        private (double Value, long Time) _s0, _s1, _s2; // best, second best (later), third best (latest)

        public readonly double Best => _s0.Value;

        public void Update(double value, long time, long window)
        {
            var sample = (value, time);
            if (value >= _s0.Value || time - _s2.Time > window)
            {
                _s0 = _s1 = _s2 = sample; // a new maximum, or nothing in the window: start over
                return;
            }
            if (value >= _s1.Value) _s1 = _s2 = sample;
            else if (value >= _s2.Value) _s2 = sample;
            // Age the best out when the window passed it, promoting the later ones.
            long dt = time - _s0.Time;
            if (dt > window)
            {
                _s0 = _s1;
                _s1 = _s2;
                _s2 = sample;
                if (time - _s0.Time > window)
                {
                    _s0 = _s1;
                    _s1 = _s2;
                }
            }
            else if (_s1.Time == _s0.Time && dt > window / 4)
            {
                _s1 = _s2 = sample;
            }
            else if (_s2.Time == _s1.Time && dt > window / 2)
            {
                _s2 = sample;
            }
        }
    }
}

/// <summary>Where loss recovery stands at an ACK, as a rate-based controller needs it (Linux's TCP_CA_Open/Recovery/Loss).</summary>
internal enum LossState
{
    /// <summary>No loss being repaired.</summary>
    Open,
    /// <summary>Fast recovery.</summary>
    Recovery,
    /// <summary>The go-back-N after a retransmission timeout, until its recovery point is acknowledged.</summary>
    Loss,
}

/// <summary>What the sender tells a rate-based controller with each sample.</summary>
/// <param name="BytesInFlight">Bytes in the network after the ACK (sent, not delivered, not marked lost).</param>
/// <param name="PriorBytesInFlight">Bytes in the network before it.</param>
/// <param name="TotalDelivered">The delivered count after the ACK.</param>
/// <param name="State">The loss recovery state after the ACK.</param>
/// <param name="SmoothedRtt">SRTT, if known.</param>
/// <param name="Sampler">The sampler, for PROBE_RTT to mark its period app-limited.</param>
internal readonly record struct AckSignals(long BytesInFlight, long PriorBytesInFlight, long TotalDelivered, LossState State,
    TimeSpan? SmoothedRtt, DeliveryRateSampler? Sampler)
{
    /// <summary>Marks the samples until what is in flight is delivered as app-limited.</summary>
    public void MarkAppLimited() => Sampler?.MarkAppLimited(BytesInFlight);
}
