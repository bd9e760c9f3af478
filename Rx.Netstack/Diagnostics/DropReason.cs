namespace Rx.Netstack.Diagnostics;

/// <summary>Why the stack dropped a packet. Every drop is counted under one reason.</summary>
public enum DropReason
{
    /// <summary>The frame queue was full.</summary>
    InboxFull,
    /// <summary>Empty frame or unknown IP version.</summary>
    BadIpVersion,
    /// <summary>IPv4 header malformed (length, IHL, checksum, source).</summary>
    Ipv4Malformed,
    /// <summary>IPv6 header chain malformed.</summary>
    Ipv6Malformed,
    /// <summary>IPv6 unknown next header (answered with parameter problem).</summary>
    Ipv6UnknownNextHeader,
    /// <summary>Not addressed to any of the stack's addresses.</summary>
    NotForUs,
    /// <summary>IP protocol with no handler and no raw socket.</summary>
    UnknownProtocol,
    /// <summary>A fragment that is malformed or overlaps (RFC 5722) or does not fit the reassembly limits.</summary>
    FragmentRejected,
    /// <summary>Reassembly memory limit reached.</summary>
    ReassemblyMemoryFull,
    /// <summary>An incomplete datagram timed out.</summary>
    ReassemblyTimeout,
    /// <summary>UDP header or checksum bad.</summary>
    UdpMalformed,
    /// <summary>UDP to a port with no socket.</summary>
    UdpNoSocket,
    /// <summary>UDP socket receive buffer full.</summary>
    UdpBufferFull,
    /// <summary>ICMP header or checksum bad.</summary>
    IcmpMalformed,
    /// <summary>ICMP message type the stack ignores.</summary>
    IcmpIgnored,
    /// <summary>TCP header, options or checksum bad.</summary>
    TcpMalformed,
    /// <summary>TCP segment for no connection (answered with RST where the RFC says so).</summary>
    TcpNoConnection,
    /// <summary>TCP listener queues full.</summary>
    TcpListenOverflow,
    /// <summary>TIME-WAIT table full: a connection was freed without its TIME-WAIT.</summary>
    TcpTimeWaitOverflow,
    /// <summary>Socket table full: a SYN could not get a connection.</summary>
    SocketLimit,
    /// <summary>Raw socket receive buffer full.</summary>
    RawBufferFull,
    /// <summary>No device attached to send on.</summary>
    NoDevice,
    /// <summary>Outgoing packet larger than the MTU with DF set, or too large to fragment.</summary>
    TooBigToSend,
    /// <summary>An IPv6 packet whose next header is "no next header" (59): nothing follows to deliver (RFC 8200 §4.7).</summary>
    Ipv6NoNextHeader,
    /// <summary>An ICMP error quoting a packet of no connection or socket of ours.</summary>
    IcmpNoSocket,
    /// <summary>An ICMP error about a TCP connection whose quoted sequence number is not in flight (RFC 5927 §4.1: forged or stale).</summary>
    IcmpOutOfWindow,
    /// <summary>A fragmentation-needed or packet-too-big whose MTU is not believed: not below the path MTU in use, or an IPv6
    /// one below 1280 (RFC 5927 §7, RFC 8201 §4).</summary>
    IcmpBadMtu,
}
