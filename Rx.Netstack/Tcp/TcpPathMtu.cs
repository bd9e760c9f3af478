using System.Runtime.InteropServices;

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

    /// <summary>When a lowered estimate is raised to <see cref="LinkMss"/> again (RFC 1191 §6.3, RFC 8201 §4: after 10 minutes;
    /// RFC 8899 §5.1.1 PMTU_RAISE_TIMER for a black hole); <see cref="Instant.Never"/> while the estimate is the link's.</summary>
    public Instant RaiseAt;

    /// <summary>An ACK covered a full segment's worth of data at the current estimate: the path carries it, so timeouts are
    /// losses, not a black hole (RFC 4821 §7.6.1: only sizes not yet proven are suspect).</summary>
    public bool Proven;

    /// <summary>How far black-hole detection lowered the MSS since the estimate was last the link's: 0 not at all, 1 to the
    /// base size, 2 to the protocol minimum.</summary>
    public int BlackHoleStep;
}
