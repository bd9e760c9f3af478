using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>A read view over the 8-byte UDP header (RFC 768). The constructor checks the length once.</summary>
internal readonly ref struct UdpView
{
    internal const int SourcePort = 0;
    internal const int DestinationPort = 2;
    internal const int Length = 4;
    internal const int Checksum = 6;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps <paramref name="bytes"/>, which must hold at least <see cref="UdpHeader.HeaderLength"/> bytes.</summary>
    public UdpView(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < UdpHeader.HeaderLength) throw new ArgumentException("Shorter than a UDP header.", nameof(bytes));
        _bytes = bytes;
    }

    public ushort SourcePortField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[SourcePort..]);
    public ushort DestinationPortField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[DestinationPort..]);
    public int LengthField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Length..]);
    public ushort ChecksumField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Checksum..]);
}
