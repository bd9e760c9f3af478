namespace Rx.Netstack.Tcp;

/// <summary>
/// Stack-wide TCP counters, shared by every connection of one stack (like the kernel's TcpExt MIB). Plain fields, bumped
/// on the engine thread; read them from elsewhere only for display.
/// </summary>
internal sealed class TcpCounters
{
    /// <summary>Segments handed to the engine for sending.</summary>
    public long SegmentsSent;
    /// <summary>Segments given to connections.</summary>
    public long SegmentsReceived;
    /// <summary>Segments sent again (timeouts, fast retransmits, SACK repairs).</summary>
    public long SegmentsRetransmitted;
    /// <summary>Fast retransmits (three duplicate ACKs or SACK loss detection, RFC 5681 §3.2 / RFC 6675).</summary>
    public long FastRetransmits;
    /// <summary>Retransmission timeouts, SYN retries included.</summary>
    public long Timeouts;
    /// <summary>Connections given up after unanswered retransmissions or probes.</summary>
    public long ConnectionsTimedOut;
    /// <summary>Challenge ACKs sent (RFC 5961).</summary>
    public long ChallengeAcksSent;
    /// <summary>Challenge ACKs not sent because of the rate limit (RFC 5961 §7).</summary>
    public long ChallengeAcksSuppressed;
    /// <summary>Acceptable RSTs that reset a connection.</summary>
    public long ResetsReceived;
    /// <summary>RSTs sent by connections (aborts, bad ACKs in SYN states, data after close).</summary>
    public long ResetsSent;
    /// <summary>Segments dropped by PAWS (RFC 7323 §5).</summary>
    public long PawsDrops;
    /// <summary>Segments held out of order in a receive buffer.</summary>
    public long OutOfOrderSegments;
    /// <summary>Out-of-order segments not kept: they would have opened a hole beyond the most a receive buffer tracks
    /// (<see cref="SequenceRangeSet.CapacityForWindow"/>); the peer sends them again.</summary>
    public long OutOfOrderDropped;
    /// <summary>In-order payloads kept in the frame they arrived in until read (another stack's buffer over an in-memory pipe).</summary>
    public long SegmentsHeld;
    /// <summary>Segments outside the receive window (answered with an ACK, RFC 9293 §3.10.7.4).</summary>
    public long UnacceptableSegments;
    /// <summary>Zero-window probes sent (RFC 9293 §3.8.6.1).</summary>
    public long ZeroWindowProbes;
    /// <summary>Keepalive probes sent (RFC 1122 §4.2.3.6).</summary>
    public long KeepAliveProbes;
    /// <summary>Loss recovery episodes entered (fast recovery).</summary>
    public long RecoveryEpisodes;
    /// <summary>Tail loss probes sent (RFC 8985 §7).</summary>
    public long TailLossProbes;
    /// <summary>Window updates sent because the application read data.</summary>
    public long WindowUpdates;

    /// <summary>D-SACK blocks received: the peer got data twice (RFC 2883).</summary>
    public long DuplicateSacksReceived;
    /// <summary>D-SACK blocks sent for data received twice (RFC 2883).</summary>
    public long DuplicateSacksSent;
    /// <summary>Loss episodes found needless (D-SACK, RFC 3708, or timestamps, RFC 3522) and their window reductions undone.</summary>
    public long SpuriousRetransmissionsUndone;
    /// <summary>Times RACK's reordering timer fired (RFC 8985 §6.2).</summary>
    public long ReorderTimeouts;
    /// <summary>Segments received with a congestion mark, CE (RFC 3168 §5).</summary>
    public long CongestionMarksReceived;
    /// <summary>Window reductions for an echoed congestion mark, ECE (RFC 3168 §6.1.2).</summary>
    public long CongestionEchoResponses;

    /// <summary>ICMP errors about a connection that passed RFC 5927's checks (its quoted sequence number in flight) and were acted on.</summary>
    public long IcmpErrorsAccepted;
    /// <summary>Times a connection lowered its MSS for the path (a validated packet too big, or a black hole).</summary>
    public long PathMtuReductions;
    /// <summary>Black holes suspected: full-sized segments timed out repeatedly and the MSS fell back (RFC 4821, RFC 8899).</summary>
    public long PathMtuBlackHoles;
    /// <summary>Lowered path MTU estimates raised again: by a probe that got through (RFC 4821 §7.6.1).</summary>
    public long PathMtuRaises;
    /// <summary>Path MTU probes sent: one segment larger than the MSS (RFC 4821 §7).</summary>
    public long PathMtuProbes;
    /// <summary>Path MTU probes found lost and resent at the MSS, without a congestion response (RFC 4821 §7.6.2).</summary>
    public long PathMtuProbesLost;
}
