using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>
/// A read view over the 8-byte ICMPv4/ICMPv6 header (RFC 792, RFC 4443 §2.1): type, code, checksum and the 4-byte
/// "rest of header", which each type reads differently. The constructor checks the length once.
/// </summary>
internal readonly ref struct IcmpView
{
    internal const int Type = 0;
    internal const int Code = 1;
    internal const int Checksum = 2;
    internal const int Rest = 4;
    internal const int Identifier = 4;
    internal const int SequenceNumber = 6;
    internal const int V4NextHopMtu = 6;
    internal const int V4Pointer = 4;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps <paramref name="bytes"/>, which must hold at least <see cref="IcmpHeader.HeaderLength"/> bytes.</summary>
    public IcmpView(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < IcmpHeader.HeaderLength) throw new ArgumentException("Shorter than an ICMP header.", nameof(bytes));
        _bytes = bytes;
    }

    public byte TypeField => _bytes[Type];
    public byte CodeField => _bytes[Code];
    public ushort IdentifierField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Identifier..]);
    public ushort SequenceNumberField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[SequenceNumber..]);
    public ushort V4NextHopMtuField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[V4NextHopMtu..]);
    public byte V4PointerField => _bytes[V4Pointer];
    public uint RestAsUInt32 => BinaryPrimitives.ReadUInt32BigEndian(_bytes[Rest..]);
}
