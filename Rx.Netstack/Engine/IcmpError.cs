using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>What an ICMP error says, whatever the IP version (RFC 792, RFC 4443 §3): the transports act on the kind.</summary>
internal enum IcmpErrorKind
{
    /// <summary>ICMPv4 destination unreachable codes 0, 6, 11; ICMPv6 code 0 (no route).</summary>
    NetUnreachable,
    /// <summary>ICMPv4 codes 1, 5, 7, 12, 14, 15; ICMPv6 codes 2, 3, 5, 6 (beyond scope, address unreachable, policy, reject route).</summary>
    HostUnreachable,
    /// <summary>ICMPv4 codes 9, 10, 13; ICMPv6 code 1: a filter said no.</summary>
    AdministrativelyProhibited,
    /// <summary>ICMPv4 code 2; ICMPv6 parameter problem code 1 (unrecognised next header).</summary>
    ProtocolUnreachable,
    /// <summary>ICMPv4 code 3; ICMPv6 code 4.</summary>
    PortUnreachable,
    /// <summary>ICMPv4 fragmentation needed and DF set (type 3 code 4, RFC 1191); ICMPv6 packet too big (RFC 8201).</summary>
    PacketTooBig,
    /// <summary>Time exceeded, other parameter problems, source quench (RFC 6633: ignored) and the rest.</summary>
    Other,
}

/// <summary>
/// An ICMP error about a packet this stack sent, parsed from the quote (RFC 792, RFC 4443 §2.4(c)): the quoted IP header
/// and at least the first 8 bytes of its transport header give the 4-tuple of the socket that sent it.
/// </summary>
/// <param name="Kind">What the error says.</param>
/// <param name="Local">Our endpoint: the quoted packet's source address and port.</param>
/// <param name="Remote">The peer's: the quoted packet's destination address and port.</param>
/// <param name="Protocol">The quoted packet's transport protocol.</param>
/// <param name="Mtu">For <see cref="IcmpErrorKind.PacketTooBig"/>, the next-hop MTU the router reported (0 from an RFC 792 router).</param>
/// <param name="QuotedTotalLength">IPv4: the quoted datagram's total length (for RFC 1191 §5's plateau search).</param>
internal readonly record struct IcmpError(IcmpErrorKind Kind, NetEndpoint Local, NetEndpoint Remote, IpProtocol Protocol, int Mtu, int QuotedTotalLength)
{
    /// <summary>The path is IPv6.</summary>
    public bool IsV6 => Remote.Address.IsV6;

    /// <summary>What an ICMP error with <paramref name="type"/> and <paramref name="code"/> says.</summary>
    public static IcmpErrorKind Classify(bool v6, byte type, byte code)
    {
        if (v6)
        {
            return (IcmpV6Type)type switch
            {
                IcmpV6Type.PacketTooBig => IcmpErrorKind.PacketTooBig,
                IcmpV6Type.DestinationUnreachable => code switch
                {
                    0 => IcmpErrorKind.NetUnreachable,
                    1 => IcmpErrorKind.AdministrativelyProhibited,
                    4 => IcmpErrorKind.PortUnreachable,
                    _ => IcmpErrorKind.HostUnreachable,
                },
                IcmpV6Type.ParameterProblem when code == 1 => IcmpErrorKind.ProtocolUnreachable,
                _ => IcmpErrorKind.Other,
            };
        }
        if ((IcmpV4Type)type != IcmpV4Type.DestinationUnreachable) return IcmpErrorKind.Other;
        return code switch
        {
            0 or 6 or 11 => IcmpErrorKind.NetUnreachable,
            2 => IcmpErrorKind.ProtocolUnreachable,
            3 => IcmpErrorKind.PortUnreachable,
            4 => IcmpErrorKind.PacketTooBig,
            9 or 10 or 13 => IcmpErrorKind.AdministrativelyProhibited,
            _ => IcmpErrorKind.HostUnreachable,
        };
    }
}
