using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>
/// A read view over the fixed 40-byte IPv6 header (RFC 8200 §3). The constructor checks the length once,
/// so no accessor can fail afterwards.
/// </summary>
internal readonly ref struct Ipv6View
{
    internal const int VersionClassFlow = 0;
    internal const int PayloadLength = 4;
    internal const int NextHeader = 6;
    internal const int HopLimit = 7;
    internal const int SourceAddress = 8;
    internal const int DestinationAddress = 24;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps <paramref name="bytes"/>, which must hold at least <see cref="Ipv6Header.HeaderLength"/> bytes.</summary>
    public Ipv6View(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Ipv6Header.HeaderLength) throw new ArgumentException("Shorter than an IPv6 header.", nameof(bytes));
        _bytes = bytes;
    }

    private uint First32 => BinaryPrimitives.ReadUInt32BigEndian(_bytes);
    public int Version => (int)(First32 >> 28);
    public byte TrafficClass => (byte)(First32 >> 20);
    public uint FlowLabel => First32 & 0xF_FFFF;
    public int PayloadLengthField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[PayloadLength..]);
    public byte NextHeaderField => _bytes[NextHeader];
    public byte HopLimitField => _bytes[HopLimit];
    public NetAddress Source => NetAddress.ReadV6(_bytes[SourceAddress..]);
    public NetAddress Destination => NetAddress.ReadV6(_bytes[DestinationAddress..]);
}

/// <summary>
/// A read view over an IPv6 fragment header (RFC 8200 §4.5): next header, reserved, offset/M, identification.
/// </summary>
internal readonly ref struct Ipv6FragmentView
{
    internal const int NextHeader = 0;
    internal const int OffsetAndFlags = 2;
    internal const int Identification = 4;

    /// <summary>The offset field sits in the top 13 bits, already a multiple of 8 bytes.</summary>
    internal const ushort OffsetMask = 0xFFF8;
    internal const ushort MoreFragmentsBit = 0x0001;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps <paramref name="bytes"/>, which must hold at least <see cref="Ipv6Header.FragmentHeaderLength"/> bytes.</summary>
    public Ipv6FragmentView(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Ipv6Header.FragmentHeaderLength) throw new ArgumentException("Shorter than a fragment header.", nameof(bytes));
        _bytes = bytes;
    }

    public byte NextHeaderField => _bytes[NextHeader];
    private ushort OffsetFlags => BinaryPrimitives.ReadUInt16BigEndian(_bytes[OffsetAndFlags..]);
    public int FragmentOffsetBytes => OffsetFlags & OffsetMask;
    public bool MoreFragments => (OffsetFlags & MoreFragmentsBit) != 0;
    public uint IdentificationField => BinaryPrimitives.ReadUInt32BigEndian(_bytes[Identification..]);
}
