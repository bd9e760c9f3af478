namespace Rx.Netstack.Commands;

/// <summary>How an intercepted TCP offer or UDP flow is refused: what its client is told, from the original destination.</summary>
public enum InterceptRefusal
{
    /// <summary>A TCP reset (the client sees "connection refused"); for a UDP flow, ICMP port unreachable.</summary>
    Reset,
    /// <summary>ICMP port unreachable (type 3 code 3; ICMPv6 type 1 code 4).</summary>
    PortUnreachable,
    /// <summary>ICMP host unreachable (type 3 code 1; ICMPv6 type 1 code 3, address unreachable).</summary>
    HostUnreachable,
    /// <summary>ICMP network unreachable (type 3 code 0; ICMPv6 type 1 code 0, no route).</summary>
    NetworkUnreachable,
    /// <summary>ICMP administratively prohibited (type 3 code 13; ICMPv6 type 1 code 1).</summary>
    AdministrativelyProhibited,
    /// <summary>Nothing: the client retransmits and times out.</summary>
    Drop,
}
