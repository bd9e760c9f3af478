using System.Buffers.Binary;

namespace Rx.Netstack.Devices;

/// <summary>
/// Reads and sets the ECN field of an IP packet in place (RFC 3168 §5): the low two bits of the IPv4 TOS byte or of the IPv6
/// traffic class. 00 Not-ECT, 01 ECT(1), 10 ECT(0), 11 CE.
/// </summary>
internal static class EcnMarking
{
    private const byte CongestionExperienced = 3;

    /// <summary>True when <paramref name="packet"/> is an IPv4 or IPv6 packet sent ECN-capable (ECT(0) or ECT(1)).</summary>
    public static bool IsEcnCapable(ReadOnlySpan<byte> packet)
    {
        int ecn = Field(packet);
        return ecn is 1 or 2;
    }

    /// <summary>Sets the ECN field of an ECN-capable packet to CE, fixing the IPv4 header checksum (RFC 1624 arithmetic is
    /// not needed: the header is short, it is summed again).</summary>
    public static void MarkCongestion(Span<byte> packet)
    {
        if (!IsEcnCapable(packet)) return;
        if (packet[0] >> 4 == 4)
        {
            packet[1] |= CongestionExperienced;
            int headerLength = (packet[0] & 0x0F) * 4;
            BinaryPrimitives.WriteUInt16BigEndian(packet[10..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(packet[10..], HeaderChecksum(packet[..headerLength]));
        }
        else
        {
            packet[1] |= CongestionExperienced << 4; // traffic class bits 0–1 sit in the high nibble of byte 1
        }
    }

    /// <summary>The ECN field, or −1 when <paramref name="packet"/> is not a whole IPv4 or IPv6 header.</summary>
    private static int Field(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 20) return -1;
        switch (packet[0] >> 4)
        {
            case 4:
                int headerLength = (packet[0] & 0x0F) * 4;
                return headerLength >= 20 && headerLength <= packet.Length ? packet[1] & 3 : -1;
            case 6:
                return packet.Length >= 40 ? (packet[1] >> 4) & 3 : -1;
            default:
                return -1;
        }
    }

    private static ushort HeaderChecksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < header.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(header[i..]);
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
