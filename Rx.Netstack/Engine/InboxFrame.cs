namespace Rx.Netstack.Engine;

/// <summary>A received frame in a pooled buffer (a copy, or another stack's transmit buffer it handed over); the pass
/// releases the buffer after processing it.</summary>
internal readonly record struct InboxFrame(byte[] Buffer, int Offset, int Length, bool FromLoopback, bool ChecksumTrusted,
    TransmitBuffer? Owner = null)
{
    public ReadOnlySpan<byte> Bytes => Buffer.AsSpan(Offset, Length);

    /// <summary>Gives the buffer back to its pool.</summary>
    public void Release()
    {
        if (Owner is not null) TransmitBuffer.Return(Owner);
        else InboxBufferPool.Return(Buffer);
    }
}
