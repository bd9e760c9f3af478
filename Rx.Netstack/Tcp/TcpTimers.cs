using System.Runtime.InteropServices;

namespace Rx.Netstack.Tcp;

/// <summary>
/// A connection's deadlines, one field each (smoltcp keeps one <c>Timer</c>, gVisor one field per timer): an
/// <see cref="Instant"/>, <see cref="Instant.Never"/> while off. Arming or cancelling one is a field write; the engine wakes
/// the connection at <see cref="Earliest"/> through the one wake-up it keeps for all sockets, so nothing is scheduled or
/// cancelled per ACK. What happens when one fires is <c>TcpControlBlock.OnTimer</c>'s business.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct TcpTimers
{
    /// <summary>Every deadline off.</summary>
    public TcpTimers() => CancelAll();

    /// <summary>
    /// Retransmission timeout (RFC 6298 §5): armed while data or a SYN is unacknowledged. In SYN-SENT and SYN-RECEIVED it
    /// retries the SYN or SYN-ACK (RFC 9293 §3.8.1).
    /// </summary>
    public Instant Retransmit;

    /// <summary>The probe timeout, PTO (RFC 8985 §7.2): a tail loss probe goes out when it fires. Never later than
    /// <see cref="Retransmit"/>.</summary>
    public Instant TailLossProbe;

    /// <summary>RACK's reordering timer (RFC 8985 §6.2 step 5): segments not yet deemed lost become lost when it fires.</summary>
    public Instant Reorder;

    /// <summary>The latest time an ACK for received data may be held back (RFC 1122 §4.2.3.2, RFC 5681 §4.2).</summary>
    public Instant DelayedAck;

    /// <summary>The persist timer: the next zero-window probe (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17), or the override
    /// timeout of sender SWS avoidance (RFC 9293 §3.8.6.2.1).</summary>
    public Instant Persist;

    /// <summary>The pacing timer: data held back by the pacing rate may go (<c>TcpControlBlock.Pacing.cs</c>). Set only while
    /// data waits for it.</summary>
    public Instant Pace;

    /// <summary>The next keep-alive probe (RFC 1122 §4.2.3.6).</summary>
    public Instant KeepAlive;

    /// <summary>The end of TIME-WAIT (2·MSL, RFC 9293 §3.10.8), or how long an orphaned FIN-WAIT-2 waits for the peer's FIN
    /// (Linux's tcp_fin_timeout).</summary>
    public Instant TimeWait;

    /// <summary>The earliest deadline: when the engine must next call <c>OnTimer</c>; <see cref="Instant.Never"/> when all are off.</summary>
    public readonly Instant Earliest =>
        Instant.Min(Instant.Min(Instant.Min(Retransmit, TailLossProbe), Instant.Min(DelayedAck, Persist)), Instant.Min(Instant.Min(KeepAlive, TimeWait), Instant.Min(Reorder, Pace)));

    /// <summary>Turns every deadline off (the connection closed).</summary>
    public void CancelAll() => Retransmit = TailLossProbe = Reorder = DelayedAck = Persist = KeepAlive = TimeWait = Pace = Instant.Never;
}
