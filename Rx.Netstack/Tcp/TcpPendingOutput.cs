using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// What a connection owes the peer besides the data its windows let it send: input, timers and user calls set these, and
/// <c>TcpControlBlock.TryGetSegment</c> clears each one as the segment that carries it goes out.
/// </summary>
[Flags]
internal enum TcpPendingOutput : ushort
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>A RST, with the numbers in <see cref="PendingReset"/>: it goes out before anything else and survives the close.</summary>
    Reset = 1 << 0,

    /// <summary>Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), the first or again (RFC 9293 §3.5).</summary>
    Syn = 1 << 1,

    /// <summary>An ACK now: a pure ACK unless a segment with data carries it (RFC 9293 §3.10.7.4, RFC 5681 §4.2).</summary>
    Ack = 1 << 2,

    /// <summary>The segment at SND.UNA, whatever cwnd says: fast retransmit (RFC 5681 §3.2 step 2) or the hole a partial
    /// ACK shows (RFC 6582 §3.2 step 5).</summary>
    FastRetransmit = 1 << 3,

    /// <summary>The probe timeout fired: a tail loss probe (RFC 8985 §7.3).</summary>
    TailLossProbe = 1 << 4,

    /// <summary>The persist timer fired with the window closed: one byte beyond it (RFC 9293 §3.8.6.1).</summary>
    ZeroWindowProbe = 1 << 5,

    /// <summary>The persist timer fired with a window too small for sender SWS avoidance: send what fits anyway (the
    /// override timeout of RFC 9293 §3.8.6.2.1).</summary>
    SwsOverride = 1 << 6,

    /// <summary>A keep-alive probe (RFC 1122 §4.2.3.6).</summary>
    KeepAliveProbe = 1 << 7,

    /// <summary>An ACK owed only because two full-sized segments arrived in order (RFC 1122 §4.2.3.2, RFC 5681 §4.2): it goes
    /// out as <see cref="Ack"/> does, but a segment merged from a receive burst may leave it to the end of the round, so one
    /// ACK answers the burst (a stretch ACK, as Linux's GRO receivers send; see <c>TcpControlBlock.MayStretchAck</c>).</summary>
    VolumeAck = 1 << 8,
}

/// <summary>The RST a connection owes (<see cref="TcpPendingOutput.Reset"/>): its sequence and acknowledgment numbers and flags.</summary>
/// <param name="Sequence">SEG.SEQ.</param>
/// <param name="Acknowledgment">SEG.ACK (meaningful with <see cref="TcpFlags.Ack"/>).</param>
/// <param name="Flags"><see cref="TcpFlags.Rst"/>, with <see cref="TcpFlags.Ack"/> when it acknowledges.</param>
internal readonly record struct PendingReset(SeqNumber Sequence, SeqNumber Acknowledgment, TcpFlags Flags);
