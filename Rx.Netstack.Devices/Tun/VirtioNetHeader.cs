using System.Buffers.Binary;

namespace Rx.Netstack.Devices;

/// <summary>
/// <c>struct virtio_net_hdr</c> (virtio 1.x §5.1.6, the 10-byte form without <c>num_buffers</c>): what a TUN descriptor opened
/// with <c>IFF_VNET_HDR</c> puts before every packet it reads and expects before every packet written to it. It says
/// whether the packet is a GSO super-packet (one TCP segment larger than the MTU that the kernel did not cut up) and
/// whether its transport checksum is only partial. Multi-byte fields are in the host's byte order for a TUN device
/// (the "legacy" virtio rule, little-endian on every host this runs on).
/// </summary>
internal readonly record struct VirtioNetHeader(byte Flags, byte GsoType, ushort HeaderLength, ushort GsoSize, ushort ChecksumStart, ushort ChecksumOffset)
{
    /// <summary>Bytes of the header as TUN uses it by default (<c>TUNSETVNETHDRSZ</c> not called).</summary>
    public const int Size = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum at <c>ChecksumStart + ChecksumOffset</c> holds only the pseudo-header sum.</summary>
    public const byte FlagNeedsChecksum = 1;
    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the sender already checked the checksum.</summary>
    public const byte FlagDataValid = 2;

    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoUdp = 3;
    public const byte GsoTcpV6 = 4;
    public const byte GsoUdpL4 = 5;
    /// <summary>VIRTIO_NET_HDR_GSO_ECN: a bit added to the type when the segment carries CWR.</summary>
    public const byte GsoEcn = 0x80;

    /// <summary>A plain packet: no GSO, checksum complete. Written before each packet the device transmits.</summary>
    public static VirtioNetHeader Plain => default;

    /// <summary>True when the packet is a GSO super-packet (to be cut into <see cref="GsoSize"/>-byte segments).</summary>
    public bool IsGso => (GsoType & ~GsoEcn) != GsoNone;

    /// <summary>
    /// Reads the header at the start of <paramref name="packet"/> (header and IP packet, as one read() returned them). False,
    /// and nothing to deliver, when the read is shorter than the header, names an unknown GSO type, or points its partial
    /// checksum outside the packet: the kernel never sends those, so such a read is counted and dropped, never delivered.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out VirtioNetHeader header)
    {
        header = default;
        if (packet.Length < Size) return false;
        var candidate = new VirtioNetHeader(
            packet[0], packet[1],
            BinaryPrimitives.ReadUInt16LittleEndian(packet[2..]),
            BinaryPrimitives.ReadUInt16LittleEndian(packet[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(packet[6..]),
            BinaryPrimitives.ReadUInt16LittleEndian(packet[8..]));
        int ipLength = packet.Length - Size;
        switch (candidate.GsoType & ~GsoEcn)
        {
            case GsoNone:
                if ((candidate.GsoType & GsoEcn) != 0) return false; // ECN only qualifies a GSO type
                break;
            case GsoTcpV4 or GsoTcpV6 or GsoUdp or GsoUdpL4:
                if (candidate.GsoSize == 0) return false; // a super-packet without a segment size cannot be cut
                break;
            default:
                return false;
        }
        // A partial checksum needs its 16-bit field inside the packet.
        if ((candidate.Flags & FlagNeedsChecksum) != 0 && candidate.ChecksumStart + candidate.ChecksumOffset + 2 > ipLength) return false;
        if (ipLength == 0) return false;
        header = candidate;
        return true;
    }

    /// <summary>Writes the header into the first <see cref="Size"/> bytes of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Size, nameof(destination));
        destination[0] = Flags;
        destination[1] = GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], ChecksumOffset);
    }
}
