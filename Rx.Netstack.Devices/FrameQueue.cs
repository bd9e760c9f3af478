using System.Buffers;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Subjects;

namespace Rx.Netstack.Devices;

/// <summary>
/// A bounded queue of frame copies, delivered to a subject on a scheduler. Shared by the queued
/// <see cref="PipeDevice"/> and <see cref="LoopbackDevice"/>.
/// </summary>
/// <remarks>
/// Ownership: <see cref="TryEnqueue"/> copies the borrowed frame into a buffer rented from the pool;
/// the drain returns it to the pool right after the subscribers' <c>OnNext</c> returned (so they, too,
/// only borrow it). At most one drain is scheduled at a time, so a burst costs one scheduled item.
/// </remarks>
internal sealed class FrameQueue
{
    private readonly Subject<ReadOnlyMemory<byte>> _target;
    private readonly IScheduler _scheduler;
    private readonly ArrayPool<byte> _pool;
    private readonly (byte[] Buffer, int Length)[] _ring;
    private readonly Lock _gate = new();
    private int _head;
    private int _count;
    private bool _drainScheduled;
    private bool _closed;
    private bool _completed;
    private Exception? _error;

    public FrameQueue(Subject<ReadOnlyMemory<byte>> target, IScheduler scheduler, int capacity, int maxFrameLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _target = target;
        _scheduler = scheduler;
        _ring = new (byte[], int)[capacity];
        // A private pool that keeps up to `capacity` buffers per size class, so a full queue recycles
        // its buffers instead of overflowing the shared pool's small per-core caches.
        _pool = ArrayPool<byte>.Create(Math.Max(maxFrameLength, 16), capacity);
    }

    /// <summary>Frames waiting for delivery.</summary>
    public int Count
    {
        get { lock (_gate) return _count; }
    }

    /// <summary>True once <see cref="Close"/> was called.</summary>
    public bool IsClosed
    {
        get { lock (_gate) return _closed; }
    }

    /// <summary>Copies <paramref name="frame"/> into the queue; false when the queue is full or closed.</summary>
    public bool TryEnqueue(ReadOnlySpan<byte> frame)
    {
        bool schedule;
        lock (_gate)
        {
            if (_closed || _count == _ring.Length) return false;
            byte[] buffer = _pool.Rent(frame.Length);
            frame.CopyTo(buffer);
            _ring[(_head + _count) % _ring.Length] = (buffer, frame.Length);
            _count++;
            schedule = !_drainScheduled;
            _drainScheduled = true;
        }
        if (schedule) ScheduleDrain();
        return true;
    }

    /// <summary>
    /// Closes the queue: nothing more is accepted. Pending frames are delivered first unless
    /// <paramref name="discardPending"/>; then the subject completes (or fails with <paramref name="error"/>)
    /// on the scheduler, so completion never overlaps a delivery.
    /// </summary>
    public void Close(bool discardPending, Exception? error = null)
    {
        bool schedule;
        lock (_gate)
        {
            if (_closed) return;
            _closed = true;
            _error = error;
            if (discardPending)
            {
                while (_count > 0)
                {
                    _pool.Return(_ring[_head].Buffer);
                    _ring[_head] = default;
                    _head = (_head + 1) % _ring.Length;
                    _count--;
                }
            }
            schedule = !_drainScheduled;
            _drainScheduled = true;
        }
        if (schedule) ScheduleDrain();
    }

    private void ScheduleDrain() =>
        _scheduler.Schedule(this, static (_, self) =>
        {
            self.Drain();
            return Disposable.Empty;
        });

    private void Drain()
    {
        // Bounded pass: at most one queue's worth, then yield the scheduler to other work.
        for (int delivered = 0; delivered < _ring.Length; delivered++)
        {
            (byte[] Buffer, int Length) item;
            lock (_gate)
            {
                if (_count == 0) break;
                item = _ring[_head];
                _ring[_head] = default;
                _head = (_head + 1) % _ring.Length;
                _count--;
            }
            try
            {
                _target.OnNext(new ReadOnlyMemory<byte>(item.Buffer, 0, item.Length));
            }
            finally
            {
                _pool.Return(item.Buffer);
            }
        }
        FinishPass();
    }

    private void FinishPass()
    {
        bool reschedule = false, complete = false;
        lock (_gate)
        {
            if (_count > 0)
            {
                reschedule = true; // more arrived during the pass; _drainScheduled stays set
            }
            else
            {
                _drainScheduled = false;
                if (_closed && !_completed) _completed = complete = true;
            }
        }
        if (reschedule) ScheduleDrain();
        else if (complete)
        {
            if (_error is { } error) _target.OnError(error);
            else _target.OnCompleted();
        }
    }
}
