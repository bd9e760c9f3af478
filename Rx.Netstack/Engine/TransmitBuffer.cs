using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rx.Netstack.Engine;

/// <summary>
/// The engine's transmit buffer, as memory a receiving stack can take instead of copying. A frame handed to a device is
/// borrowed (see <see cref="IPacketDevice"/>); but when the device hands it synchronously to another <see cref="Netstack"/>
/// in the same process (an in-memory pipe), that stack may <see cref="TryDetach"/> the buffer during the call: it keeps the
/// frame as its inbox entry and gives the buffer back to the pool once processed, while the sender goes on with another
/// pooled buffer. One copy of every large frame less between two stacks, and no allocation in steady state. A device's
/// read loop uses the same buffers through <see cref="DeviceReadBuffer"/>, so a TUN super-packet reaches the stack uncopied.
/// </summary>
/// <remarks>A buffer keeps its array for life, so memory handed out before a detach still reads the same bytes (other
/// observers of the same frame see it intact until the receiver's pass, which runs after the sender's).</remarks>
internal sealed class TransmitBuffer : MemoryManager<byte>
{
    /// <summary>Frames shorter than this are copied: copying a few KiB costs less than cycling a 64 KiB buffer.</summary>
    public const int DetachThreshold = 8 * 1024;

    /// <summary>Bytes in every transmit buffer: room for the largest IP header plus the largest IP payload.</summary>
    public const int Size = IpLayer.HeaderRoom + 65535;

    /// <summary>Free buffers kept for reuse (beyond this, returned buffers are left to the GC): enough for the frames of a few
    /// 256 KiB windows in flight between two stacks, or a burst of TUN super-packets read into <see cref="DeviceReadBuffer"/>s
    /// (up to 64 a poll) waiting in the inbox: 4 MiB at most.</summary>
    private const int PoolLimit = 64;

    private static readonly ConcurrentQueue<TransmitBuffer> Pool = new();
    private static int s_pooled;

    private readonly byte[] _array = new byte[Size];
    private bool _inFlight;
    private bool _detached;
    // A detached buffer goes back to the pool only when both its sender (EndSend) and its receiver (Return) let go: the
    // receiver may finish with it on another thread before the sender has even returned from the send.
    private int _holders;

    private TransmitBuffer() { }

    /// <summary>A buffer from the pool, or a new one.</summary>
    public static TransmitBuffer Rent()
    {
        if (Pool.TryDequeue(out TransmitBuffer? buffer))
        {
            Interlocked.Decrement(ref s_pooled);
            return buffer;
        }
        return new TransmitBuffer();
    }

    /// <summary>Gives a detached buffer back once its frame was processed.</summary>
    public static void Return(TransmitBuffer buffer) => buffer.Release();

    private void Release()
    {
        int holders = Interlocked.Decrement(ref _holders);
        Debug.Assert(holders >= 0, "a transmit buffer was let go more often than it was held");
        if (holders != 0) return;
        _detached = false;
        Recycle(this);
    }

    private static void Recycle(TransmitBuffer buffer)
    {
        Debug.Assert(!buffer._inFlight && !buffer._detached && Volatile.Read(ref buffer._holders) == 0, "only a free buffer goes back to the pool");
        if (Interlocked.Increment(ref s_pooled) > PoolLimit)
        {
            Interlocked.Decrement(ref s_pooled);
            return;
        }
        Pool.Enqueue(buffer);
    }

    /// <summary>The array the engine writes packets into.</summary>
    public byte[] Array => _array;

    /// <summary>The bytes at <paramref name="start"/>, as memory a receiver may detach between <see cref="BeginSend"/> and <see cref="EndSend"/>.</summary>
    public ReadOnlyMemory<byte> Frame(int start, int length) => CreateMemory(start, length);

    /// <summary>Marks the frame as being handed to the device: a receiver may detach the buffer until <see cref="EndSend"/>.</summary>
    public void BeginSend() => _inFlight = true;

    /// <summary>Ends the hand-off. True when a receiver took the buffer: the sender must take another (and no longer touch
    /// this one).</summary>
    public bool EndSend()
    {
        _inFlight = false;
        if (!_detached) return false;
        Release();
        return true;
    }

    /// <summary>
    /// Takes the buffer holding the frame being sent; the caller gives it back with <see cref="Return"/> once done with the
    /// frame. False outside a send, or when another receiver took it already.
    /// </summary>
    public bool TryDetach()
    {
        if (!_inFlight) return false;
        Debug.Assert(!_detached, "a buffer in flight is not detached yet");
        _inFlight = false;
        _detached = true;
        Volatile.Write(ref _holders, 2); // the sender until EndSend, the receiver until Return
        return true;
    }

    /// <summary>One more holder of a detached buffer (a connection keeping a payload in it); it lets go with <see cref="Return"/>.</summary>
    public void AddHolder()
    {
        int holders = Interlocked.Increment(ref _holders);
        Debug.Assert(_detached && holders > 1, "only a detached buffer, still held by its receiver, takes more holders");
    }

    /// <summary>Where <paramref name="data"/> starts in this buffer; false when it is not (all) in this buffer.</summary>
    public bool TryLocate(ReadOnlySpan<byte> data, out int start) =>
        ((ReadOnlySpan<byte>)_array).Overlaps(data, out start) && start >= 0 && start <= _array.Length - data.Length;

    /// <inheritdoc />
    public override Span<byte> GetSpan() => _array;

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        GCHandle handle = GCHandle.Alloc(_array, GCHandleType.Pinned);
        unsafe
        {
            return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle, this);
        }
    }

    /// <inheritdoc />
    public override void Unpin() { }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) { }
}
