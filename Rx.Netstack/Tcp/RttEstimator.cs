namespace Rx.Netstack.Tcp;

/// <summary>
/// The retransmission timer's estimator (RFC 6298): SRTT and RTTVAR from RTT samples, RTO = SRTT + max(G, 4·RTTVAR)
/// clamped to [min, max], and exponential back-off on timeouts. Karn's rule (no samples from retransmitted segments unless
/// timestamps disambiguate) is the caller's job: only pass valid samples.
/// </summary>
/// <remarks>
/// Arithmetic is in 100 ns ticks with integer division (α = 1/8, β = 1/4 as exact shifts of the numerators), so results are
/// exact to one tick and deterministic.
/// </remarks>
internal sealed class RttEstimator
{
    // RFC 6298 §2: K = 4; α = 1/8 and β = 1/4 appear below as the divisors 8 and 4.
    private const int K = 4;

    private readonly long _initialRto;
    private readonly long _minRto;
    private readonly long _maxRto;
    private readonly long _granularity;

    private long _srtt;
    private long _rttvar;
    private long _latest;
    private bool _hasSample;
    private long _baseRto;

    /// <summary>Creates an estimator with no samples yet.</summary>
    /// <param name="initialRto">RTO before the first sample (RFC 6298 §2.1: 1 s).</param>
    /// <param name="minRto">Lower bound of the RTO (RFC 6298 §2.4).</param>
    /// <param name="maxRto">Upper bound of the RTO, also of the backed-off value (RFC 6298 §2.5: at least 60 s).</param>
    /// <param name="clockGranularity">G in RFC 6298 §2 (the stack's timer granularity).</param>
    public RttEstimator(TimeSpan initialRto, TimeSpan minRto, TimeSpan maxRto, TimeSpan clockGranularity)
    {
        if (minRto <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(minRto), "The minimum RTO must be positive.");
        if (maxRto < minRto) throw new ArgumentOutOfRangeException(nameof(maxRto), "The maximum RTO must not be below the minimum.");
        if (initialRto <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(initialRto), "The initial RTO must be positive.");
        ArgumentOutOfRangeException.ThrowIfLessThan(clockGranularity, TimeSpan.Zero);
        _minRto = minRto.Ticks;
        _maxRto = maxRto.Ticks;
        _initialRto = Math.Clamp(initialRto.Ticks, _minRto, _maxRto);
        _granularity = clockGranularity.Ticks;
        _baseRto = _initialRto;
    }

    /// <summary>The current RTO including back-off.</summary>
    public TimeSpan Rto
    {
        get
        {
            // RFC 6298 §5.5 doubling, saturating at the maximum (§2.5) without overflowing.
            long rto = _baseRto;
            for (int i = 0; i < BackoffCount && rto < _maxRto; i++)
                rto = rto > _maxRto / 2 ? _maxRto : rto * 2;
            return new TimeSpan(Math.Min(rto, _maxRto));
        }
    }

    /// <summary>The RTO without back-off (what a new sample would be compared against).</summary>
    public TimeSpan BaseRto => new(_baseRto);

    /// <summary>SRTT, or null before the first sample.</summary>
    public TimeSpan? SmoothedRtt => _hasSample ? new TimeSpan(_srtt) : null;

    /// <summary>RTTVAR (zero before the first sample).</summary>
    public TimeSpan RttVariance => new(_rttvar);

    /// <summary>The most recent sample, or null.</summary>
    public TimeSpan? LatestRtt => _hasSample ? new TimeSpan(_latest) : null;

    /// <summary>
    /// How many timeouts (<see cref="BackOff"/> calls) since the last valid sample. It keeps counting once the RTO has reached
    /// its maximum, so the sender can use it as its retry count (RFC 9293 §3.8.3 R2).
    /// </summary>
    public int BackoffCount { get; private set; }

    /// <summary>Adds an RTT measurement (RFC 6298 §2.2–2.3) and clears the back-off.</summary>
    public void AddSample(TimeSpan rtt)
    {
        long r = Math.Max(rtt.Ticks, 0);
        if (!_hasSample)
        {
            // RFC 6298 §2.2: first measurement.
            _srtt = r;
            _rttvar = r / 2;
            _hasSample = true;
        }
        else
        {
            // RFC 6298 §2.3: RTTVAR first (it uses the old SRTT), then SRTT.
            _rttvar = (3 * _rttvar + Math.Abs(_srtt - r)) / 4;
            _srtt = (7 * _srtt + r) / 8;
        }
        _latest = r;
        // RFC 6298 §2.2–2.5: RTO = SRTT + max(G, K·RTTVAR), rounded up to the minimum, capped at the maximum.
        long rto = _srtt + Math.Max(_granularity, K * _rttvar);
        _baseRto = Math.Clamp(rto, _minRto, _maxRto);
        // RFC 6298 §5.7 note / Karn: a valid sample ends the back-off.
        BackoffCount = 0;
    }

    /// <summary>Doubles the RTO after a timeout (RFC 6298 §5.5), up to the maximum.</summary>
    public void BackOff()
    {
        if (BackoffCount < int.MaxValue) BackoffCount++;
    }

    /// <summary>
    /// Clears the back-off without a sample. RFC 6298 §5.7: when the SYN (or SYN-ACK) timed out and no RTT was measured, the
    /// RTO used once data transfer starts is 3 s, which the caller sets up by calling this and <see cref="ResetTo"/>.
    /// </summary>
    public void ClearBackoff() => BackoffCount = 0;

    /// <summary>Sets the base RTO when there is still no sample (RFC 6298 §5.7: 3 s after a handshake timeout); ignored once sampled.</summary>
    public void ResetTo(TimeSpan rto)
    {
        if (!_hasSample) _baseRto = Math.Clamp(rto.Ticks, _minRto, _maxRto);
    }
}
