using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>What upper layers need to know of the IP packet that carried them.</summary>
/// <param name="Source">The packet's source address.</param>
/// <param name="Destination">The packet's destination address.</param>
/// <param name="Protocol">The transport protocol (the last next header, for IPv6).</param>
/// <param name="IsV6">True for IPv6.</param>
/// <param name="ChecksumTrusted">The transport checksum needs no check: offloaded by the device, or our own looped-back packet
/// emitted without one.</param>
/// <param name="Buffer">The handed-over transmit buffer of another stack that holds the packet, if any: a TCP connection may
/// keep an in-order payload in it instead of copying it.</param>
/// <param name="NextHeaderPointer">For IPv6, the offset of the next-header field that named the protocol (for a parameter
/// problem when nothing handles it).</param>
/// <param name="Intercepted">The destination is not the stack's: the packet came in only because an interceptor answers for it.</param>
/// <param name="Ecn">The ECN field of the IPv4 TOS or IPv6 traffic class (RFC 3168 §5): 3 is CE, a congestion mark.</param>
/// <param name="Coalesced">For a TCP segment the round merged from a run (<see cref="InboxCoalescer"/>): how many segments it stands for, and their size.</param>
internal readonly record struct IpInfo(NetAddress Source, NetAddress Destination, IpProtocol Protocol, bool IsV6,
    bool ChecksumTrusted = false, TransmitBuffer? Buffer = null, int NextHeaderPointer = 9, bool Intercepted = false, byte Ecn = 0,
    CoalescedRun Coalesced = default);
