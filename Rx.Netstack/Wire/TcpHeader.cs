using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Rx.Netstack.Wire;

/// <summary>TCP control bits (RFC 9293 §3.1, RFC 3168).</summary>
[Flags]
public enum TcpFlags : byte
{
    /// <summary>No bits.</summary>
    None = 0,
    /// <summary>No more data from sender.</summary>
    Fin = 0x01,
    /// <summary>Synchronise sequence numbers.</summary>
    Syn = 0x02,
    /// <summary>Reset the connection.</summary>
    Rst = 0x04,
    /// <summary>Push function.</summary>
    Psh = 0x08,
    /// <summary>The acknowledgment field is significant.</summary>
    Ack = 0x10,
    /// <summary>The urgent pointer is significant.</summary>
    Urg = 0x20,
    /// <summary>ECN echo.</summary>
    Ece = 0x40,
    /// <summary>Congestion window reduced.</summary>
    Cwr = 0x80,
}

/// <summary>One SACK block: the bytes <c>[Left, Right)</c> were received (RFC 2018 §3).</summary>
/// <param name="Left">First sequence number of the block.</param>
/// <param name="Right">Sequence number just after the block.</param>
public readonly record struct SackBlock(SeqNumber Left, SeqNumber Right);

/// <summary>Up to four SACK blocks, stored inline so a header needs no allocation.</summary>
/// <remarks>Equality compares all four elements. (The runtime refuses the built-in value-type equality on an inline
/// array, so it is spelled out here.)</remarks>
[InlineArray(4)]
public struct SackBlockArray : IEquatable<SackBlockArray>
{
    private SackBlock _first;

    /// <summary>True when all four blocks are equal.</summary>
    public readonly bool Equals(SackBlockArray other)
    {
        for (int i = 0; i < 4; i++)
            if (this[i] != other[i]) return false;
        return true;
    }

    /// <inheritdoc />
    public override readonly bool Equals(object? obj) => obj is SackBlockArray other && Equals(other);

    /// <inheritdoc />
    public override readonly int GetHashCode() => HashCode.Combine(this[0], this[1], this[2], this[3]);

    /// <summary>True when all four blocks are equal.</summary>
    public static bool operator ==(SackBlockArray left, SackBlockArray right) => left.Equals(right);

    /// <summary>True when any block differs.</summary>
    public static bool operator !=(SackBlockArray left, SackBlockArray right) => !left.Equals(right);
}

/// <summary>
/// The meaning of a TCP header (RFC 9293 §3.1) with the options the stack understands. The payload is separate.
/// An option that is absent has its "Has…" flag false (or <see cref="MaxSegmentSize"/> 0, <see cref="WindowScale"/> −1).
/// </summary>
public record struct TcpHeader
{
    /// <summary>Source port.</summary>
    public ushort SourcePort;
    /// <summary>Destination port.</summary>
    public ushort DestinationPort;
    /// <summary>Sequence number of the first byte (or of the SYN/FIN).</summary>
    public SeqNumber Sequence;
    /// <summary>Acknowledgment number (meaningful with <see cref="TcpFlags.Ack"/>).</summary>
    public SeqNumber Acknowledgment;
    /// <summary>Control bits.</summary>
    public TcpFlags Flags;
    /// <summary>The raw 16-bit window field (not scaled).</summary>
    public ushort Window;
    /// <summary>Urgent pointer.</summary>
    public ushort UrgentPointer;
    /// <summary>MSS option (RFC 9293 §3.7.1); 0 when absent.</summary>
    public ushort MaxSegmentSize;
    /// <summary>Window-scale shift (RFC 7323 §2); −1 when absent.</summary>
    public sbyte WindowScale;
    /// <summary>SACK-permitted option (RFC 2018 §2).</summary>
    public bool SackPermitted;
    /// <summary>True when the timestamps option is present (RFC 7323 §3).</summary>
    public bool HasTimestamps;
    /// <summary>TSval.</summary>
    public uint TimestampValue;
    /// <summary>TSecr.</summary>
    public uint TimestampEcho;
    /// <summary>How many of <see cref="SackBlocks"/> are used (0–4).</summary>
    public byte SackBlockCount;
    /// <summary>SACK blocks (RFC 2018 §3); the first <see cref="SackBlockCount"/> are meaningful.</summary>
    public SackBlockArray SackBlocks;

    /// <summary>A header with the given ports and flags and no options.</summary>
    public TcpHeader(ushort sourcePort, ushort destinationPort, TcpFlags flags)
    {
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
        Flags = flags;
        WindowScale = -1;
    }

    /// <summary>True when every bit of <paramref name="flags"/> is set.</summary>
    public readonly bool Has(TcpFlags flags) => (Flags & flags) == flags;

    /// <summary>The sequence space the segment occupies: payload length plus one for SYN and one for FIN.</summary>
    public readonly int SequenceLength(int payloadLength) =>
        payloadLength + ((Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((Flags & TcpFlags.Fin) != 0 ? 1 : 0);

    /// <summary>Field-by-field equality; of the SACK blocks only the first <see cref="SackBlockCount"/> are compared.</summary>
    public readonly bool Equals(TcpHeader other)
    {
        if (SourcePort != other.SourcePort || DestinationPort != other.DestinationPort || Sequence != other.Sequence
            || Acknowledgment != other.Acknowledgment || Flags != other.Flags || Window != other.Window
            || UrgentPointer != other.UrgentPointer || MaxSegmentSize != other.MaxSegmentSize || WindowScale != other.WindowScale
            || SackPermitted != other.SackPermitted || HasTimestamps != other.HasTimestamps || TimestampValue != other.TimestampValue
            || TimestampEcho != other.TimestampEcho || SackBlockCount != other.SackBlockCount)
            return false;
        for (int i = 0; i < SackBlockCount && i < 4; i++)
            if (SackBlocks[i] != other.SackBlocks[i]) return false;
        return true;
    }

    /// <inheritdoc />
    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(SourcePort);
        hash.Add(DestinationPort);
        hash.Add(Sequence);
        hash.Add(Acknowledgment);
        hash.Add(Flags);
        hash.Add(Window);
        hash.Add(UrgentPointer);
        hash.Add(MaxSegmentSize);
        hash.Add(WindowScale);
        hash.Add(SackPermitted);
        hash.Add(HasTimestamps);
        hash.Add(TimestampValue);
        hash.Add(TimestampEcho);
        hash.Add(SackBlockCount);
        for (int i = 0; i < SackBlockCount && i < 4; i++) hash.Add(SackBlocks[i]);
        return hash.ToHashCode();
    }

    /// <summary>Appends a SACK block if fewer than four are present.</summary>
    public void AddSackBlock(SackBlock block)
    {
        if (SackBlockCount < 4) SackBlocks[SackBlockCount++] = block;
    }

    /// <summary>The header length with no options.</summary>
    public const int MinHeaderLength = 20;

    /// <summary>The largest header length (data offset 15).</summary>
    public const int MaxHeaderLength = 60;

    /// <summary>
    /// Parses a TCP segment: at least 20 bytes, data offset ≥ 5 and within the buffer, checksum verified with the
    /// pseudo-header, and options decoded (MSS, window scale, SACK-permitted, SACK, timestamps, NOP, EOL; unknown options
    /// skipped by their length; an option with length &lt; 2 or running past the header → <see cref="WireError.BadOption"/>;
    /// a known option with the wrong length → <see cref="WireError.BadOption"/>). Window scale above 14 is read as 14 (RFC 7323 §2.3).
    /// The segment must be exactly the IP payload (TCP has no length field of its own).
    /// </summary>
    /// <returns><see cref="WireError.None"/>, or <see cref="WireError.Truncated"/> (under 20 bytes),
    /// <see cref="WireError.BadHeaderLength"/> (data offset below 5 or beyond the buffer), <see cref="WireError.BadChecksum"/>,
    /// <see cref="WireError.BadOption"/>.</returns>
    public static WireError TryParse(ReadOnlySpan<byte> segment, NetAddress source, NetAddress destination,
        out TcpHeader header, out ReadOnlySpan<byte> payload, bool verifyChecksum = true)
    {
        header = default;
        payload = default;
        if (segment.Length < MinHeaderLength) return WireError.Truncated;
        var view = new TcpView(segment);
        int headerLength = view.HeaderLength;
        if (headerLength < MinHeaderLength || headerLength > segment.Length) return WireError.BadHeaderLength;
        if (verifyChecksum && !Checksum.Verify(segment, Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Length)))
            return WireError.BadChecksum;

        var parsed = new TcpHeader(view.SourcePortField, view.DestinationPortField, view.FlagsField)
        {
            Sequence = view.SequenceField,
            Acknowledgment = view.AcknowledgmentField,
            Window = view.WindowField,
            UrgentPointer = view.UrgentPointerField,
        };
        var error = TcpOptions.Read(segment[MinHeaderLength..headerLength], ref parsed);
        if (error != WireError.None) return error;

        header = parsed;
        payload = segment[headerLength..];
        return WireError.None;
    }

    /// <summary>The header length <see cref="Emit"/> writes for this header: 20 plus its options, padded to 4 bytes.</summary>
    public readonly int Length => MinHeaderLength + ((TcpOptions.UnpaddedLength(this) + 3) & ~3);

    /// <summary>How many of this header's SACK blocks <see cref="Emit"/> writes: as many as fit in the 40 bytes
    /// of option space beside the other options (4 alone, 3 with timestamps).</summary>
    public readonly int SackBlocksEmitted => TcpOptions.SackBlocksThatFit(this);

    /// <summary>
    /// Writes the header with its options at the start of <paramref name="segment"/>, whose payload is already in place at
    /// <c>segment[header.Length..][..payloadLength]</c>, and computes the checksum with the pseudo-header.
    /// Options are written in the order MSS, window scale, SACK-permitted, timestamps, SACK blocks (as many as fit in 40 bytes),
    /// padded with end-of-list bytes to a multiple of 4.
    /// </summary>
    /// <returns>The segment length (header + payload).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The segment does not fit in <paramref name="segment"/>.</exception>
    public static int Emit(Span<byte> segment, in TcpHeader header, int payloadLength, NetAddress source, NetAddress destination,
        bool computeChecksum = true)
    {
        int headerLength = header.Length;
        int length = headerLength + payloadLength;
        if (payloadLength < 0 || length > segment.Length) throw new ArgumentOutOfRangeException(nameof(payloadLength));
        var bytes = segment[..length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.SourcePort..], header.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.DestinationPort..], header.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[TcpView.Sequence..], header.Sequence.Value);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[TcpView.Acknowledgment..], header.Acknowledgment.Value);
        bytes[TcpView.DataOffset] = (byte)((headerLength / 4) << 4);
        bytes[TcpView.Flags] = (byte)header.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.Window..], header.Window);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.Checksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.UrgentPointer..], header.UrgentPointer);
        TcpOptions.Write(bytes[MinHeaderLength..headerLength], header);
        if (!computeChecksum) return length; // offloaded: the field stays zero
        uint pseudo = Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, length);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.Checksum..], Checksum.Finish(Checksum.Accumulate(bytes, pseudo)));
        return length;
    }

    /// <summary>
    /// Reads ports and sequence number from the first 8 bytes of a TCP header quoted in an ICMP error (RFC 792 and
    /// RFC 4443 quote at least that much; RFC 5927 §4.1 says to check the sequence number against the send window).
    /// No checksum can be verified on a quote.
    /// </summary>
    /// <returns>False when fewer than 8 bytes are quoted.</returns>
    public static bool TryReadQuoted(ReadOnlySpan<byte> quotedSegment, out ushort sourcePort, out ushort destinationPort, out SeqNumber sequence)
    {
        sourcePort = destinationPort = 0;
        sequence = default;
        if (quotedSegment.Length < 8) return false;
        sourcePort = BinaryPrimitives.ReadUInt16BigEndian(quotedSegment[TcpView.SourcePort..]);
        destinationPort = BinaryPrimitives.ReadUInt16BigEndian(quotedSegment[TcpView.DestinationPort..]);
        sequence = new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(quotedSegment[TcpView.Sequence..]));
        return true;
    }
}
