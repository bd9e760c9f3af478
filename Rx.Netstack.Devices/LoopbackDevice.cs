using System.Reactive.Concurrency;
using System.Reactive.Subjects;

namespace Rx.Netstack.Devices;

/// <summary>
/// A device whose transmitted frames come back on its own <see cref="Received"/>: a stack talking to itself.
/// </summary>
/// <remarks>
/// Frames are copied into pooled buffers, queued, and delivered later on the scheduler, so a stack that
/// sends to itself during a pass receives the frame in a later pass instead of re-entering the current one.
/// A frame longer than <see cref="Mtu"/>, or arriving at a full queue, is dropped and counted.
/// </remarks>
public sealed class LoopbackDevice : IPacketDevice, IDisposable
{
    /// <summary>The default MTU: the largest IPv4 packet.</summary>
    public const int DefaultMtu = 65535;

    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly FrameQueue _queue;
    private readonly TransmitObserver _transmit;
    private long _droppedOversize;
    private long _droppedQueueFull;

    /// <summary>Creates a loopback device.</summary>
    /// <param name="scheduler">Where looped frames are delivered.</param>
    /// <param name="mtu">The largest frame carried.</param>
    /// <param name="capacity">Frames queued before further ones are dropped.</param>
    public LoopbackDevice(IScheduler scheduler, int mtu = DefaultMtu, int capacity = 1024)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 1);
        Mtu = mtu;
        _queue = new FrameQueue(_received, scheduler, capacity, mtu);
        _transmit = new TransmitObserver(this);
    }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received => _received;

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <inheritdoc />
    public int Mtu { get; }

    /// <summary>Frames dropped: too long, or the queue was full.</summary>
    public long Dropped => DroppedOversize + DroppedQueueFull;

    /// <summary>Frames dropped for being longer than <see cref="Mtu"/>.</summary>
    public long DroppedOversize => Interlocked.Read(ref _droppedOversize);

    /// <summary>Frames dropped because the queue was full.</summary>
    public long DroppedQueueFull => Interlocked.Read(ref _droppedQueueFull);

    /// <summary>Discards queued frames; <see cref="Received"/> completes on the scheduler.</summary>
    public void Dispose() => _queue.Close(discardPending: true);

    private void Send(ReadOnlyMemory<byte> frame)
    {
        if (frame.Length > Mtu) Interlocked.Increment(ref _droppedOversize);
        else if (!_queue.TryEnqueue(frame.Span) && !_queue.IsClosed) Interlocked.Increment(ref _droppedQueueFull);
    }

    private sealed class TransmitObserver(LoopbackDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => owner.Send(value);

        public void OnError(Exception error) => owner._queue.Close(discardPending: false, error);

        public void OnCompleted() => owner._queue.Close(discardPending: false);
    }
}
