using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>Frames processed in one pass at most, so a flood cannot starve commands and timers.</summary>
    private const int FramesPerPass = 4096;

    private IDisposable? _armedWake;
    private Instant _armedAt = Instant.Never;

    /// <summary>The engine's current time.</summary>
    internal Instant Now => Instant.From(_scheduler.Now);

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

            // At most the queue's room per round, in order: the rest waits for the next round, so a burst of commands cannot
            // starve frames and timers (the pass goes on while work is queued, see RunPassLocked).
            int room = Options.CommandQueueCapacity;
            while (room > 0 && _commandQueue.TryDequeue(out PendingRequest? request))
            {
                Interlocked.Decrement(ref _queuedCommands);
                if (request.IsFinished) continue; // cancelled before the engine saw it: takes no room
                room--;
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
                    _tcp.ReceivingFrame = frame.Owner;
                    ProcessFrame(frame.Bytes, frame.FromLoopback, now);
                }
                finally
                {
                    _tcp.ReceivingFrame = null;
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
    internal void MarkDirty(SocketState socket)
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
            SocketState socket = _dirty[i];
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
