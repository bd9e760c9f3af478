using System.Buffers.Binary;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>
/// Builds whole IP packets for hostile-input tests: well-formed ones through the library's own emitters (so checksums are
/// right and the packet reaches deep into the engine), and TCP segments with arbitrary option bytes written by hand.
/// </summary>
internal static class Forge
{
    /// <summary>An IP packet (v4 or v6 by the addresses) carrying <paramref name="payload"/>.</summary>
    public static byte[] Ip(NetAddress source, NetAddress destination, IpProtocol protocol, ReadOnlySpan<byte> payload, ushort id = 0)
    {
        if (destination.IsV6)
        {
            byte[] packet = new byte[Ipv6Header.HeaderLength + payload.Length];
            payload.CopyTo(packet.AsSpan(Ipv6Header.HeaderLength));
            Ipv6Header.Emit(packet, new Ipv6Header(source, destination, protocol), payload.Length);
            return packet;
        }
        byte[] v4 = new byte[Ipv4Header.HeaderLength + payload.Length];
        payload.CopyTo(v4.AsSpan(Ipv4Header.HeaderLength));
        Ipv4Header.Emit(v4, new Ipv4Header(source, destination, protocol, Identification: id), payload.Length);
        return v4;
    }

    /// <summary>One fragment (v4 or v6) of an upper-layer packet: <paramref name="data"/> sits at byte <paramref name="offset"/>.</summary>
    public static byte[] Fragment(NetAddress source, NetAddress destination, IpProtocol protocol, uint id, int offset, bool more, ReadOnlySpan<byte> data)
    {
        if (destination.IsV6)
        {
            var header = new Ipv6Header(source, destination, protocol, HasFragmentHeader: true, FragmentOffset: offset, MoreFragments: more, FragmentIdentification: id);
            int headerLength = Ipv6Header.EmittedLength(header);
            byte[] packet = new byte[headerLength + data.Length];
            data.CopyTo(packet.AsSpan(headerLength));
            Ipv6Header.Emit(packet, header, data.Length);
            return packet;
        }
        byte[] v4 = new byte[Ipv4Header.HeaderLength + data.Length];
        data.CopyTo(v4.AsSpan(Ipv4Header.HeaderLength));
        Ipv4Header.Emit(v4, new Ipv4Header(source, destination, protocol, Identification: (ushort)id, MoreFragments: more, FragmentOffset: offset), data.Length);
        return v4;
    }

    /// <summary>A TCP segment with options from <paramref name="header"/>'s fields (valid checksum).</summary>
    public static byte[] TcpSegment(NetAddress source, NetAddress destination, in TcpHeader header, ReadOnlySpan<byte> payload = default)
    {
        int headerLength = header.Length;
        byte[] segment = new byte[headerLength + payload.Length];
        payload.CopyTo(segment.AsSpan(headerLength));
        Rx.Netstack.Wire.TcpHeader.Emit(segment, header, payload.Length, source, destination);
        return segment;
    }

    /// <summary>A TCP packet with options from <paramref name="header"/>'s fields (valid checksum).</summary>
    public static byte[] Tcp(NetAddress source, NetAddress destination, in TcpHeader header, ReadOnlySpan<byte> payload = default) =>
        Ip(source, destination, IpProtocol.Tcp, TcpSegment(source, destination, header, payload));

    /// <summary>
    /// A TCP packet whose option area is exactly <paramref name="options"/> (padded to a multiple of 4 with zero bytes,
    /// at most 40): malformed lengths, unknown kinds, truncated options — with a correct checksum, so the parser sees them.
    /// </summary>
    public static byte[] TcpRawOptions(NetAddress source, NetAddress destination, ushort sourcePort, ushort destinationPort,
        uint sequence, uint acknowledgment, TcpFlags flags, ushort window, ReadOnlySpan<byte> options, ReadOnlySpan<byte> payload = default)
    {
        int optionsLength = Math.Min(40, (options.Length + 3) & ~3);
        int headerLength = 20 + optionsLength;
        byte[] segment = new byte[headerLength + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(segment, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), sequence);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(8), acknowledgment);
        segment[12] = (byte)((headerLength / 4) << 4);
        segment[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(14), window);
        options[..Math.Min(options.Length, 40)].CopyTo(segment.AsSpan(20));
        payload.CopyTo(segment.AsSpan(headerLength));
        uint pseudo = Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Length);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(16), Checksum.Finish(Checksum.Accumulate(segment, pseudo)));
        return Ip(source, destination, IpProtocol.Tcp, segment);
    }

    /// <summary>A UDP datagram in an IP packet (valid checksum).</summary>
    public static byte[] Udp(NetAddress source, NetAddress destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload) =>
        Ip(source, destination, IpProtocol.Udp, UdpDatagram(source, destination, sourcePort, destinationPort, payload));

    /// <summary>A UDP datagram (header + payload, valid checksum), e.g. to be split into fragments.</summary>
    public static byte[] UdpDatagram(NetAddress source, NetAddress destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        byte[] datagram = new byte[Rx.Netstack.Wire.UdpHeader.HeaderLength + payload.Length];
        payload.CopyTo(datagram.AsSpan(Rx.Netstack.Wire.UdpHeader.HeaderLength));
        Rx.Netstack.Wire.UdpHeader.Emit(datagram, new UdpHeader(sourcePort, destinationPort), payload.Length, source, destination);
        return datagram;
    }

    /// <summary>An ICMP / ICMPv6 message in an IP packet (valid checksum).</summary>
    public static byte[] Icmp(NetAddress source, NetAddress destination, in IcmpHeader header, ReadOnlySpan<byte> body) =>
        Ip(source, destination, destination.IsV6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, IcmpMessage(source, destination, header, body));

    /// <summary>An ICMP / ICMPv6 message (header + body, valid checksum).</summary>
    public static byte[] IcmpMessage(NetAddress source, NetAddress destination, in IcmpHeader header, ReadOnlySpan<byte> body)
    {
        byte[] message = new byte[Rx.Netstack.Wire.IcmpHeader.HeaderLength + body.Length];
        body.CopyTo(message.AsSpan(Rx.Netstack.Wire.IcmpHeader.HeaderLength));
        if (destination.IsV6) Rx.Netstack.Wire.IcmpHeader.EmitV6(message, header, body.Length, source, destination);
        else Rx.Netstack.Wire.IcmpHeader.EmitV4(message, header, body.Length);
        return message;
    }

    /// <summary>The TCP header fields of a packet built by <see cref="Tcp"/> (for tests that read what a stack sent).</summary>
    public static bool TryReadTcp(byte[] packet, out NetAddress source, out NetAddress destination, out TcpHeader header, out int payloadLength)
    {
        header = default;
        payloadLength = 0;
        source = destination = default;
        ReadOnlySpan<byte> segment;
        if (packet.Length > 0 && packet[0] >> 4 == 6)
        {
            if (Ipv6Header.TryParse(packet, out Ipv6Header h6, out _, out segment, out _) != WireError.None || h6.Protocol != IpProtocol.Tcp) return false;
            source = h6.Source;
            destination = h6.Destination;
        }
        else
        {
            if (Ipv4Header.TryParse(packet, out Ipv4Header h4, out _, out segment) != WireError.None || h4.Protocol != IpProtocol.Tcp) return false;
            source = h4.Source;
            destination = h4.Destination;
        }
        if (Rx.Netstack.Wire.TcpHeader.TryParse(segment, source, destination, out header, out ReadOnlySpan<byte> payload) != WireError.None) return false;
        payloadLength = payload.Length;
        return true;
    }
}
