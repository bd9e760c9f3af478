using System.Runtime.InteropServices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Path MTU discovery's state in one connection (RFC 1191, RFC 8201, and black-hole detection after RFC 4821 / RFC 8899):
/// the ceiling a lowered estimate returns to, whether IPv4 packets carry DF, when a lowered estimate is tried higher again,
/// and how far black-hole detection went. The estimate itself is <see cref="TcpAgreedOptions.OurMss"/>. A part of
/// <see cref="TcpControlBlock"/>, changed only by it (<c>TcpControlBlock.PathMtu.cs</c>).
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct TcpPathMtu
{
    /// <summary>Our MSS from the link's MTU when the connection opened: a lowered estimate goes back to it when it expires.</summary>
    public int LinkMss;

    /// <summary>Our IPv4 packets carry DF (RFC 1191 §3); cleared when the path is below the IPv4 minimum of 576, never set for IPv6.</summary>
    public bool DontFragment;

    /// <summary>When a search for a larger size starts (RFC 1191 §6.3, RFC 8201 §4: 10 minutes after the estimate was lowered;
    /// RFC 8899 §5.1.1 PMTU_RAISE_TIMER); <see cref="Instant.Never"/> while the estimate is the link's or a search runs.</summary>
    public Instant RaiseAt;

    /// <summary>While searching: the MSS the next probe tries (RFC 4821 §7.2 probe size); 0 when no search runs.</summary>
    public int ProbeMss;

    /// <summary>While searching: the largest MSS not shown too big (RFC 4821 search_high): the link's, or less than a size
    /// whose probes were lost <see cref="TcpControlBlock.MaxProbes"/> times.</summary>
    public int SearchHigh;

    /// <summary>Probes of <see cref="ProbeMss"/> lost so far (RFC 4821 §7.6.2: a size fails after MAX_PROBES).</summary>
    public int ProbeFailures;

    /// <summary>The sequence range of the last probe until SND.UNA passes it; empty when none.</summary>
    public SeqNumber ProbeStart, ProbeEnd;

    /// <summary>The probe in <see cref="ProbeStart"/>..<see cref="ProbeEnd"/> was found lost and resent at the MSS: its ACK
    /// proves nothing, and no new probe goes before it.</summary>
    public bool ProbeLost;

    /// <summary>What is left to resend of a lost probe, at the MSS, whatever cwnd says (Linux's tcp_simple_retransmit of a
    /// probe); empty when nothing.</summary>
    public SeqNumber ResendFrom, ResendTo;

    /// <summary>An ACK covered a full segment's worth of data at the current estimate: the path carries it, so timeouts are
    /// losses, not a black hole (RFC 4821 §7.6.1: only sizes not yet proven are suspect).</summary>
    public bool Proven;

    /// <summary>A probe's success not yet handed to the engine's path MTU cache: the MTU the path was shown to carry (the
    /// link's when the probe reached the ceiling), so later connections start there (RFC 4821 §5.2); 0 when none.</summary>
    public int ConfirmedMtu;

    /// <summary>How far black-hole detection lowered the MSS since the estimate was last the link's: 0 not at all, 1 to the
    /// base size, 2 to the protocol minimum.</summary>
    public int BlackHoleStep;
}
