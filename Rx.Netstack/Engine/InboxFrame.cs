namespace Rx.Netstack.Engine;

/// <summary>A received frame in a pooled buffer (a copy, or another stack's transmit buffer it handed over); the pass
/// releases the buffer after processing it. A TCP segment the round merged from a run (<see cref="InboxCoalescer"/>) says
/// how many segments it stands for and their size (<see cref="Coalesced"/>).</summary>
internal readonly record struct InboxFrame(byte[] Buffer, int Offset, int Length, bool FromLoopback, bool ChecksumTrusted,
    TransmitBuffer? Owner = null, CoalescedRun Coalesced = default)
{
    public ReadOnlySpan<byte> Bytes => Buffer.AsSpan(Offset, Length);

    /// <summary>Gives the buffer back to its pool.</summary>
    public void Release()
    {
        if (Owner is not null) TransmitBuffer.Return(Owner);
        else InboxBufferPool.Return(Buffer);
    }
}

/// <summary>What a merged TCP segment stands for (as GRO's <c>gso_segs</c> and <c>gso_size</c>): <see cref="Segments"/>
/// segments of <see cref="SegmentSize"/> payload bytes each (the last may be shorter). Default: one segment, not merged.</summary>
internal readonly record struct CoalescedRun(int Segments, int SegmentSize)
{
    /// <summary>Segments the packet counts for in the IP and TCP counters: at least one.</summary>
    public int Count => Math.Max(Segments, 1);
}
