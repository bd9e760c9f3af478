using System.Buffers;
using System.Collections.Concurrent;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>Frames processed in one pass at most, so a flood cannot starve commands and timers.</summary>
    private const int FramesPerPass = 4096;

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
    private IDisposable? _armedWake;
    private Instant _armedAt = Instant.Never;

    /// <summary>The engine's current time.</summary>
    internal Instant Now => Instant.From(_scheduler.Now);

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

    /// <summary>
    /// Makes sure a pass will run. The flag stays set from here until the end of the pass that serves it, so work that
    /// arrives while a pass is pending or running (a command, a frame the peer stack just emitted) only joins the queues:
    /// it wakes no thread, the running pass re-checks its queues before it lets go (see <see cref="RunPass"/>).
    /// </summary>
    private void SchedulePass()
    {
        if (Interlocked.Exchange(ref _passScheduled, 1) != 0) return;
        if (TryRunPassOnCaller()) return;
        PostPass();
    }

    /// <summary>How many passes (of any stack) the current thread is inside.</summary>
    [ThreadStatic] private static int t_passDepth;

    /// <summary>Stacks whose pass this thread owes: work handed to them during a pass on this thread, run when it ends.</summary>
    [ThreadStatic] private static Queue<Netstack>? t_deferredPasses;

    /// <summary>Deferred passes one thread runs in a row at most before it posts the rest to their own threads, so a
    /// conversation between two stacks cannot hold an application thread indefinitely.</summary>
    private const int DeferredPassesPerCall = 64;

    /// <summary>
    /// With the stack's own event loop, an idle engine runs the pass on the thread that brought the work (an application
    /// thread's command, the peer stack's frame), the way a kernel runs its network stack inside the system call: each
    /// hand-off to a sleeping engine thread costs a wake-up, and on a loaded machine a wake-up costs tens of microseconds.
    /// Work that arrives from inside another stack's pass (frames it emits) waits until that pass ends, so the receiver
    /// sees the whole burst in one pass (one ACK for several segments, one reply for a reader, as with a posted pass).
    /// Never when the engine lock is busy (the pass is posted instead; nothing waits), never re-entrantly, and never with a
    /// scheduler the caller supplied (a <c>TestScheduler</c> decides when work runs). Application continuations still do not
    /// run inside the pass unless <see cref="NetstackOptions.RunContinuationsInline"/> says so.
    /// </summary>
    private bool TryRunPassOnCaller()
    {
        if (_ownedScheduler is null || _disposed) return false;
        if (t_passDepth > 0)
        {
            (t_deferredPasses ??= new Queue<Netstack>()).Enqueue(this);
            return true;
        }
        return TryRunPassHere();
    }

    /// <summary>Runs the pass this thread claimed (the flag is set) if the engine lock is free; false when it is busy.</summary>
    private bool TryRunPassHere()
    {
        if (!TryEnterSoon()) return false;
        try
        {
            if (_inPass || _tornDown) return false;
            _counters.PassesOnCaller++;
            RunPass();
            return true;
        }
        finally
        {
            Monitor.Exit(_engineLock);
        }
    }

    /// <summary>Spins this many times at most for a busy engine lock before posting the pass to the event loop instead.</summary>
    private const int LockSpins = 16;

    /// <summary>
    /// Takes the engine lock, spinning a few times if it is busy. The caller claimed the pass flag, so whoever holds the lock
    /// is past its last look at the queues (a pass ending, a stats snapshot): it lets go within microseconds, and a short
    /// spin is cheaper than waking the engine thread (a futex wake-up, tens of microseconds on a loaded machine).
    /// </summary>
    private bool TryEnterSoon()
    {
        if (Monitor.TryEnter(_engineLock)) return true;
        var spinner = new SpinWait();
        for (int i = 0; i < LockSpins; i++)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
            if (Monitor.TryEnter(_engineLock)) return true;
        }
        return false;
    }

    /// <summary>Runs (or posts) the passes owed by this thread; called when its outermost pass ends.</summary>
    private static void RunDeferredPasses()
    {
        // A deferred pass ends at depth 0 too: it must not drain again from inside this loop, or two stacks talking to
        // each other would nest one call per pass (this loop picks up what they defer instead).
        if (t_drainingDeferred || t_deferredPasses is not { Count: > 0 } deferred) return;
        t_drainingDeferred = true;
        try
        {
            int ran = 0;
            while (deferred.TryDequeue(out Netstack? stack))
            {
                // The flag is still set for each of them: either we run the pass, or we post it.
                if (ran++ >= DeferredPassesPerCall || stack._disposed || !stack.TryRunPassHere()) stack.PostPass();
            }
        }
        finally
        {
            t_drainingDeferred = false;
        }
    }

    /// <summary>True while this thread runs <see cref="RunDeferredPasses"/>.</summary>
    [ThreadStatic] private static bool t_drainingDeferred;

    /// <summary>Queues a pass on the scheduler; the caller has set <see cref="_passScheduled"/>.</summary>
    private void PostPass()
    {
        try
        {
            _scheduler.Schedule(this, static (_, self) =>
            {
                self.RunPass();
                return Disposable.Empty;
            });
        }
        catch (ObjectDisposedException) when (_disposed)
        {
            // A frame or command that raced with Dispose: our own scheduler is gone, and so is the work.
        }
    }

    /// <summary>Rounds one pass runs at most before it yields the thread and posts a fresh pass, so a flood cannot starve
    /// the scheduler's other work.</summary>
    private const int RoundsPerPass = 8;

    /// <summary>
    /// One pass: rounds of <see cref="RunRound"/> until the queues are empty, then arm the one wake-up for the earliest
    /// deadline. The pass holds <see cref="_passScheduled"/> while it runs; it lets go, then looks at the queues once more
    /// (a full fence between the two, so a producer that saw the flag set cannot be missed).
    /// </summary>
    private void RunPass()
    {
        // Inline continuations (RunContinuationsInline) run on the completing thread only when it has no
        // SynchronizationContext: .NET queues them to the thread pool otherwise. A supplied scheduler may run passes on a
        // thread that has one (a test framework's, a UI's), so the pass runs without it — or "inline" would silently mean
        // "on the thread pool", racing virtual time.
        SynchronizationContext? context = Options.RunContinuationsInline ? SynchronizationContext.Current : null;
        if (context is not null) SynchronizationContext.SetSynchronizationContext(null);
        t_passDepth++;
        try
        {
            RunPassLocked();
        }
        finally
        {
            if (--t_passDepth == 0) RunDeferredPasses();
            if (context is not null) SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private void RunPassLocked()
    {
        lock (_engineLock)
        {
            Volatile.Write(ref _passScheduled, 1);
            _counters.Passes++;
            for (int round = 1; ; round++)
            {
                if (_tornDown)
                {
                    Interlocked.Exchange(ref _passScheduled, 0);
                    return;
                }
                if (!_disposed) RunRound();
                if (_disposed)
                {
                    TearDown();
                    Interlocked.Exchange(ref _passScheduled, 0);
                    return;
                }
                Interlocked.Exchange(ref _passScheduled, 0);
                if (!HasQueuedWork) break;
                if (Interlocked.Exchange(ref _passScheduled, 1) != 0) break; // another thread posted a pass already
                if (round == RoundsPerPass)
                {
                    PostPass();
                    break;
                }
            }
            ArmWake();
        }
    }

    private bool HasQueuedWork => !_commandQueue.IsEmpty || !_frameQueue.IsEmpty || !_cancelQueue.IsEmpty || _deviceLost;

    /// <summary>
    /// One round: take commands and cancellations, process received frames, fire due timers, flush every socket that changed
    /// (emit, answer waiting requests).
    /// </summary>
    private void RunRound()
    {
        _inPass = true;
        try
        {
            Instant now = Now;
            while (_cancelQueue.TryDequeue(out PendingRequest? cancelled))
                cancelled.Queue?.Remove(cancelled);

            while (_commandQueue.TryDequeue(out PendingRequest? request))
            {
                Interlocked.Decrement(ref _queuedCommands);
                if (request.IsFinished) continue; // cancelled before the engine saw it
                _counters.CommandsProcessed++;
                if (_tap.HasObservers) _tap.OnNext(new CommandEvent.Taken(request.Id, request.Command));
                Dispatch(request, now);
            }

            if (_deviceLost)
            {
                _deviceLost = false;
                FailConnectionsOnDeviceLoss();
            }

            int budget = FramesPerPass;
            while (budget-- > 0 && _frameQueue.TryDequeue(out InboxFrame frame))
            {
                Interlocked.Decrement(ref _queuedFrames);
                try
                {
                    _frameChecksumTrusted = frame.ChecksumTrusted;
                    ProcessFrame(frame.Bytes, frame.FromLoopback, now);
                }
                finally
                {
                    frame.Release();
                }
            }

            _timers.RunDue(now);
            FlushDirty(now);
        }
        finally
        {
            _inPass = false;
        }
    }

    /// <summary>Adds a socket to this pass's flush list (once).</summary>
    internal void MarkDirty(SocketBase socket)
    {
        if (socket.IsDirty) return;
        socket.IsDirty = true;
        _dirty.Add(socket);
    }

    private void FlushDirty(Instant now)
    {
        // Flushing may dirty more sockets (a connection's output arrives at a looped-back peer); loop until quiet.
        for (int i = 0; i < _dirty.Count; i++)
        {
            SocketBase socket = _dirty[i];
            socket.IsDirty = false;
            if (socket.IsClosed) continue;
            socket.Flush(now);
            if (!socket.IsClosed) _timers.Update(socket);
            _socketTableTracker?.Touched(socket);
        }
        _dirty.Clear();
        if (_socketTableTracker is { } tracker) _counters.SubscriberFaults += tracker.Publish();
    }

    /// <summary>Keeps a non-socket timer owner (reassembler, pinger) queued at its current deadline.</summary>
    internal void UpdateTimer(TimerOwner owner) => _timers.Update(owner);

    private void ArmWake()
    {
        Instant earliest = _timers.Earliest;
        if (earliest.IsNever || earliest >= _armedAt) return;
        _armedWake?.Dispose();
        _armedAt = earliest;
        _counters.WakeupsArmed++;
        // Relative, not absolute: Rx parks absolute due times more than ~10 s ahead in a process-wide queue that later
        // re-schedules them on their scheduler — on our own EventLoopScheduler after Dispose that throws on a timer thread
        // and kills the process. A relative due time stays in the scheduler's own queue and dies with it.
        TimeSpan delay = earliest.ToDateTimeOffset() - _scheduler.Now;
        _armedWake = _scheduler.Schedule(this, delay < TimeSpan.Zero ? TimeSpan.Zero : delay, static (_, self) =>
        {
            lock (self._engineLock)
            {
                self._armedAt = Instant.Never;
                self._armedWake = null;
            }
            self.RunPass();
            return Disposable.Empty;
        });
    }
}
