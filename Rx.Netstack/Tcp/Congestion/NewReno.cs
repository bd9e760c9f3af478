using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp.Congestion;

/// <summary>
/// NewReno congestion control: RFC 5681 slow start and congestion avoidance with appropriate byte counting (RFC 3465),
/// and the window rules of RFC 6582 fast recovery. Works in bytes.
/// </summary>
/// <remarks>
/// Choices: the first slow start runs HyStart++ (RFC 9406, <see cref="HyStartPlusPlus"/>) and grows by every byte an ACK
/// acknowledges (<see cref="CongestionControl.SlowStartIncrease"/> says why); without HyStart++ it grows by min(N, L) per ACK
/// with L = 2·SMSS (RFC 3465 §2.2, which offsets delayed ACKs, RFC 3465 §3.2); the slow start that follows a timeout uses
/// L = 1·SMSS either way (RFC 3465 §2.3). Congestion avoidance counts bytes and adds one SMSS per cwnd of acknowledged data
/// (RFC 5681 §3.1, RFC 3465 §2.1), i.e. exactly one segment per round trip.
/// </remarks>
internal sealed class NewReno : ICongestionControl
{
    private const long MaxWindow = int.MaxValue;

    private int _mss;
    private long _cwnd;
    private long _ssthresh = int.MaxValue;
    private long _bytesAckedInAvoidance;
    private bool _slowStartAfterTimeout;
    private bool _timedOutWithoutProgress;
    private bool _pristine = true;
    private long _undoCwnd;             // cwnd before the last loss episode (SaveForUndo)
    private long _undoSsthresh;         // ssthresh before it
    private readonly bool _hyStartEnabled; // HyStart++ (RFC 9406) ends the first slow start (TcpSettings.EnableHyStart)
    private HyStartPlusPlus? _hyStart;      // its rounds, made at the first ACK of that slow start and dropped when it ends, so
                                            // a connection that never sent or finished its slow start holds none

    /// <summary>Creates a controller with the initial window of RFC 6928 for <paramref name="mss"/>.</summary>
    /// <param name="mss">The sender's MSS.</param>
    /// <param name="hyStart">Run HyStart++ (RFC 9406) in the first slow start.</param>
    public NewReno(int mss, bool hyStart = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mss);
        _mss = mss;
        _cwnd = CongestionControl.InitialWindow(mss);
        _hyStartEnabled = hyStart;
    }

    /// <summary>True while HyStart++ has slowed the first slow start to Conservative Slow Start (RFC 9406 §4.2).</summary>
    internal bool InConservativeSlowStart => _hyStart?.InConservativeSlowStart ?? false;

    // HyStart++ runs in the first slow start only (RFC 9406 §4.2): no ssthresh yet, not after a timeout, not in recovery.
    private bool InHyStart => _hyStartEnabled && _ssthresh >= MaxWindow && _cwnd < _ssthresh && !_slowStartAfterTimeout && !InRecovery;

    /// <inheritdoc />
    public bool WantsRttSamples => InHyStart;

    /// <inheritdoc />
    public void OnAckArrived(Instant now, SeqNumber ack, SeqNumber sendNext, TimeSpan? rttSample)
    {
        // RFC 9406 §4.2: after CSS_ROUNDS rounds of CSS, congestion avoidance from the window reached.
        if (HyStartPlusPlus.Advance(ref _hyStart, InHyStart, ack, sendNext, rttSample)) _ssthresh = _cwnd;
    }

    /// <inheritdoc />
    public int CongestionWindow => (int)Math.Min(_cwnd, MaxWindow);

    /// <inheritdoc />
    public int SlowStartThreshold => (int)Math.Min(_ssthresh, MaxWindow);

    /// <inheritdoc />
    public bool InRecovery { get; private set; }

    /// <inheritdoc />
    public void OnAck(Instant now, int bytesAcked, int bytesInFlight, TimeSpan? smoothedRtt)
    {
        if (bytesAcked <= 0 || InRecovery) return;
        _pristine = false;
        _timedOutWithoutProgress = false;
        if (!CongestionControl.IsWindowInUse(bytesInFlight, _cwnd)) return;

        long acked = bytesAcked;
        if (_cwnd < _ssthresh)
        {
            // RFC 5681 §3.1 / RFC 3465 §2.2 / RFC 9406 §4.2: cwnd += min(N, L), a quarter of it in CSS, never past ssthresh.
            double step = CongestionControl.SlowStartIncrease(acked, _mss, _hyStartEnabled, _slowStartAfterTimeout, InConservativeSlowStart);
            long increase = Math.Min((long)step, _ssthresh - _cwnd);
            _cwnd = Math.Min(_cwnd + increase, MaxWindow);
            if (_cwnd < _ssthresh) return;
            // Reached ssthresh: what this ACK acknowledged beyond the slow-start step counts towards avoidance.
            acked -= increase;
            if (acked <= 0) return;
        }

        // RFC 5681 §3.1 (byte counting, RFC 3465 §2.1): one SMSS per cwnd of acknowledged bytes.
        _bytesAckedInAvoidance += acked;
        if (_bytesAckedInAvoidance >= _cwnd)
        {
            _bytesAckedInAvoidance -= _cwnd;
            _cwnd = Math.Min(_cwnd + _mss, MaxWindow);
        }
    }

    /// <inheritdoc />
    public void OnEnterRecovery(Instant now, int bytesInFlight)
    {
        _pristine = false;
        // RFC 5681 §3.2 steps 2–3 (eq. 4): halve the flight, then inflate by the three segments the dup ACKs reported.
        _ssthresh = HalfFlight(bytesInFlight);
        _hyStart = null; // RFC 9406 §4.2: loss ends HyStart++
        _cwnd = _ssthresh + 3L * _mss;
        _bytesAckedInAvoidance = 0;
        _slowStartAfterTimeout = false;
        InRecovery = true;
    }

    /// <inheritdoc />
    public void OnDuplicateAck()
    {
        // RFC 5681 §3.2 step 4.
        if (InRecovery) _cwnd = Math.Min(_cwnd + _mss, MaxWindow);
    }

    /// <inheritdoc />
    public void OnPartialAck(int bytesAcked)
    {
        if (!InRecovery || bytesAcked <= 0) return;
        // RFC 6582 §3.2 step 5: deflate by what was acknowledged, give one SMSS back if at least one SMSS was.
        long deflated = _cwnd - bytesAcked + (bytesAcked >= _mss ? _mss : 0);
        _cwnd = Math.Max(deflated, _mss);
    }

    /// <inheritdoc />
    public void OnExitRecovery(Instant now)
    {
        if (!InRecovery) return;
        // RFC 6582 §3.2 step 3, option (2): deflate to ssthresh.
        _cwnd = _ssthresh;
        _bytesAckedInAvoidance = 0;
        InRecovery = false;
    }

    /// <inheritdoc />
    public void OnRetransmissionTimeout(Instant now, int bytesInFlight)
    {
        _pristine = false;
        // RFC 5681 §3.1: eq. 4 on the first timeout of a segment; held constant when the same segment times out again.
        if (!_timedOutWithoutProgress) _ssthresh = HalfFlight(bytesInFlight);
        _hyStart = null;
        _cwnd = _mss; // the loss window
        _bytesAckedInAvoidance = 0;
        _slowStartAfterTimeout = true;
        _timedOutWithoutProgress = true;
        InRecovery = false;
    }

    /// <inheritdoc />
    public void SaveForUndo()
    {
        _undoCwnd = _cwnd;
        _undoSsthresh = _ssthresh;
    }

    /// <inheritdoc />
    public void Undo()
    {
        _cwnd = Math.Max(_cwnd, _undoCwnd);
        _ssthresh = Math.Max(_ssthresh, _undoSsthresh);
        _bytesAckedInAvoidance = 0;
        _slowStartAfterTimeout = false;
        _timedOutWithoutProgress = false;
        InRecovery = false;
    }

    /// <inheritdoc />
    public void SetMaxSegmentSize(int mss)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mss);
        _mss = mss;
        if (_pristine)
        {
            // Nothing sent yet under the old MSS (e.g. the handshake just settled it): start from this MSS's initial window.
            _cwnd = CongestionControl.InitialWindow(mss);
            return;
        }
        _cwnd = Math.Max(_cwnd, mss);
        if (_ssthresh < int.MaxValue) _ssthresh = Math.Max(_ssthresh, 2L * mss);
    }

    private long HalfFlight(int bytesInFlight) => Math.Max(Math.Max(bytesInFlight, 0) / 2, 2L * _mss);
}
