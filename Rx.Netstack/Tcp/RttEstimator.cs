namespace Rx.Netstack.Tcp;

/// <summary>
/// The retransmission timer's estimator (RFC 6298): SRTT and RTTVAR from RTT samples, RTO = SRTT + max(G, 4·RTTVAR)
/// clamped to [min, max], and exponential back-off on timeouts. Karn's rule (no samples from retransmitted segments unless
/// timestamps disambiguate) is the caller's job: only pass valid samples.
/// </summary>
internal sealed class RttEstimator
{
    /// <summary>Creates an estimator with no samples yet.</summary>
    /// <param name="initialRto">RTO before the first sample (RFC 6298 §2.1: 1 s).</param>
    /// <param name="minRto">Lower bound of the RTO (RFC 6298 §2.4).</param>
    /// <param name="maxRto">Upper bound of the RTO, also of the backed-off value (RFC 6298 §2.5: at least 60 s).</param>
    /// <param name="clockGranularity">G in RFC 6298 §2 (the stack's timer granularity).</param>
    public RttEstimator(TimeSpan initialRto, TimeSpan minRto, TimeSpan maxRto, TimeSpan clockGranularity) => throw new NotImplementedException();

    /// <summary>The current RTO including back-off.</summary>
    public TimeSpan Rto => throw new NotImplementedException();

    /// <summary>SRTT, or null before the first sample.</summary>
    public TimeSpan? SmoothedRtt => throw new NotImplementedException();

    /// <summary>RTTVAR (zero before the first sample).</summary>
    public TimeSpan RttVariance => throw new NotImplementedException();

    /// <summary>The most recent sample, or null.</summary>
    public TimeSpan? LatestRtt => throw new NotImplementedException();

    /// <summary>How many times the RTO has been doubled since the last valid sample.</summary>
    public int BackoffCount => throw new NotImplementedException();

    /// <summary>Adds an RTT measurement (RFC 6298 §2.2–2.3) and clears the back-off.</summary>
    public void AddSample(TimeSpan rtt) => throw new NotImplementedException();

    /// <summary>Doubles the RTO after a timeout (RFC 6298 §5.5), up to the maximum.</summary>
    public void BackOff() => throw new NotImplementedException();
}
