using System.Buffers.Binary;
using System.Diagnostics;

namespace Rx.Netstack.Devices;

/// <summary>
/// Transmit checksum offload over a TUN or TAP descriptor with virtio-net headers: for an outgoing TCP or UDP packet whose checksum
/// the stack left zero (<see cref="ChecksumOffload.Transmit"/>), the header that asks the kernel to finish it
/// (<c>VIRTIO_NET_HDR_F_NEEDS_CSUM</c>) and the pseudo-header sum the checksum field must then hold. The kernel marks such a
/// packet <c>CHECKSUM_PARTIAL</c>: delivered locally it is not checked (nothing can have corrupted it), forwarded it is
/// finished from that seed over the bytes from <c>csum_start</c> on, as a network card would.
/// </summary>
internal static class PartialChecksum
{
    /// <summary>Bytes of an outgoing frame copied (to patch the seed in) at most: an Ethernet header with an 802.1Q tag (TAP), a
    /// 60-byte IPv4 header and a TCP header up to its checksum.</summary>
    public const int MaxPrefixLength = 18 + 60 + 18;

    private const byte Tcp = 6, Udp = 17;

    /// <summary>
    /// True for an unfragmented TCP or UDP packet over IPv4, or over IPv6 without extension headers, whose checksum field is
    /// zero; then <paramref name="header"/> asks the kernel to finish the checksum, <paramref name="prefixLength"/> is how many
    /// bytes from the start reach the end of the checksum field and <paramref name="seed"/> is the value to write there.
    /// False for anything else (ICMP, fragments, a packet that already has its checksum): it goes out as it is.
    /// </summary>
    public static bool TryPlan(ReadOnlySpan<byte> packet, out VirtioNetHeader header, out int prefixLength, out ushort seed) =>
        TryPlan(packet, 0, out header, out prefixLength, out seed);

    /// <summary>
    /// The same for the IP packet that starts <paramref name="ipStart"/> bytes into <paramref name="frame"/> (after a TAP frame's
    /// Ethernet header): <c>csum_start</c> and <paramref name="prefixLength"/> count from the start of the frame, as the kernel
    /// counts them on a TAP descriptor.
    /// </summary>
    public static bool TryPlan(ReadOnlySpan<byte> frame, int ipStart, out VirtioNetHeader header, out int prefixLength, out ushort seed) =>
        TryPlan(frame, frame.Length, ipStart, out header, out prefixLength, out seed);

    /// <summary>
    /// The same for a frame of <paramref name="frameLength"/> bytes of which only the start, <paramref name="headers"/>, is at
    /// hand (a packet sent in pieces, its payload elsewhere): false when those bytes do not reach the end of the checksum field.
    /// </summary>
    public static bool TryPlan(ReadOnlySpan<byte> headers, int frameLength, int ipStart, out VirtioNetHeader header, out int prefixLength, out ushort seed)
    {
        Debug.Assert(ipStart is >= 0 and <= 18, "no link header, or an Ethernet one with at most one tag");
        Debug.Assert(headers.Length <= frameLength, "the headers are the start of the frame");
        ReadOnlySpan<byte> packet = headers[Math.Min(ipStart, headers.Length)..];
        int packetLength = frameLength - Math.Min(ipStart, headers.Length);
        header = default;
        prefixLength = 0;
        seed = 0;
        if (packet.Length < 20) return false;
        int transportStart, transportLength;
        byte protocol;
        uint sum;
        switch (packet[0] >> 4)
        {
            case 4:
                transportStart = (packet[0] & 0x0f) * 4;
                int total = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
                if (transportStart < 20 || total > packetLength || total < transportStart) return false;
                if ((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3fff) != 0) return false; // MF or an offset: a fragment
                protocol = packet[9];
                transportLength = total - transportStart;
                sum = SumWords(packet[12..20]);
                break;
            case 6:
                if (packet.Length < 40) return false;
                transportStart = 40;
                protocol = packet[6]; // an extension header (a fragment header among them) is not planned for
                transportLength = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
                if (40 + transportLength > packetLength) return false;
                sum = SumWords(packet[8..40]);
                break;
            default:
                return false;
        }
        int checksumOffset = protocol switch { Tcp => 16, Udp => 6, _ => -1 };
        if (checksumOffset < 0 || transportLength < checksumOffset + 2 || transportStart + checksumOffset + 2 > packet.Length) return false;
        if (BinaryPrimitives.ReadUInt16BigEndian(packet[(transportStart + checksumOffset)..]) != 0) return false;

        // RFC 9293 §3.1 / RFC 768 / RFC 8200 §8.1: the pseudo-header is the addresses, the protocol and the transport length.
        sum += protocol + (uint)transportLength;
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
        seed = (ushort)sum; // not complemented: the kernel adds the data's sum to it and complements the total
        prefixLength = ipStart + transportStart + checksumOffset + 2;
        header = new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, VirtioNetHeader.GsoNone, 0, 0, (ushort)(ipStart + transportStart), (ushort)checksumOffset);
        return true;
    }

    private static uint SumWords(ReadOnlySpan<byte> bytes)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < bytes.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(bytes[i..]);
        return sum;
    }
}
