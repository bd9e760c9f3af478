using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Loss detection and recovery for one connection, behind an interface as congestion control is (gVisor's
/// <c>lossRecovery</c>): it decides from the ACKs which data is lost, what to resend next and when to probe, and it alone
/// tells the congestion controller of ACKs, losses and timeouts. <see cref="DupAckRecovery"/> detects loss by duplicate
/// ACKs and the SACK scoreboard (used without SACK); <see cref="RackRecovery"/> detects it by time (RFC 8985, RACK-TLP),
/// used when SACK is agreed.
/// </summary>
/// <remarks>
/// It reads the sender through a <see cref="SenderView"/> copied at each call and never changes the sender: what the
/// sender must do about an event comes back as <see cref="LossRecoveryActions"/>. Deadlines are the control block's
/// (<see cref="TcpTimers"/>); recovery only says when its probe is due.
/// </remarks>
internal interface ILossRecovery
{
    /// <summary>True between entering fast recovery and the ACK of its recovery point (a timeout also ends it).</summary>
    bool InRecovery { get; }

    /// <summary>True when a tail loss probe may go out now: not in recovery and no probe outstanding (RFC 8985 §7.3).</summary>
    bool MayProbe { get; }

    /// <summary>
    /// One SACK block of an ACK (RFC 2018 §4, RFC 6675 §4), clipped to [<paramref name="floor"/>, <paramref name="highData"/>).
    /// True when it told something new: with SACK, that is what makes an ACK a duplicate (RFC 6675 §2).
    /// </summary>
    bool OnSackBlock(SackBlock block, SeqNumber floor, SeqNumber highData);

    /// <summary>
    /// The first SACK block of an ACK reports data the peer received twice (D-SACK, RFC 2883 §4): below the cumulative ACK,
    /// or inside the second block. It tells of a needless retransmission (RFC 3708) or of reordering (RFC 8985 §6.2).
    /// </summary>
    LossRecoveryActions OnDuplicateSack(SackBlock block, in SenderView snd);

    /// <summary>
    /// A duplicate ACK (RFC 5681 §2; RFC 6675 §2 with SACK), or with RACK any ACK that brought new SACK information.
    /// </summary>
    LossRecoveryActions OnDuplicateAck(Instant now, in SenderView snd, TimeSpan? smoothedRtt);

    /// <summary>
    /// An ACK of new data: <paramref name="snd"/> already shows SND.UNA at it. <paramref name="acked"/> bytes were newly
    /// acknowledged, <paramref name="flightBefore"/> were in flight before the ACK; <paramref name="tsEcho"/> is its TSecr
    /// when timestamps are in use (Eifel detection, RFC 3522).
    /// </summary>
    LossRecoveryActions OnNewAck(Instant now, in SenderView snd, int acked, int flightBefore, TimeSpan? smoothedRtt, uint? tsEcho);

    /// <summary>
    /// The round-trip time of the newest original transmission that the cumulative ACK to <paramref name="ack"/> delivers
    /// (sent once, not SACKed before), measured from its send time; null when there is none or no per-segment send times
    /// are kept. Called before <see cref="OnNewAck"/>. Without timestamps it gives HyStart++ a sample from each ACK
    /// (RFC 9406 §4.2), as the one timed segment a round trip (RFC 6298 §3) cannot.
    /// </summary>
    TimeSpan? DeliveryRtt(Instant now, SeqNumber ack) => null;

    /// <summary>The peer echoed congestion (ECE, RFC 3168 §6.1.2): reduce the window as for a loss, at most once a window
    /// (the block decides that); the reduction is never undone.</summary>
    void OnCongestionEcho(Instant now, in SenderView snd);

    /// <summary>When RACK's reordering timer fires (RFC 8985 §6.2 step 5), or <see cref="Instant.Never"/>.</summary>
    Instant ReorderTimeout { get; }

    /// <summary>The reordering timer fired: segments whose reordering window passed are lost.</summary>
    LossRecoveryActions OnReorderTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt);

    /// <summary>The retransmission timer expired with data in flight (RFC 6298 §5.4–5.6). True: everything not acknowledged is
    /// resent from SND.UNA, go-back-N. False: the segment at SND.UNA is resent at once and the rest as the loss marks and cwnd
    /// allow (<see cref="Repairing"/>, RFC 8985 §6.3).</summary>
    bool OnRetransmissionTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt);

    /// <summary>True while the sender repairs marked losses (<see cref="TryNextRepair"/>) before new data: in fast recovery,
    /// and for RACK also after a timeout until its recovery point is acknowledged.</summary>
    bool Repairing => InRecovery;

    /// <summary>Nothing sent is outstanding any more: the send buffer was dropped (closed, or TIME-WAIT).</summary>
    void OnSendBufferDiscarded();

    /// <summary>The bytes in the network: sent, not acknowledged or SACKed, not marked lost (a rate-based controller's
    /// inflight). Without a scoreboard of losses, the flight.</summary>
    long BytesInNetwork(in SenderView snd) => snd.InFlight;

    /// <summary>How many bytes congestion control lets the sender put in flight now (negative: none).</summary>
    long CongestionRoom(in SenderView snd);

    /// <summary>How many bytes from <paramref name="seq"/>, at most <paramref name="maxLength"/>, to resend: up to the first
    /// byte the peer reported holding (SACKed).</summary>
    int RetransmitLength(SeqNumber seq, int maxLength);

    /// <summary>In SACK recovery, the next hole to repair (RFC 6675 §4 NextSeg rule 1); false when there is none.</summary>
    bool TryNextRepair(in SenderView snd, int maxLength, out SeqNumber start, out int length);

    /// <summary>New data [<paramref name="start"/>, <paramref name="end"/>) went out for the first time at <paramref name="now"/>.</summary>
    void OnSent(SeqNumber start, SeqNumber end, Instant now);

    /// <summary>Data [<paramref name="start"/>, <paramref name="end"/>) was sent again at <paramref name="now"/>;
    /// <paramref name="tsVal"/> is the TSval it carried, when timestamps are in use.</summary>
    void OnRetransmitted(SeqNumber start, SeqNumber end, Instant now, uint? tsVal);

    /// <summary>When a tail loss probe should go out if no ACK comes first (RFC 8985 §7.2), or <see cref="Instant.Never"/>;
    /// never later than <paramref name="retransmitAt"/>.</summary>
    Instant ProbeTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt, Instant retransmitAt);

    /// <summary>A tail loss probe went out; its episode lasts until everything below <paramref name="end"/> is acknowledged.
    /// <paramref name="retransmission"/>: it resent the last segment rather than new data (RFC 8985 §7.4).</summary>
    void OnProbeSent(SeqNumber end, bool retransmission);

    /// <summary>
    /// A path MTU probe is in flight at [<paramref name="start"/>, <paramref name="end"/>) (empty: none). If loss detection
    /// finds it lost, that is no congestion signal (RFC 4821 §7.6.2): it reports <see cref="LossRecoveryActions.PathProbeLost"/>
    /// once instead of starting recovery for it, and never marks the range lost while it is set (the sender resends it at
    /// once; a lost resend is left to the retransmission timer).
    /// </summary>
    void SetPathProbe(SeqNumber start, SeqNumber end);

    /// <summary>Debug builds: the recovery's own state is consistent with the sender's (SACKed data within [SND.UNA, SND.MAX]).</summary>
    void AssertValid(in SenderView snd);
}

/// <summary>Creates loss recovery.</summary>
internal static class LossRecovery
{
    /// <summary>The recovery a connection with <paramref name="settings"/> and ISS <paramref name="iss"/> uses, driving
    /// <paramref name="cc"/>: RACK-TLP when SACK is agreed (<paramref name="sack"/>) and RACK is on, duplicate ACKs otherwise
    /// (RFC 8985 §1: RACK needs SACK to see which segments arrived).</summary>
    public static ILossRecovery Create(ICongestionControl cc, TcpSettings settings, SeqNumber iss, bool sack) =>
        sack && settings.EnableRack
            ? new RackRecovery(cc, settings.EnableTailLossProbe, iss, settings.EnableProportionalRateReduction, settings.SendBufferLimit)
            : new DupAckRecovery(cc, settings.EnableTailLossProbe, iss, settings.EnableProportionalRateReduction, settings.SendBufferLimit);
}

/// <summary>What loss recovery sees of the sender at a call: a copy, so it can never change the sender.</summary>
/// <param name="Una">SND.UNA.</param>
/// <param name="Nxt">SND.NXT.</param>
/// <param name="Max">SND.MAX.</param>
/// <param name="Smss">The sender's maximum segment size for congestion control.</param>
/// <param name="Sack">SACK was agreed: the peer reports what it holds.</param>
internal readonly record struct SenderView(SeqNumber Una, SeqNumber Nxt, SeqNumber Max, int Smss, bool Sack)
{
    /// <summary>Bytes in flight, SND.MAX − SND.UNA (FlightSize, RFC 5681 §2).</summary>
    public int InFlight => Max - Una;
}

/// <summary>What the sender must do after a loss-recovery event.</summary>
[Flags]
internal enum LossRecoveryActions : byte
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>Fast recovery began (RFC 5681 §3.2, RFC 6675 §5): stop timing a segment (Karn's rule: it may be the one
    /// resent), cancel the probe timeout (RFC 8985 §7.2: no probes in recovery).</summary>
    EnteredRecovery = 1 << 0,

    /// <summary>Fast recovery ended: a fast retransmit still pending is not needed any more.</summary>
    LeftRecovery = 1 << 1,

    /// <summary>Resend the segment at SND.UNA now, whatever cwnd says (fast retransmit, or the hole a partial ACK shows).</summary>
    RetransmitFirst = 1 << 2,

    /// <summary>Leave the retransmission timer running rather than restart it for this ACK (RFC 6582 §4, "impatient").</summary>
    KeepRetransmitTimer = 1 << 3,

    /// <summary>The retransmissions of the last episode were needless (D-SACK, RFC 3708; timestamps, RFC 3522): the
    /// congestion state was restored. After a timeout the sender goes on with new data (RFC 4015 §2, Eifel response).</summary>
    Undone = 1 << 4,

    /// <summary>The path MTU probe was lost (<see cref="ILossRecovery.SetPathProbe"/>): the sender resends its bytes at the
    /// MSS; congestion control was not told.</summary>
    PathProbeLost = 1 << 5,
}
