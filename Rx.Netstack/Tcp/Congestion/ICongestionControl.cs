namespace Rx.Netstack.Tcp.Congestion;

/// <summary>Which congestion control algorithm a connection uses.</summary>
public enum CongestionControlAlgorithm
{
    /// <summary>CUBIC (RFC 9438), the default.</summary>
    Cubic,
    /// <summary>NewReno (RFC 5681, RFC 6582).</summary>
    NewReno,
}

/// <summary>
/// A congestion controller: owns cwnd and ssthresh. The sender tells it what happened; loss detection and
/// recovery bookkeeping (which segments to resend, when recovery ends) stay in the sender.
/// </summary>
internal interface ICongestionControl
{
    /// <summary>The congestion window in bytes.</summary>
    int CongestionWindow { get; }

    /// <summary>The slow-start threshold in bytes (int.MaxValue until the first loss).</summary>
    int SlowStartThreshold { get; }

    /// <summary>New data was cumulatively acknowledged while not in loss recovery.</summary>
    /// <param name="now">The engine time.</param>
    /// <param name="bytesAcked">Bytes newly acknowledged by this ACK.</param>
    /// <param name="bytesInFlight">Bytes in flight before this ACK (cwnd only grows when it was being used).</param>
    /// <param name="smoothedRtt">The current SRTT, if known (CUBIC uses it for its TCP-friendly region).</param>
    void OnAck(Instant now, int bytesAcked, int bytesInFlight, TimeSpan? smoothedRtt);

    /// <summary>Loss detected by duplicate ACKs or SACK: enter fast recovery (RFC 5681 §3.2 step 2, RFC 9438 §4.6).</summary>
    void OnEnterRecovery(Instant now, int bytesInFlight);

    /// <summary>Fast recovery ended (the recovery point was acknowledged): deflate to ssthresh (RFC 6582 §3.2 step 3).</summary>
    void OnExitRecovery(Instant now);

    /// <summary>The retransmission timer expired (RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize/2, 2·SMSS); cwnd = 1 SMSS).</summary>
    void OnRetransmissionTimeout(Instant now, int bytesInFlight);

    /// <summary>The sender's MSS changed (path MTU); windows are expressed in bytes of this size.</summary>
    void SetMaxSegmentSize(int mss);
}

/// <summary>Creates congestion controllers.</summary>
internal static class CongestionControl
{
    /// <summary>A controller of the chosen kind with the initial window of RFC 5681 §3.1 / RFC 6928 for <paramref name="mss"/>.</summary>
    public static ICongestionControl Create(CongestionControlAlgorithm algorithm, int mss) => throw new NotImplementedException();
}
