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
}
