using System.Buffers.Binary;
using System.Net;

namespace Rx.Netstack.Tests.Devices;

/// <summary>
/// Hand-built IPv4/UDP packets for device tests, independent of the library's wire code
/// (so device tests neither depend on it nor share its mistakes).
/// </summary>
internal static class TestPackets
{
    /// <summary>An IPv4 packet (20-byte header, DF, TTL 64) carrying a UDP datagram with a correct checksum.</summary>
    public static byte[] Udp4(IPAddress source, int sourcePort, IPAddress destination, int destinationPort, ReadOnlySpan<byte> payload)
    {
        int udpLength = 8 + payload.Length;
        var packet = new byte[20 + udpLength];
        Span<byte> ip = packet.AsSpan(0, 20);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], 0x1234);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000); // DF
        ip[8] = 64;
        ip[9] = 17;
        source.TryWriteBytes(ip[12..16], out _);
        destination.TryWriteBytes(ip[16..20], out _);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum(ip));

        Span<byte> udp = packet.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udpLength);
        payload.CopyTo(udp[8..]);

        // RFC 768: the checksum covers a pseudo-header of addresses, protocol and UDP length.
        Span<byte> pseudo = stackalloc byte[12];
        ip[12..20].CopyTo(pseudo);
        pseudo[9] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], (ushort)udpLength);
        ushort sum = InternetChecksum(udp, Sum(pseudo));
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], sum == 0 ? (ushort)0xffff : sum);
        return packet;
    }

    /// <summary>A parsed IPv4/UDP packet, or null when <paramref name="packet"/> is not one.</summary>
    public static (IPAddress Source, int SourcePort, IPAddress Destination, int DestinationPort, byte[] Payload)? ParseUdp4(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 28 || packet[0] >> 4 != 4 || packet[9] != 17) return null;
        int headerLength = (packet[0] & 0xf) * 4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if (total > packet.Length || headerLength + 8 > total) return null;
        ReadOnlySpan<byte> udp = packet[headerLength..total];
        int udpLength = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        if (udpLength < 8 || udpLength > udp.Length) return null;
        return (new IPAddress(packet[12..16]), BinaryPrimitives.ReadUInt16BigEndian(udp),
            new IPAddress(packet[16..20]), BinaryPrimitives.ReadUInt16BigEndian(udp[2..]),
            udp[8..udpLength].ToArray());
    }

    /// <summary>RFC 1071 checksum of <paramref name="data"/> plus an initial partial sum.</summary>
    public static ushort InternetChecksum(ReadOnlySpan<byte> data, uint initial = 0)
    {
        uint sum = Sum(data, initial);
        while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)~sum;
    }

    private static uint Sum(ReadOnlySpan<byte> data, uint initial = 0)
    {
        uint sum = initial;
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (i < data.Length) sum += (uint)data[i] << 8;
        return sum;
    }
}
