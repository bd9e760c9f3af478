namespace Rx.Netstack.Wire;

/// <summary>ICMPv4 message types the stack uses (RFC 792).</summary>
public enum IcmpV4Type : byte
{
    /// <summary>Echo reply.</summary>
    EchoReply = 0,
    /// <summary>Destination unreachable (codes: 0 net, 1 host, 2 protocol, 3 port, 4 fragmentation needed and DF set).</summary>
    DestinationUnreachable = 3,
    /// <summary>Echo request.</summary>
    EchoRequest = 8,
    /// <summary>Time exceeded (code 0 TTL, 1 reassembly).</summary>
    TimeExceeded = 11,
    /// <summary>Parameter problem.</summary>
    ParameterProblem = 12,
}

/// <summary>ICMPv6 message types the stack uses (RFC 4443).</summary>
public enum IcmpV6Type : byte
{
    /// <summary>Destination unreachable (codes: 0 no route, 1 prohibited, 3 address, 4 port).</summary>
    DestinationUnreachable = 1,
    /// <summary>Packet too big (the MTU field is set).</summary>
    PacketTooBig = 2,
    /// <summary>Time exceeded (code 0 hop limit, 1 reassembly).</summary>
    TimeExceeded = 3,
    /// <summary>Parameter problem (code 0 erroneous field, 1 unrecognised next header, 2 unrecognised option; pointer set).</summary>
    ParameterProblem = 4,
    /// <summary>Echo request.</summary>
    EchoRequest = 128,
    /// <summary>Echo reply.</summary>
    EchoReply = 129,
}

/// <summary>
/// The meaning of an ICMPv4 or ICMPv6 message header: type, code and the 4-byte "rest of header"
/// read according to the type. The body (echo data, or the quoted invoking packet of an error) is separate.
/// </summary>
/// <param name="Type">The raw type byte (compare with <see cref="IcmpV4Type"/> or <see cref="IcmpV6Type"/>).</param>
/// <param name="Code">The code byte.</param>
/// <param name="Identifier">Echo: identifier.</param>
/// <param name="SequenceNumber">Echo: sequence number.</param>
/// <param name="Mtu">ICMPv4 fragmentation-needed next-hop MTU, or ICMPv6 packet-too-big MTU.</param>
/// <param name="Pointer">Parameter problem: the pointer (one byte in ICMPv4, four in ICMPv6).</param>
public readonly record struct IcmpHeader(byte Type, byte Code, ushort Identifier = 0, ushort SequenceNumber = 0, uint Mtu = 0, uint Pointer = 0)
{
    /// <summary>True for ICMPv4 or ICMPv6 error messages (types below 128 in v6; unreachable, time exceeded, parameter problem, packet too big).</summary>
    public bool IsError(bool v6) => v6 ? Type < 128 : Type is 3 or 11 or 12;
}

/// <summary>Parse and emit ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) over spans, with no allocation.</summary>
public static class Icmp
{
    /// <summary>The header length (type, code, checksum, 4 bytes of type-specific data).</summary>
    public const int HeaderLength = 8;

    /// <summary>Parses an ICMPv4 message: at least 8 bytes, checksum over the message verified.</summary>
    public static WireError TryParseV4(ReadOnlySpan<byte> message, out IcmpHeader header, out ReadOnlySpan<byte> body) =>
        throw new NotImplementedException();

    /// <summary>Parses an ICMPv6 message: at least 8 bytes, checksum verified with the IPv6 pseudo-header.</summary>
    public static WireError TryParseV6(ReadOnlySpan<byte> message, NetAddress source, NetAddress destination,
        out IcmpHeader header, out ReadOnlySpan<byte> body) => throw new NotImplementedException();

    /// <summary>Writes an ICMPv4 header at the start of <paramref name="message"/>, whose body is already in place at
    /// <c>message[8..(8 + bodyLength)]</c>, and computes the checksum.</summary>
    /// <returns>The message length (8 + bodyLength).</returns>
    public static int EmitV4(Span<byte> message, in IcmpHeader header, int bodyLength) => throw new NotImplementedException();

    /// <summary>Writes an ICMPv6 header at the start of <paramref name="message"/> (body already in place) and computes the
    /// checksum with the IPv6 pseudo-header.</summary>
    /// <returns>The message length (8 + bodyLength).</returns>
    public static int EmitV6(Span<byte> message, in IcmpHeader header, int bodyLength, NetAddress source, NetAddress destination) =>
        throw new NotImplementedException();
}
