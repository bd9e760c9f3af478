using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp.Congestion;

/// <summary>
/// CUBIC congestion control (RFC 9438). Computes in doubles, in segments of the current MSS and seconds of engine time
/// (taken from the <see cref="Instant"/> arguments, never from a clock), and exposes bytes.
/// </summary>
/// <remarks>
/// <para>Below ssthresh it does the same slow start as <see cref="NewReno"/>: HyStart++ in the first one (RFC 9438 §4.10,
/// RFC 9406, <see cref="HyStartPlusPlus"/>), growing by every acknowledged byte (<see cref="CongestionControl.SlowStartIncrease"/>);
/// when HyStart++ ends slow start, congestion avoidance starts with W_max = cwnd and K = 0, as for any exit without a
/// congestion event (§4.10).</para>
/// <para>In congestion avoidance each ACK of <c>s</c> segments grows cwnd by <c>s·(target − cwnd)/cwnd</c> (§4.4, §4.5; the RFC
/// states it per ACK of one segment, and scaling by the segments acknowledged keeps delayed or stretch ACKs from slowing growth,
/// as W_est already does in §4.3), or sets it to W_est in the Reno-friendly region (§4.3).</para>
/// <para>Fast recovery uses the same window arithmetic as <see cref="NewReno"/> (ssthresh + 3·SMSS, inflation, partial-ACK
/// deflation), with ssthresh = β_cubic·FlightSize (§4.6) instead of half.</para>
/// <para>While the window is not in use (application limited, RFC 9438 §5.8) cwnd does not grow and the epoch is moved forward by
/// the time spent, so the cubic curve does not leap ahead when the application catches up.</para>
/// </remarks>
internal sealed class Cubic : ICongestionControl
{
    /// <summary>C, in segments per second cubed (RFC 9438 §4.1.1).</summary>
    public const double C = 0.4;

    /// <summary>β_cubic, the multiplicative decrease factor (RFC 9438 §4.1.1).</summary>
    public const double Beta = 0.7;

    /// <summary>α_cubic = 3(1 − β)/(1 + β), the Reno-friendly additive increase until W_est reaches cwnd_prior (RFC 9438 §4.3).</summary>
    public const double RenoFriendlyAlpha = 3 * (1 - Beta) / (1 + Beta);

    private const double TicksPerSecond = TimeSpan.TicksPerSecond;

    private int _mss;
    private double _cwnd;
    private double _ssthresh = double.PositiveInfinity;
    private bool _slowStartAfterTimeout;
    private bool _timedOutWithoutProgress;
    private bool _pristine = true;
    private readonly bool _hyStartEnabled; // HyStart++ (RFC 9406) ends the first slow start (TcpSettings.EnableHyStart)
    private HyStartPlusPlus? _hyStart;      // its rounds, made at the first ACK of that slow start and dropped when it ends, so
                                            // a connection that never sent or finished its slow start holds none

    // The congestion avoidance epoch (RFC 9438 §4.1.2), fixed by the first ACK after the window left slow start or recovery.
    private bool _epochStarted;
    private Instant _epochStart;
    private double _cwndEpoch;
    private double _k;
    private double _wEst;
    private Instant _lastAck;

    // Set by congestion events (§4.6–§4.8).
    private bool _hadCongestionEvent;
    private bool _lastEventWasTimeout;
    private double _wMax;
    private double _cwndPrior;

    // The state before the last loss episode (SaveForUndo), which Undo restores.
    private double _undoCwnd;
    private double _undoSsthresh;
    private double _undoWMax;
    private double _undoCwndPrior;
    private bool _undoHadCongestionEvent;
    private bool _undoLastEventWasTimeout;

    /// <summary>Creates a controller with the initial window of RFC 6928 for <paramref name="mss"/>.</summary>
    /// <param name="mss">The sender's MSS.</param>
    /// <param name="hyStart">Run HyStart++ (RFC 9406) in the first slow start.</param>
    public Cubic(int mss, bool hyStart = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mss);
        _mss = mss;
        _cwnd = (double)CongestionControl.InitialWindow(mss) / mss;
        _hyStartEnabled = hyStart;
    }

    /// <summary>True while HyStart++ has slowed the first slow start to Conservative Slow Start (RFC 9406 §4.2).</summary>
    internal bool InConservativeSlowStart => _hyStart?.InConservativeSlowStart ?? false;

    // HyStart++ runs in the first slow start only (RFC 9406 §4.2): no ssthresh yet, not after a timeout, not in recovery.
    private bool InHyStart => _hyStartEnabled && double.IsPositiveInfinity(_ssthresh) && !_slowStartAfterTimeout && !InRecovery;

    /// <inheritdoc />
    public bool WantsRttSamples => InHyStart;

    /// <inheritdoc />
    public void OnAckArrived(Instant now, SeqNumber ack, SeqNumber sendNext, TimeSpan? rttSample)
    {
        // RFC 9406 §4.2: after CSS_ROUNDS rounds of CSS, congestion avoidance from the window reached.
        if (HyStartPlusPlus.Advance(ref _hyStart, InHyStart, ack, sendNext, rttSample)) _ssthresh = _cwnd;
    }

    /// <inheritdoc />
    public int CongestionWindow => ToBytes(_cwnd);

    /// <inheritdoc />
    public int SlowStartThreshold => ToBytes(_ssthresh);

    /// <inheritdoc />
    public bool InRecovery { get; private set; }

    /// <summary>cwnd in segments, unrounded.</summary>
    internal double WindowSegments => _cwnd;

    /// <summary>W_max in segments: the window before the last reduction, lowered by fast convergence (§4.7).</summary>
    internal double WMaxSegments => _wMax;

    /// <summary>K in seconds: when the cubic curve reaches W_max, from the start of the epoch (§4.2).</summary>
    internal double KSeconds => _k;

    /// <summary>The start of the current congestion avoidance epoch, if one is running.</summary>
    internal Instant? EpochStart => _epochStarted ? _epochStart : null;

    /// <summary>W_est in segments (§4.3).</summary>
    internal double RenoEstimateSegments => _wEst;

    /// <summary>W_cubic(t) = C·(t − K)³ + W_max (RFC 9438 §4.2, Figure 1), in segments, t in seconds.</summary>
    public static double WCubic(double t, double k, double wMax)
    {
        double d = t - k;
        return C * d * d * d + wMax;
    }

    /// <summary>K = ∛((W_max − cwnd_epoch)/C) (RFC 9438 §4.2, Figure 2), zero when cwnd_epoch is not below W_max.</summary>
    public static double ComputeK(double wMax, double cwndEpoch) => wMax > cwndEpoch ? Math.Cbrt((wMax - cwndEpoch) / C) : 0;

    /// <inheritdoc />
    public void OnAck(Instant now, int bytesAcked, int bytesInFlight, TimeSpan? smoothedRtt)
    {
        if (bytesAcked <= 0 || InRecovery) return;
        _pristine = false;
        _timedOutWithoutProgress = false;
        Instant previousAck = _lastAck;
        _lastAck = now;

        if (!CongestionControl.IsWindowInUse(bytesInFlight, CongestionWindow))
        {
            // RFC 9438 §5.8: no growth while application limited; keep the time out of t.
            if (_epochStarted && now > previousAck) _epochStart += now - previousAck;
            return;
        }

        double segmentsAcked = (double)bytesAcked / _mss;
        if (_cwnd < _ssthresh)
        {
            // Slow start (RFC 9438 §4.10, RFC 5681 §3.1, RFC 3465 §2.2–2.3, RFC 9406 §4.2), as NewReno.
            double step = CongestionControl.SlowStartIncrease(segmentsAcked, 1, _hyStartEnabled, _slowStartAfterTimeout, InConservativeSlowStart);
            double increase = Math.Min(step, _ssthresh - _cwnd);
            _cwnd = Math.Min(_cwnd + increase, MaxSegments);
            if (_cwnd < _ssthresh) return;
            segmentsAcked -= increase;
            if (segmentsAcked <= 0) return;
        }

        if (!_epochStarted) StartEpoch(now);

        double t = (now - _epochStart).Ticks / TicksPerSecond;
        double rtt = smoothedRtt is { } srtt ? srtt.Ticks / TicksPerSecond : 0;

        // RFC 9438 §4.3: the Reno-friendly estimate grows by α per cwnd of segments; α becomes 1 once W_est passes cwnd_prior.
        double alpha = _wEst >= _cwndPrior ? 1 : RenoFriendlyAlpha;
        _wEst += alpha * segmentsAcked / _cwnd;

        double wCubic = WCubic(t, _k, _wMax);
        if (wCubic < _wEst)
        {
            // Reno-friendly region (§4.3).
            _cwnd = Math.Max(_cwnd, _wEst);
        }
        else
        {
            // Concave (cwnd < W_max, §4.4) or convex (§4.5) region: chase the window one RTT ahead, clamped to [cwnd, 1.5·cwnd] (§4.2).
            double target = Math.Clamp(WCubic(t + rtt, _k, _wMax), _cwnd, 1.5 * _cwnd);
            // A stretch ACK covering more than cwnd segments must not carry the window past the target.
            _cwnd = Math.Min(_cwnd + segmentsAcked * (target - _cwnd) / _cwnd, target);
        }
        _cwnd = Math.Min(_cwnd, MaxSegments);
    }

    /// <inheritdoc />
    public void OnEnterRecovery(Instant now, int bytesInFlight)
    {
        _pristine = false;
        Reduce(bytesInFlight);
        _lastEventWasTimeout = false;
        // RFC 5681 §3.2 step 3: the three duplicate ACKs stand for three segments that left the network.
        _cwnd = _ssthresh + 3;
        InRecovery = true;
    }

    /// <inheritdoc />
    public void OnDuplicateAck()
    {
        // RFC 5681 §3.2 step 4.
        if (InRecovery) _cwnd = Math.Min(_cwnd + 1, MaxSegments);
    }

    /// <inheritdoc />
    public void OnPartialAck(int bytesAcked)
    {
        if (!InRecovery || bytesAcked <= 0) return;
        // RFC 6582 §3.2 step 5.
        double acked = (double)bytesAcked / _mss;
        _cwnd = Math.Max(_cwnd - acked + (acked >= 1 ? 1 : 0), 1);
    }

    /// <inheritdoc />
    public void OnExitRecovery(Instant now)
    {
        if (!InRecovery) return;
        // RFC 6582 §3.2 step 3 option (2); RFC 9438 §4.6: cwnd = max(ssthresh, 2), already ensured by Reduce.
        _cwnd = _ssthresh;
        InRecovery = false;
    }

    /// <inheritdoc />
    public void OnRetransmissionTimeout(Instant now, int bytesInFlight)
    {
        _pristine = false;
        // RFC 9438 §4.8: ssthresh from β_cubic as in §4.6, cwnd to the loss window as RFC 5681 does. A repeated timeout of
        // the same segment keeps ssthresh (RFC 5681 §3.1).
        if (!_timedOutWithoutProgress) Reduce(bytesInFlight);
        _epochStarted = false;
        _lastEventWasTimeout = true;
        _cwnd = 1;
        _slowStartAfterTimeout = true;
        _timedOutWithoutProgress = true;
        InRecovery = false;
    }

    /// <inheritdoc />
    public void SaveForUndo()
    {
        _undoCwnd = _cwnd;
        _undoSsthresh = _ssthresh;
        _undoWMax = _wMax;
        _undoCwndPrior = _cwndPrior;
        _undoHadCongestionEvent = _hadCongestionEvent;
        _undoLastEventWasTimeout = _lastEventWasTimeout;
    }

    /// <inheritdoc />
    public void Undo()
    {
        // RFC 9438 §4.9: a spurious congestion event restores the state from before it (W_max, cwnd_prior, ssthresh).
        _cwnd = Math.Max(_cwnd, _undoCwnd);
        _ssthresh = Math.Max(_ssthresh, _undoSsthresh);
        _wMax = _undoWMax;
        _cwndPrior = _undoCwndPrior;
        _hadCongestionEvent = _undoHadCongestionEvent;
        _lastEventWasTimeout = _undoLastEventWasTimeout;
        _epochStarted = false;
        _slowStartAfterTimeout = false;
        _timedOutWithoutProgress = false;
        InRecovery = false;
    }

    /// <inheritdoc />
    public void SetMaxSegmentSize(int mss)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mss);
        if (_pristine)
        {
            _mss = mss;
            _cwnd = (double)CongestionControl.InitialWindow(mss) / mss;
            return;
        }
        // Keep every window's size in bytes: the path holds as many bytes as before, in segments of the new size.
        double scale = (double)_mss / mss;
        _mss = mss;
        _cwnd = Math.Max(_cwnd * scale, 1);
        _ssthresh = double.IsPositiveInfinity(_ssthresh) ? _ssthresh : Math.Max(_ssthresh * scale, 2);
        _wMax *= scale;
        _cwndPrior *= scale;
        _cwndEpoch *= scale;
        _wEst *= scale;
        if (_epochStarted) _k = ComputeK(_wMax, _cwndEpoch);
    }

    // RFC 9438 §4.6 multiplicative decrease, with §4.7 fast convergence.
    private void Reduce(int bytesInFlight)
    {
        double flight = Math.Max(bytesInFlight, 0) / (double)_mss;
        // §4.7: a window below the previous W_max means a new flow is taking bandwidth: release some more.
        _wMax = _hadCongestionEvent && _cwnd < _wMax ? _cwnd * (1 + Beta) / 2 : _cwnd;
        _cwndPrior = _cwnd;
        _ssthresh = Math.Max(flight * Beta, 2); // ssthresh ≥ 2 segments
        _hadCongestionEvent = true;
        _epochStarted = false;
        _slowStartAfterTimeout = false;
        _hyStart = null; // RFC 9406 §4.2: loss ends HyStart++
    }

    // RFC 9438 §4.2: t_epoch, cwnd_epoch and K are fixed when congestion avoidance begins.
    private void StartEpoch(Instant now)
    {
        _epochStarted = true;
        _epochStart = now;
        _cwndEpoch = _cwnd;
        _wEst = _cwnd; // §4.3
        if (!_hadCongestionEvent || _lastEventWasTimeout)
        {
            // §4.8 (after a timeout) and §4.10 (no congestion event yet): W_max is the window at the start of the stage, K = 0.
            _wMax = _cwnd;
            if (!_hadCongestionEvent) _cwndPrior = _cwnd;
            _k = 0;
        }
        else
        {
            _k = ComputeK(_wMax, _cwndEpoch);
        }
    }

    private double MaxSegments => (double)int.MaxValue / _mss;

    private int ToBytes(double segments)
    {
        double bytes = segments * _mss;
        return bytes >= int.MaxValue ? int.MaxValue : (int)bytes;
    }
}
