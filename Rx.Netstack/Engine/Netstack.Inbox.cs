using System.Buffers;
using System.Collections.Concurrent;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>A received frame in a pooled buffer (a copy, or another stack's transmit buffer it handed over); the pass
    /// releases the buffer after processing it.</summary>
    private readonly record struct InboxFrame(byte[] Buffer, int Offset, int Length, bool FromLoopback, bool ChecksumTrusted,
        TransmitBuffer? Owner = null)
    {
        public ReadOnlySpan<byte> Bytes => Buffer.AsSpan(Offset, Length);

        /// <summary>Gives the buffer back to its pool.</summary>
        public void Release()
        {
            if (Owner is not null) TransmitBuffer.Return(Owner);
            else InboxBufferPool.Shared.Return(Buffer);
        }
    }

    private readonly ConcurrentQueue<InboxFrame> _frameQueue = new();
    private int _queuedFrames;

    /// <summary>Copies a frame into the inbox (any thread) and makes sure a pass will run.</summary>
    internal void EnqueueFrame(ReadOnlySpan<byte> frame, bool fromLoopback, bool checksumTrusted)
    {
        if (!TryReserveInboxSlot(frame.Length)) return;
        byte[] buffer = InboxBufferPool.Shared.Rent(frame.Length);
        frame.CopyTo(buffer);
        _frameQueue.Enqueue(new InboxFrame(buffer, 0, frame.Length, fromLoopback, checksumTrusted));
        SchedulePass();
    }

    /// <summary>Queues a frame whose buffer was handed over (no copy); the buffer is released if the inbox refuses it.</summary>
    private void EnqueueFrame(InboxFrame frame)
    {
        if (!TryReserveInboxSlot(frame.Length))
        {
            frame.Release();
            return;
        }
        _frameQueue.Enqueue(frame);
        SchedulePass();
    }

    /// <summary>Counts a frame into the inbox; false (counted as a drop) when it is empty, the stack is gone or the inbox is full.</summary>
    private bool TryReserveInboxSlot(int length)
    {
        if (_disposed) return false;
        if (length == 0)
        {
            Interlocked.Increment(ref _counters.Drops[(int)DropReason.BadIpVersion]);
            return false;
        }
        if (Interlocked.Increment(ref _queuedFrames) > Options.FrameQueueCapacity)
        {
            Interlocked.Decrement(ref _queuedFrames);
            Interlocked.Increment(ref _counters.Drops[(int)DropReason.InboxFull]);
            return false;
        }
        return true;
    }
}
