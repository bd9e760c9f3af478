using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>A read view over the fixed 20 bytes of a TCP header (RFC 9293 §3.1). The constructor checks the length once.</summary>
internal readonly ref struct TcpView
{
    internal const int SourcePort = 0;
    internal const int DestinationPort = 2;
    internal const int Sequence = 4;
    internal const int Acknowledgment = 8;
    internal const int DataOffset = 12;
    internal const int Flags = 13;
    internal const int Window = 14;
    internal const int Checksum = 16;
    internal const int UrgentPointer = 18;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps <paramref name="bytes"/>, which must hold at least <see cref="TcpHeader.MinHeaderLength"/> bytes.</summary>
    public TcpView(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < TcpHeader.MinHeaderLength) throw new ArgumentException("Shorter than a TCP header.", nameof(bytes));
        _bytes = bytes;
    }

    public ushort SourcePortField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[SourcePort..]);
    public ushort DestinationPortField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[DestinationPort..]);
    public SeqNumber SequenceField => new(BinaryPrimitives.ReadUInt32BigEndian(_bytes[Sequence..]));
    public SeqNumber AcknowledgmentField => new(BinaryPrimitives.ReadUInt32BigEndian(_bytes[Acknowledgment..]));
    /// <summary>The header length in bytes (data offset × 4).</summary>
    public int HeaderLength => (_bytes[DataOffset] >> 4) * 4;
    public TcpFlags FlagsField => (TcpFlags)_bytes[Flags];
    public ushort WindowField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Window..]);
    public ushort UrgentPointerField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[UrgentPointer..]);
}
