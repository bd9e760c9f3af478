using System.Buffers.Binary;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;

/// <summary>Builds whole packets with the emitters under test, and hand-made ones for malformed cases.</summary>
internal static class Packets
{
    public static byte[] Tcp(in TcpHeader header, ReadOnlySpan<byte> payload, NetAddress source, NetAddress destination)
    {
        int headerLength = header.Length;
        var bytes = new byte[headerLength + payload.Length];
        payload.CopyTo(bytes.AsSpan(headerLength));
        int written = Rx.Netstack.Wire.TcpHeader.Emit(bytes, header, payload.Length, source, destination);
        Assert.Equal(bytes.Length, written);
        return bytes;
    }

    public static byte[] Udp(in UdpHeader header, ReadOnlySpan<byte> payload, NetAddress source, NetAddress destination)
    {
        var bytes = new byte[Rx.Netstack.Wire.UdpHeader.HeaderLength + payload.Length];
        payload.CopyTo(bytes.AsSpan(Rx.Netstack.Wire.UdpHeader.HeaderLength));
        Assert.Equal(bytes.Length, Rx.Netstack.Wire.UdpHeader.Emit(bytes, header, payload.Length, source, destination));
        return bytes;
    }

    public static byte[] IcmpV4(in IcmpHeader header, ReadOnlySpan<byte> body)
    {
        var bytes = new byte[IcmpHeader.HeaderLength + body.Length];
        body.CopyTo(bytes.AsSpan(IcmpHeader.HeaderLength));
        Assert.Equal(bytes.Length, IcmpHeader.EmitV4(bytes, header, body.Length));
        return bytes;
    }

    public static byte[] IcmpV6(in IcmpHeader header, ReadOnlySpan<byte> body, NetAddress source, NetAddress destination)
    {
        var bytes = new byte[IcmpHeader.HeaderLength + body.Length];
        body.CopyTo(bytes.AsSpan(IcmpHeader.HeaderLength));
        Assert.Equal(bytes.Length, IcmpHeader.EmitV6(bytes, header, body.Length, source, destination));
        return bytes;
    }

    public static byte[] Ipv4(in Ipv4Header header, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[Rx.Netstack.Wire.Ipv4Header.HeaderLength + payload.Length];
        Assert.Equal(20, Rx.Netstack.Wire.Ipv4Header.Emit(bytes, header, payload.Length));
        payload.CopyTo(bytes.AsSpan(20));
        return bytes;
    }

    public static byte[] Ipv6(in Ipv6Header header, ReadOnlySpan<byte> payload)
    {
        int headerLength = Rx.Netstack.Wire.Ipv6Header.EmittedLength(header);
        var bytes = new byte[headerLength + payload.Length];
        Assert.Equal(headerLength, Rx.Netstack.Wire.Ipv6Header.Emit(bytes, header, payload.Length));
        payload.CopyTo(bytes.AsSpan(headerLength));
        return bytes;
    }

    /// <summary>Recomputes the IPv4 header checksum after a test edited the header.</summary>
    public static void FixIpv4Checksum(Span<byte> packet)
    {
        int ihl = (packet[0] & 0x0F) * 4;
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], Checksum.Compute(packet[..ihl]));
    }

    /// <summary>A TCP segment with the given raw option bytes (a multiple of 4) and a correct checksum.</summary>
    public static byte[] TcpWithRawOptions(ReadOnlySpan<byte> options, NetAddress source, NetAddress destination, int payloadLength = 0)
    {
        var bytes = new byte[20 + options.Length + payloadLength];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, 1234);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), 80);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), 1000);
        bytes[12] = (byte)((20 + options.Length) / 4 << 4);
        bytes[13] = (byte)TcpFlags.Syn;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(14), 65535);
        options.CopyTo(bytes.AsSpan(20));
        for (int i = 0; i < payloadLength; i++) bytes[20 + options.Length + i] = (byte)(i + 1);
        FixTransportChecksum(bytes, 16, IpProtocol.Tcp, source, destination);
        return bytes;
    }

    /// <summary>Recomputes a TCP/UDP/ICMPv6 checksum at <paramref name="checksumOffset"/> after a test edited the message.</summary>
    public static void FixTransportChecksum(Span<byte> message, int checksumOffset, IpProtocol protocol, NetAddress source, NetAddress destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(message[checksumOffset..], 0);
        uint pseudo = Checksum.PseudoHeader(source, destination, protocol, message.Length);
        BinaryPrimitives.WriteUInt16BigEndian(message[checksumOffset..], Checksum.Finish(Checksum.Accumulate(message, pseudo)));
    }

    /// <summary>What parsing an emitted <paramref name="header"/> gives back: the SACK blocks that did not fit are dropped.</summary>
    public static TcpHeader AsParsed(TcpHeader header)
    {
        int emitted = header.SackBlocksEmitted;
        for (int i = emitted; i < 4; i++) header.SackBlocks[i] = default;
        header.SackBlockCount = (byte)emitted;
        return header;
    }

    /// <summary>Field-by-field comparison that names the field that differs.</summary>
    public static void AssertSame(TcpHeader expected, TcpHeader actual)
    {
        Assert.Equal(expected.SourcePort, actual.SourcePort);
        Assert.Equal(expected.DestinationPort, actual.DestinationPort);
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.Acknowledgment, actual.Acknowledgment);
        Assert.Equal(expected.Flags, actual.Flags);
        Assert.Equal(expected.Window, actual.Window);
        Assert.Equal(expected.UrgentPointer, actual.UrgentPointer);
        Assert.Equal(expected.MaxSegmentSize, actual.MaxSegmentSize);
        Assert.Equal(expected.WindowScale, actual.WindowScale);
        Assert.Equal(expected.SackPermitted, actual.SackPermitted);
        Assert.Equal(expected.HasTimestamps, actual.HasTimestamps);
        Assert.Equal(expected.TimestampValue, actual.TimestampValue);
        Assert.Equal(expected.TimestampEcho, actual.TimestampEcho);
        Assert.Equal(expected.SackBlockCount, actual.SackBlockCount);
        for (int i = 0; i < 4; i++) Assert.Equal(expected.SackBlocks[i], actual.SackBlocks[i]);
        Assert.Equal(expected, actual); // and the record's own equality agrees
    }
}
