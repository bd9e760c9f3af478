using System.Buffers;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Rx.Netstack.Devices;

/// <summary>
/// One direction of an <see cref="ImpairedLink"/>: decides each frame's fate with a seeded random source and
/// hands survivors to <c>target</c> at their delivery time on the scheduler.
/// </summary>
/// <remarks>
/// Frames in flight are pooled copies kept in a priority queue by (delivery time, arrival order); one scheduler
/// wake-up is armed, for the earliest, instead of one scheduled item per frame. With no delay due, a frame is
/// handed on synchronously (and without a copy unless it was corrupted).
/// </remarks>
internal sealed class LinkImpairer
{
    private readonly IScheduler _scheduler;
    private readonly ImpairmentOptions _options;
    private readonly IObserver<ReadOnlyMemory<byte>> _target;
    private readonly Random _random;
    private readonly PriorityQueue<(byte[] Buffer, int Length), (long Due, long Order)> _inFlight = new();
    private readonly Lock _gate = new();
    private long _order;
    private long _linkFreeAt;
    private long _armedAt = long.MaxValue;
    private IDisposable? _armed;
    private bool _closed;
    private bool _completed;
    private bool _disposed;
    private Exception? _error;

    public LinkImpairer(IScheduler scheduler, ImpairmentOptions options, int seed, IObserver<ReadOnlyMemory<byte>> target)
    {
        _scheduler = scheduler;
        _options = options;
        _target = target;
        _random = new Random(seed);
    }

    public ImpairmentCounters Counters { get; } = new();

    public void Offer(ReadOnlyMemory<byte> frame)
    {
        ImpairmentOptions o = _options;
        int copies;
        bool corrupt;
        bool mark = false;
        byte[]? copy = null;
        lock (_gate)
        {
            if (_closed) return;
            Counters.OfferedCount++;
            if (o.Loss > 0 && _random.NextDouble() < o.Loss)
            {
                if (!o.CongestionMarking || !EcnMarking.IsEcnCapable(frame.Span))
                {
                    Counters.LostCount++;
                    return;
                }
                mark = true; // an AQM router marks CE instead of dropping (RFC 3168 §5)
                Counters.MarkedCount++;
            }
            corrupt = o.Corruption > 0 && frame.Length > 0 && _random.NextDouble() < o.Corruption;
            copies = o.Duplication > 0 && _random.NextDouble() < o.Duplication ? 2 : 1;
            bool holdBack = o.Reordering > 0 && _random.NextDouble() < o.Reordering;
            if (corrupt) Counters.CorruptedCount++;
            if (copies == 2) Counters.DuplicatedCount++;
            if (holdBack) Counters.ReorderedCount++;

            long now = _scheduler.Now.UtcTicks;
            // Serialisation: the link sends one frame at a time at the configured rate.
            long start = Math.Max(now, _linkFreeAt);
            long serialisation = o.BandwidthBytesPerSecond > 0
                ? (frame.Length * TimeSpan.TicksPerSecond + o.BandwidthBytesPerSecond - 1) / o.BandwidthBytesPerSecond
                : 0;
            _linkFreeAt = start + serialisation;
            long due = _linkFreeAt + o.Delay.Ticks;
            if (o.Jitter > TimeSpan.Zero) due += (long)(_random.NextDouble() * (o.Jitter.Ticks + 1));
            if (holdBack) due += o.ReorderDelay.Ticks;

            int flipBit = corrupt ? _random.Next(frame.Length * 8) : -1;
            if (due > now || _inFlight.Count > 0)
            {
                for (int i = 0; i < copies; i++)
                {
                    byte[] buffer = CopyOf(frame.Span, flipBit, mark);
                    _inFlight.Enqueue((buffer, frame.Length), (due, _order++));
                }
                if (due < _armedAt) Arm(due);
                return;
            }
            if (corrupt || mark) copy = CopyOf(frame.Span, flipBit, mark);
        }

        // Nothing to wait for: hand on at once, from the caller's buffer when unchanged.
        ReadOnlyMemory<byte> deliver = copy is null ? frame : new ReadOnlyMemory<byte>(copy, 0, frame.Length);
        try
        {
            for (int i = 0; i < copies; i++)
            {
                Interlocked.Increment(ref Counters.DeliveredCount);
                _target.OnNext(deliver);
            }
        }
        finally
        {
            if (copy is not null) ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>Stops accepting frames; frames in flight are still delivered, then the target completes.</summary>
    public void Close(Exception? error)
    {
        bool completeNow;
        lock (_gate)
        {
            if (_closed) return;
            _closed = true;
            _error = error;
            completeNow = _inFlight.Count == 0 && !_completed;
            if (completeNow) _completed = true;
        }
        if (completeNow) Complete();
    }

    /// <summary>Cancels the wake-up and returns frames in flight to the pool, without delivering or completing.</summary>
    public void Discard()
    {
        lock (_gate)
        {
            _closed = _completed = _disposed = true;
            _armed?.Dispose();
            _armed = null;
            while (_inFlight.TryDequeue(out var item, out _))
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
                Counters.DiscardedCount++;
            }
        }
    }

    private static byte[] CopyOf(ReadOnlySpan<byte> frame, int flipBit, bool mark)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(frame.Length);
        frame.CopyTo(buffer);
        if (mark) EcnMarking.MarkCongestion(buffer.AsSpan(0, frame.Length));
        if (flipBit >= 0) buffer[flipBit >> 3] ^= (byte)(1 << (flipBit & 7));
        return buffer;
    }

    private void Arm(long due)
    {
        _armed?.Dispose();
        _armedAt = due;
        // Relative, not absolute: Rx keeps far-off absolute timers in a process-wide queue that outlives a disposed scheduler.
        TimeSpan delay = TimeSpan.FromTicks(due - _scheduler.Now.UtcTicks);
        _armed = _scheduler.Schedule(this, delay < TimeSpan.Zero ? TimeSpan.Zero : delay, static (_, self) =>
        {
            self.Wake();
            return Disposable.Empty;
        });
    }

    private void Wake()
    {
        lock (_gate)
        {
            _armed = null;
            _armedAt = long.MaxValue;
        }
        while (true)
        {
            (byte[] Buffer, int Length) item;
            lock (_gate)
            {
                if (_disposed) return;
                long now = _scheduler.Now.UtcTicks;
                if (!_inFlight.TryPeek(out item, out var at) || at.Due > now)
                {
                    if (_inFlight.Count > 0)
                    {
                        if (at.Due < _armedAt) Arm(at.Due);
                        return;
                    }
                    if (!_closed || _completed) return;
                    _completed = true;
                    break;
                }
                _inFlight.Dequeue();
                Counters.DeliveredCount++;
            }
            try
            {
                _target.OnNext(new ReadOnlyMemory<byte>(item.Buffer, 0, item.Length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
            }
        }
        Complete();
    }

    private void Complete()
    {
        if (_error is { } error) _target.OnError(error);
        else _target.OnCompleted();
    }
}
