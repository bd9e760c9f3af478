namespace Rx.Netstack.Wire;

/// <summary>IP protocol numbers (IPv4 "protocol", IPv6 "next header") used by the stack.</summary>
public enum IpProtocol : byte
{
    /// <summary>IPv6 hop-by-hop options (RFC 8200 §4.3).</summary>
    HopByHop = 0,
    /// <summary>ICMP for IPv4 (RFC 792).</summary>
    Icmp = 1,
    /// <summary>IGMP (RFC 2236, RFC 3376).</summary>
    Igmp = 2,
    /// <summary>TCP (RFC 9293).</summary>
    Tcp = 6,
    /// <summary>UDP (RFC 768).</summary>
    Udp = 17,
    /// <summary>IPv6 routing header (RFC 8200 §4.4).</summary>
    Ipv6Route = 43,
    /// <summary>IPv6 fragment header (RFC 8200 §4.5).</summary>
    Ipv6Fragment = 44,
    /// <summary>ICMP for IPv6 (RFC 4443).</summary>
    IcmpV6 = 58,
    /// <summary>IPv6 "no next header" (RFC 8200 §4.7).</summary>
    Ipv6NoNextHeader = 59,
    /// <summary>IPv6 destination options (RFC 8200 §4.6).</summary>
    Ipv6DestinationOptions = 60,
}
