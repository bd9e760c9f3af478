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
    /// <summary>A SYN to an intercepted destination found its interceptor's queue of undecided offers full.</summary>
    TcpInterceptOverflow,
    /// <summary>A datagram to an intercepted destination would open a flow beyond its interceptor's maximum of flows.</summary>
    UdpFlowLimit,
    /// <summary>An Ethernet frame too short, with a length field instead of an EtherType, or from a multicast source.</summary>
    EthernetMalformed,
    /// <summary>An Ethernet frame for another station (a bridge floods unknown unicast), or our own frame reflected.</summary>
    EthernetNotForUs,
    /// <summary>An Ethernet frame tagged for another VLAN (or tagged when the stack is untagged, and the reverse).</summary>
    EthernetOtherVlan,
    /// <summary>An EtherType the stack does not handle (not IPv4, IPv6 or ARP).</summary>
    UnknownEtherType,
    /// <summary>An ARP packet that is not Ethernet/IPv4, of an unknown operation, or from a multicast sender.</summary>
    ArpMalformed,
    /// <summary>A neighbour discovery message that fails RFC 4861's validity checks (hop limit, code, options, addresses).</summary>
    NdpMalformed,
    /// <summary>No route to the destination on an Ethernet device (not on a connected prefix, no gateway).</summary>
    NoRoute,
    /// <summary>A packet waiting for its neighbour's address was replaced by a newer one (the queue was full).</summary>
    NeighborQueueFull,
    /// <summary>A packet waiting for its neighbour's address was dropped: resolution failed (or the entry was evicted).</summary>
    NeighborUnreachable,
    /// <summary>The neighbour cache was full of entries still resolving: a packet to a new neighbour was dropped.</summary>
    NeighborCacheFull,
    /// <summary>A DHCP message that is malformed, not a server's, or not for the client's current exchange.</summary>
    DhcpIgnored,
    /// <summary>A packet to a multicast group the stack is not a member of, or a datagram to a joined group for a socket that did
    /// not join it (see docs/ethernet.md, "Multicast").</summary>
    MulticastNotJoined,
    /// <summary>An IGMP message that is truncated, fails its checksum, or is a query sent to the wrong address.</summary>
    IgmpMalformed,
    /// <summary>An MLD query that is malformed, not from a link-local source, not with hop limit 1, or sent to the wrong address.</summary>
    MldMalformed,
}
