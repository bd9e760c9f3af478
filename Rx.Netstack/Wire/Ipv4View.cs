using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>
/// A read view over the fixed 20 bytes of an IPv4 header (RFC 791 §3.1). The constructor checks the length once,
/// so no accessor can fail afterwards.
/// </summary>
internal readonly ref struct Ipv4View
{
    internal const int VersionIhl = 0;
    internal const int TypeOfService = 1;
    internal const int TotalLength = 2;
    internal const int Identification = 4;
    internal const int FlagsFragmentOffset = 6;
    internal const int TimeToLive = 8;
    internal const int Protocol = 9;
    internal const int HeaderChecksum = 10;
    internal const int SourceAddress = 12;
    internal const int DestinationAddress = 16;

    internal const ushort DontFragmentBit = 0x4000;
    internal const ushort MoreFragmentsBit = 0x2000;
    internal const ushort OffsetMask = 0x1FFF;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps <paramref name="bytes"/>, which must hold at least <see cref="Ipv4Header.HeaderLength"/> bytes.</summary>
    public Ipv4View(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Ipv4Header.HeaderLength) throw new ArgumentException("Shorter than an IPv4 header.", nameof(bytes));
        _bytes = bytes;
    }

    public int Version => _bytes[VersionIhl] >> 4;
    public int HeaderLength => (_bytes[VersionIhl] & 0x0F) * 4;
    public byte TypeOfServiceByte => _bytes[TypeOfService];
    public int TotalLengthField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[TotalLength..]);
    public ushort IdentificationField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Identification..]);
    private ushort FlagsAndOffset => BinaryPrimitives.ReadUInt16BigEndian(_bytes[FlagsFragmentOffset..]);
    public bool DontFragment => (FlagsAndOffset & DontFragmentBit) != 0;
    public bool MoreFragments => (FlagsAndOffset & MoreFragmentsBit) != 0;
    /// <summary>The fragment offset in bytes (the 13-bit field counts 8-byte units).</summary>
    public int FragmentOffsetBytes => (FlagsAndOffset & OffsetMask) * 8;
    public byte Ttl => _bytes[TimeToLive];
    public IpProtocol ProtocolField => (IpProtocol)_bytes[Protocol];
    public NetAddress Source => NetAddress.ReadV4(_bytes[SourceAddress..]);
    public NetAddress Destination => NetAddress.ReadV4(_bytes[DestinationAddress..]);
}
