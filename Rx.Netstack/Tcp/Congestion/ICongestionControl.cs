using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp.Congestion;

/// <summary>Which congestion control algorithm a connection uses.</summary>
public enum CongestionControlAlgorithm
{
    /// <summary>CUBIC (RFC 9438), the default.</summary>
    Cubic,
    /// <summary>NewReno (RFC 5681, RFC 6582).</summary>
    NewReno,
    /// <summary>
    /// BBR version 1 (draft-cardwell-iccrg-bbr-congestion-control-00): model-based, paced at the measured bottleneck
    /// bandwidth; random loss does not shrink its window.
    /// </summary>
    Bbr,
}

/// <summary>
/// A congestion controller: owns cwnd and ssthresh. The sender tells it what happened; loss detection and
/// recovery bookkeeping (which segments to resend, when recovery ends) stay in the sender.
/// </summary>
/// <remarks>
/// What the sender does around it (RFC 5681 §3.2, RFC 6582 §3.2):
/// <list type="number">
/// <item>Send while <c>bytesInFlight &lt; min(CongestionWindow, peer window)</c>.</item>
/// <item>Every ACK of new data, first: <see cref="OnAckArrived"/> with SND.UNA, SND.NXT and the RTT sample it gave.</item>
/// <item>An ACK of new data outside recovery: <see cref="OnAck"/> with the bytes it acknowledged and the flight before it.</item>
/// <item>Third duplicate ACK (or SACK loss detection): record the recovery point (SND.NXT), call
/// <see cref="OnEnterRecovery"/> with the flight, retransmit the first unacknowledged segment. cwnd is now
/// ssthresh + 3·SMSS (the three segments that left the network).</item>
/// <item>Each further duplicate ACK during recovery: <see cref="OnDuplicateAck"/> (+1 SMSS), then send if the window allows.</item>
/// <item>A partial ACK (below the recovery point): <see cref="OnPartialAck"/>, retransmit the next hole.</item>
/// <item>An ACK at or above the recovery point: <see cref="OnExitRecovery"/> (cwnd = ssthresh); do not also call <see cref="OnAck"/> for it.</item>
/// <item>RTO expiry: <see cref="OnRetransmissionTimeout"/> with the flight before the timeout; it also ends recovery. Calling it
/// again before any new data is acknowledged leaves ssthresh alone (RFC 5681 §3.1: the same segment timed out again).</item>
/// </list>
/// A sender that does RFC 6675 pipe-based SACK recovery instead uses <see cref="SlowStartThreshold"/> as its recovery window and
/// skips <see cref="OnDuplicateAck"/> / <see cref="OnPartialAck"/>; one that does Proportional Rate Reduction (RFC 9937, the
/// default) sizes its sends in recovery from <see cref="SlowStartThreshold"/> and the data delivered, and skips them too.
/// </remarks>
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

    /// <summary>
    /// A loss episode begins (before its reduction): remember the state an <see cref="Undo"/> restores (RFC 4015 §2, Linux's
    /// prior_cwnd and prior_ssthresh).
    /// </summary>
    void SaveForUndo();

    /// <summary>
    /// The episode's retransmissions were needless (RFC 3708, RFC 3522): leave recovery and slow start after a timeout, and
    /// bring cwnd and ssthresh back to at least what they were before it (RFC 4015 §2).
    /// </summary>
    void Undo();

    /// <summary>True between <see cref="OnEnterRecovery"/> and <see cref="OnExitRecovery"/> (a timeout also ends it).</summary>
    bool InRecovery => false;

    /// <summary>
    /// A further duplicate ACK arrived during fast recovery (after the third): inflate cwnd by one SMSS, since a segment
    /// has left the network (RFC 5681 §3.2 step 4). Not for RFC 6675 pipe-based recovery, which does not inflate.
    /// </summary>
    void OnDuplicateAck() { }

    /// <summary>
    /// A partial ACK during fast recovery (new data acknowledged, recovery point not reached): deflate cwnd by the bytes
    /// acknowledged and add back one SMSS if at least one SMSS was acknowledged (RFC 6582 §3.2 step 5).
    /// </summary>
    void OnPartialAck(int bytesAcked) { }

    /// <summary>True when the controller wants a delivery rate sample per ACK (<see cref="OnRateSample"/>): the sender then
    /// runs a <see cref="DeliveryRateSampler"/>.</summary>
    bool UsesRateSamples => false;

    /// <summary>The rate the sender paces at, in bytes per second; 0: not paced.</summary>
    double PacingRate => 0;

    /// <summary>An ACK was processed (after loss recovery saw it): its delivery rate sample and the sender's state.</summary>
    void OnRateSample(Instant now, in RateSample rs, in AckSignals ack) { }

    /// <summary>
    /// An ACK of new data arrived, before loss recovery (and so <see cref="OnAck"/>) sees it: where the round trip stands and
    /// the RTT it measured. HyStart++ (RFC 9406) delimits its rounds and takes its per-round minimum RTT from this.
    /// </summary>
    /// <param name="now">The engine time.</param>
    /// <param name="ack">The cumulative acknowledgement, the new SND.UNA.</param>
    /// <param name="sendNext">The highest sequence number sent so far (the sender's SND.MAX).</param>
    /// <param name="rttSample">The RTT sample this ACK gave (echoed timestamp or the timed segment), if any.</param>
    void OnAckArrived(Instant now, SeqNumber ack, SeqNumber sendNext, TimeSpan? rttSample) { }

    /// <summary>True while <see cref="OnAckArrived"/> uses its RTT sample (HyStart++ in the first slow start): only then
    /// does a sender without timestamps look for one in every ACK.</summary>
    bool WantsRttSamples => false;
}

/// <summary>Creates congestion controllers.</summary>
internal static class CongestionControl
{
    /// <summary>A controller of the chosen kind with the initial window of RFC 5681 §3.1 / RFC 6928 for <paramref name="mss"/>.</summary>
    /// <param name="algorithm">Which one.</param>
    /// <param name="mss">The sender's MSS.</param>
    /// <param name="seed">Seeds what an algorithm randomises (BBR's first PROBE_BW phase).</param>
    /// <param name="hyStart">HyStart++ (RFC 9406) in the first slow start of CUBIC and NewReno; BBR has its own startup.</param>
    public static ICongestionControl Create(CongestionControlAlgorithm algorithm, int mss, int seed = 0, bool hyStart = true) => algorithm switch
    {
        CongestionControlAlgorithm.Cubic => new Cubic(mss, hyStart),
        CongestionControlAlgorithm.NewReno => new NewReno(mss, hyStart),
        CongestionControlAlgorithm.Bbr => new Bbr(mss, seed),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown congestion control algorithm."),
    };

    /// <summary>
    /// The initial window of RFC 6928 §2: min(10·MSS, max(2·MSS, 14600)) bytes (RFC 5681 §3.1's 2–4 segments, raised).
    /// </summary>
    public static int InitialWindow(int mss) => Math.Min(10 * mss, Math.Max(2 * mss, 14600));

    /// <summary>
    /// True when the window was in use, so an ACK may grow it: at least half of cwnd was in flight. This is the
    /// "validated" test of RFC 7661 §4.3 (pipeACK ≥ ½·cwnd), with the flight before the ACK standing for pipeACK; it keeps
    /// an application-limited sender from inflating a window it never tested, yet tolerates a batch of ACKs processed
    /// before the sender refills the window.
    /// </summary>
    public static bool IsWindowInUse(long bytesInFlight, long congestionWindow) => 2 * bytesInFlight >= congestionWindow;

    /// <summary>
    /// The slow-start increase for an ACK of <paramref name="acked"/> (in any unit, <paramref name="smss"/> in the same):
    /// min(N, L·SMSS), a quarter of it in CSS, before ssthresh is applied.
    /// </summary>
    /// <remarks>
    /// <para>L after a timeout is 1 (RFC 3465 §2.3): an ACK then may jump over data the receiver held out of order, which did
    /// not just leave the network. Without HyStart++ L is 2 (RFC 3465 §2.2).</para>
    /// <para>With HyStart++ every acknowledged byte counts (L = ∞). RFC 9406 §4.2 allows an unpaced sender L = 8 and warns that
    /// more may add burstiness; we go further because the ACK that covers many segments here is a stretch ACK from a receiver
    /// that merged a burst (Linux GRO, our own receive coalescing, the kernel taking our TSO super-segments over TUN), up to
    /// about 45 segments each. It stands for the ⌈N/(2·SMSS)⌉ delayed ACKs it replaces (RFC 5681 §4.2), each of which slow
    /// start would have credited with 2·SMSS, so N in all: any per-ACK cap charges the receiver's batching to the sender
    /// (with 45 segments an ACK, L = 2 grows the window about 4 % a round trip and L = 8 about 18 %, instead of doubling).
    /// The burst an ACK then releases is 2N, the same two-for-one as classic slow start, and the overshoot L was meant to
    /// bound (RFC 3465 §3.2) is bounded by HyStart++'s delay exit. Linux (tcp_slow_start) and gVisor count every byte too.</para>
    /// </remarks>
    /// <param name="acked">N, the amount newly acknowledged.</param>
    /// <param name="smss">SMSS in the unit of <paramref name="acked"/>.</param>
    /// <param name="hyStart">The controller runs HyStart++.</param>
    /// <param name="afterTimeout">This slow start follows a retransmission timeout.</param>
    /// <param name="conservative">HyStart++ slowed it to Conservative Slow Start: a quarter of the increase (RFC 9406 §4.2).</param>
    public static double SlowStartIncrease(double acked, double smss, bool hyStart, bool afterTimeout, bool conservative)
    {
        double increase = afterTimeout ? Math.Min(acked, smss) : hyStart ? acked : Math.Min(acked, 2 * smss);
        return conservative ? increase / HyStartPlusPlus.CssGrowthDivisor : increase;
    }
}
