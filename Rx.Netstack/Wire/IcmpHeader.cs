using System.Buffers.Binary;

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
    /// <summary>Router solicitation (RFC 4861 §4.1).</summary>
    RouterSolicitation = 133,
    /// <summary>Router advertisement (RFC 4861 §4.2).</summary>
    RouterAdvertisement = 134,
    /// <summary>Neighbor solicitation (RFC 4861 §4.3).</summary>
    NeighborSolicitation = 135,
    /// <summary>Neighbor advertisement (RFC 4861 §4.4).</summary>
    NeighborAdvertisement = 136,
    /// <summary>Redirect (RFC 4861 §4.5).</summary>
    Redirect = 137,
    /// <summary>Version 2 multicast listener report (RFC 3810 §5.2).</summary>
    MulticastListenerReportV2 = 143,
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
/// <remarks>
/// Parsed and emitted over spans with no allocation (ICMPv4 RFC 792, ICMPv6 RFC 4443). The 4-byte rest of header is read
/// by type. ICMPv4: echo, timestamp, information and address-mask messages (0, 8, 13–18) → identifier and sequence number;
/// destination unreachable (3) → <see cref="Mtu"/> from the next-hop MTU field (RFC 1191 §4, zero for codes other than 4);
/// parameter problem (12) → the one-byte pointer. ICMPv6: echo (128, 129) → identifier and sequence number; packet too big
/// (2) → the 32-bit MTU; parameter problem (4) → the 32-bit pointer. Other types carry nothing the stack reads, and emit
/// writes zeros there. For an error message the body is the quoted invoking packet: parse it with
/// <see cref="Ipv4Header.TryParseQuoted"/> or <see cref="Ipv6Header.TryParseQuoted"/> (the quote is usually cut short), then
/// <see cref="TcpHeader.TryReadQuoted"/> or <see cref="UdpHeader.TryReadQuoted"/> on its payload to find the socket.
/// </remarks>
public readonly record struct IcmpHeader(byte Type, byte Code, ushort Identifier = 0, ushort SequenceNumber = 0, uint Mtu = 0, uint Pointer = 0)
{
    /// <summary>True for ICMPv4 or ICMPv6 error messages (types below 128 in v6; unreachable, time exceeded, parameter problem, packet too big).</summary>
    public bool IsError(bool v6) => v6 ? Type < 128 : Type is 3 or 11 or 12;

    /// <summary>The header length (type, code, checksum, 4 bytes of type-specific data).</summary>
    public const int HeaderLength = 8;

    /// <summary>Parses an ICMPv4 message: at least 8 bytes, checksum over the message verified.</summary>
    /// <returns><see cref="WireError.None"/>, <see cref="WireError.Truncated"/> or <see cref="WireError.BadChecksum"/>.</returns>
    public static WireError TryParseV4(ReadOnlySpan<byte> message, out IcmpHeader header, out ReadOnlySpan<byte> body)
    {
        header = default;
        body = default;
        if (message.Length < HeaderLength) return WireError.Truncated;
        if (!Checksum.Verify(message)) return WireError.BadChecksum;
        var view = new IcmpView(message);
        byte type = view.TypeField;
        header = type switch
        {
            0 or 8 or (>= 13 and <= 18) => new IcmpHeader(type, view.CodeField, view.IdentifierField, view.SequenceNumberField),
            (byte)IcmpV4Type.DestinationUnreachable => new IcmpHeader(type, view.CodeField, Mtu: view.V4NextHopMtuField),
            (byte)IcmpV4Type.ParameterProblem => new IcmpHeader(type, view.CodeField, Pointer: view.V4PointerField),
            _ => new IcmpHeader(type, view.CodeField),
        };
        body = message[HeaderLength..];
        return WireError.None;
    }

    /// <summary>Parses an ICMPv6 message: at least 8 bytes, checksum verified with the IPv6 pseudo-header.</summary>
    /// <returns><see cref="WireError.None"/>, <see cref="WireError.Truncated"/> or <see cref="WireError.BadChecksum"/>.</returns>
    public static WireError TryParseV6(ReadOnlySpan<byte> message, NetAddress source, NetAddress destination,
        out IcmpHeader header, out ReadOnlySpan<byte> body)
    {
        header = default;
        body = default;
        if (message.Length < HeaderLength) return WireError.Truncated;
        if (!Checksum.Verify(message, Checksum.PseudoHeader(source, destination, IpProtocol.IcmpV6, message.Length)))
            return WireError.BadChecksum;
        var view = new IcmpView(message);
        byte type = view.TypeField;
        header = type switch
        {
            (byte)IcmpV6Type.EchoRequest or (byte)IcmpV6Type.EchoReply =>
                new IcmpHeader(type, view.CodeField, view.IdentifierField, view.SequenceNumberField),
            (byte)IcmpV6Type.PacketTooBig => new IcmpHeader(type, view.CodeField, Mtu: view.RestAsUInt32),
            (byte)IcmpV6Type.ParameterProblem => new IcmpHeader(type, view.CodeField, Pointer: view.RestAsUInt32),
            _ => new IcmpHeader(type, view.CodeField),
        };
        body = message[HeaderLength..];
        return WireError.None;
    }

    /// <summary>Writes an ICMPv4 header at the start of <paramref name="message"/>, whose body is already in place at
    /// <c>message[8..(8 + bodyLength)]</c>, and computes the checksum.</summary>
    /// <returns>The message length (8 + bodyLength).</returns>
    public static int EmitV4(Span<byte> message, in IcmpHeader header, int bodyLength)
    {
        var bytes = HeaderFor(message, header, bodyLength, v6: false);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[IcmpView.Checksum..], Checksum.Compute(bytes));
        return bytes.Length;
    }

    /// <summary>Writes an ICMPv6 header at the start of <paramref name="message"/> (body already in place) and computes the
    /// checksum with the IPv6 pseudo-header.</summary>
    /// <returns>The message length (8 + bodyLength).</returns>
    public static int EmitV6(Span<byte> message, in IcmpHeader header, int bodyLength, NetAddress source, NetAddress destination)
    {
        var bytes = HeaderFor(message, header, bodyLength, v6: true);
        uint pseudo = Checksum.PseudoHeader(source, destination, IpProtocol.IcmpV6, bytes.Length);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[IcmpView.Checksum..], Checksum.Finish(Checksum.Accumulate(bytes, pseudo)));
        return bytes.Length;
    }

    /// <summary>Writes type, code, a zero checksum and the type's rest of header; returns the whole message span.</summary>
    private static Span<byte> HeaderFor(Span<byte> message, in IcmpHeader header, int bodyLength, bool v6)
    {
        int length = HeaderLength + bodyLength;
        if (bodyLength < 0 || length > message.Length) throw new ArgumentOutOfRangeException(nameof(bodyLength));
        var bytes = message[..length];
        bytes[IcmpView.Type] = header.Type;
        bytes[IcmpView.Code] = header.Code;
        BinaryPrimitives.WriteUInt16BigEndian(bytes[IcmpView.Checksum..], 0);
        var rest = bytes[IcmpView.Rest..];
        BinaryPrimitives.WriteUInt32BigEndian(rest, 0);
        if (v6)
        {
            switch ((IcmpV6Type)header.Type)
            {
                case IcmpV6Type.EchoRequest or IcmpV6Type.EchoReply: WriteEcho(bytes, header); break;
                case IcmpV6Type.PacketTooBig: BinaryPrimitives.WriteUInt32BigEndian(rest, header.Mtu); break;
                case IcmpV6Type.ParameterProblem: BinaryPrimitives.WriteUInt32BigEndian(rest, header.Pointer); break;
            }
        }
        else
        {
            switch (header.Type)
            {
                case 0 or 8 or (>= 13 and <= 18): WriteEcho(bytes, header); break;
                case (byte)IcmpV4Type.DestinationUnreachable:
                    BinaryPrimitives.WriteUInt16BigEndian(bytes[IcmpView.V4NextHopMtu..], (ushort)header.Mtu);
                    break;
                case (byte)IcmpV4Type.ParameterProblem: bytes[IcmpView.V4Pointer] = (byte)header.Pointer; break;
            }
        }
        return bytes;
    }

    private static void WriteEcho(Span<byte> bytes, in IcmpHeader header)
    {
        BinaryPrimitives.WriteUInt16BigEndian(bytes[IcmpView.Identifier..], header.Identifier);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[IcmpView.SequenceNumber..], header.SequenceNumber);
    }
}
