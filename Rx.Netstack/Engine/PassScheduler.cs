using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Subjects;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// When the engine's work runs, and in what order: the command queue (admission), the inbox of received frames, the
/// passes and their rounds, the thread a pass runs on (<em>caller-runs</em>), the sockets to flush, the timer queue and
/// the one scheduler wake-up, and the replies (with the <see cref="Netstack.Tap"/>). It knows no protocol: what a command
/// or a frame means is <see cref="Netstack"/>'s, which it calls for each (see docs/architecture.md, "The pass").
/// </summary>
internal sealed class PassScheduler : IDisposable
{
    /// <summary>Frames processed in one round at most, so a flood cannot starve commands and timers.</summary>
    private const int FramesPerRound = 4096;

    /// <summary>Rounds one pass runs at most before it yields the thread and posts a fresh pass, so a flood cannot starve
    /// the scheduler's other work.</summary>
    private const int RoundsPerPass = 8;

    /// <summary>Spins this many times at most for a busy engine lock before posting the pass to the event loop instead.</summary>
    private const int LockSpins = 16;

    /// <summary>Deferred passes one thread runs in a row at most before it posts the rest to their own threads, so a
    /// conversation between two stacks cannot hold an application thread indefinitely.</summary>
    private const int DeferredPassesPerCall = 64;

    // ---------------------------------------------------------------- state

    /// <summary>How many passes (of any stack) the current thread is inside.</summary>
    [ThreadStatic] private static int t_passDepth;

    /// <summary>Stacks whose pass this thread owes: work handed to them during a pass on this thread, run when it ends.</summary>
    [ThreadStatic] private static Queue<PassScheduler>? t_deferredPasses;

    /// <summary>True while this thread runs <see cref="RunDeferredPasses"/>.</summary>
    [ThreadStatic] private static bool t_drainingDeferred;

    /// <summary>How many receive bursts (<see cref="ReceiveBurst"/>) the current thread is inside: while above 0, a frame's pass
    /// is owed by this thread (<see cref="t_deferredPasses"/>) until the outermost burst ends.</summary>
    [ThreadStatic] private static int t_burstDepth;

    /// <summary>The composer: what a command, a frame, a lost device and the teardown mean (called inside a pass).</summary>
    private readonly Netstack _stack;

    /// <summary>The stack's settings (queue capacities, <see cref="NetstackOptions.RunContinuationsInline"/>).</summary>
    private readonly NetstackOptions _options;

    /// <summary>The stack's counters (passes, commands, drops at the inbox, subscriber faults).</summary>
    private readonly NetstackCounters _counters;

    /// <summary>The sockets, for the socket-table tracker the flush reports to (<see cref="SocketRegistry.Tracker"/>).</summary>
    private readonly SocketRegistry _sockets;

    /// <summary>Where passes run and where time comes from.</summary>
    private readonly IScheduler _scheduler;

    /// <summary>The event loop the stack made for itself (null with a supplied scheduler): passes may then run on the caller.</summary>
    private readonly EventLoopScheduler? _ownedScheduler;

    /// <summary>The thread of <see cref="_ownedScheduler"/>, once it started.</summary>
    private volatile Thread? _engineThread;

    /// <summary>Requests submitted (any thread) and not yet taken by a round.</summary>
    private readonly ConcurrentQueue<PendingRequest> _commandQueue = new();

    /// <summary>Requests withdrawn (any thread); the next round takes them out of their wait queues.</summary>
    private readonly ConcurrentQueue<PendingRequest> _cancelQueue = new();

    /// <summary>Requests in <see cref="_commandQueue"/>, cancelled ones included until a round skips them.</summary>
    private int _queuedCommands;

    /// <summary>Received frames (any thread) waiting for a round, each in a pooled buffer.</summary>
    private readonly ConcurrentQueue<InboxFrame> _frameQueue = new();

    /// <summary>Frames in <see cref="_frameQueue"/> (bounded by <see cref="NetstackOptions.FrameQueueCapacity"/>).</summary>
    private int _queuedFrames;

    /// <summary>Merges runs of in-order TCP segments waiting in <see cref="_frameQueue"/> (used by the round only); null unless
    /// <see cref="NetstackOptions.CoalesceReceivedSegments"/>.</summary>
    private readonly InboxCoalescer? _coalescer;

    /// <summary>Every request taken and every reply sent, for <see cref="Netstack.Tap"/>.</summary>
    private readonly Subject<CommandEvent> _tap = new();

    /// <summary>Owners of deadlines (sockets, reassembler, pinger) by deadline.</summary>
    private readonly TimerQueue _timers = new();

    /// <summary>Sockets touched in this round, flushed at its end (each once; see <see cref="SocketState.IsDirty"/>).</summary>
    private readonly List<SocketState> _dirty = [];

    /// <summary>1 from <see cref="SchedulePass"/> until the end of the pass that serves it (set and read by any thread).</summary>
    private int _passScheduled;

    /// <summary>True while a round runs (under the engine lock).</summary>
    private bool _inPass;

    /// <summary>Set once by <see cref="Dispose"/> (any thread); from then on nothing is taken and the next pass tears down.</summary>
    private volatile bool _disposed;

    /// <summary>True once <see cref="TearDown"/> ran.</summary>
    private bool _tornDown;

    /// <summary>
    /// The device whose frame stream ended (failed or completed), set by whichever thread ended it, taken by the next round.
    /// Not noted under the engine lock: the end often comes from inside another stack's pass (a pipe's peer tearing down),
    /// and waiting there for this lock while this engine's thread waits for that one is a deadlock.
    /// </summary>
    private IPacketDevice? _lostDevice;

    /// <summary>The one scheduled wake-up for the earliest deadline (null when none is armed).</summary>
    private IDisposable? _armedWake;

    /// <summary>When <see cref="_armedWake"/> fires (Never when none is armed).</summary>
    private Instant _armedAt = Instant.Never;

    /// <summary>Completed at the end of <see cref="TearDown"/>; continuations run on the thread pool.</summary>
    private readonly TaskCompletionSource _tornDownSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates the scheduler of one stack.</summary>
    /// <param name="stack">The stack whose commands and frames the passes process.</param>
    /// <param name="options">Its settings.</param>
    /// <param name="counters">Its counters.</param>
    /// <param name="sockets">Its socket registry.</param>
    /// <param name="scheduler">A scheduler to run on, or null for an event loop of the stack's own.</param>
    public PassScheduler(Netstack stack, NetstackOptions options, NetstackCounters counters, SocketRegistry sockets, IScheduler? scheduler)
    {
        _stack = stack;
        _options = options;
        _counters = counters;
        _sockets = sockets;
        _coalescer = options.CoalesceReceivedSegments ? new InboxCoalescer() : null;
        if (scheduler is null)
        {
            var loop = new EventLoopScheduler(start => _engineThread = new Thread(start) { IsBackground = true, Name = $"Rx.Netstack engine #{stack.Id}" });
            _scheduler = loop;
            _ownedScheduler = loop;
        }
        else
        {
            _scheduler = scheduler;
        }
    }

    /// <summary>The scheduler passes run on.</summary>
    public IScheduler Scheduler => _scheduler;

    /// <summary>The engine's current time.</summary>
    public Instant Now => Instant.From(_scheduler.Now);

    /// <summary>Held by every pass, and by whoever touches engine state outside one (attach, stats, socket-table subscriptions).</summary>
    public object EngineLock { get; } = new();

    /// <summary>True once the stack was disposed.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>True once the teardown ran (under the engine lock).</summary>
    public bool IsTornDown => _tornDown;

    /// <summary>Commands waiting for the engine.</summary>
    public int QueuedCommands => Volatile.Read(ref _queuedCommands);

    /// <summary>Every request taken and every reply sent.</summary>
    public IObservable<CommandEvent> Tap => _tap;

    /// <summary>Received segments merged by the round's coalescer (written by the round, read by stats without the lock).</summary>
    public long SegmentsCoalesced => _coalescer?.SegmentsCoalesced ?? 0;

    // ---------------------------------------------------------------- commands: admission and replies

    /// <summary>
    /// Takes a request into the command queue. Past <see cref="NetstackOptions.CommandQueueCapacity"/> it waits its turn for
    /// room (a round takes that many, in order); only past <see cref="NetstackOptions.CommandQueueLimit"/> (closes
    /// excepted), or after disposal, is it refused at once. Never blocks: a caller on the engine's own thread must get an answer.
    /// </summary>
    public void Submit(PendingRequest request)
    {
        if (_disposed)
        {
            Reject(request, NetstackError.Of(NetstackErrorKind.StackDisposed, "The stack has been disposed."));
            return;
        }
        int depth = Interlocked.Increment(ref _queuedCommands);
        if (depth > _options.CommandQueueLimit && !ReleasesASocket(request.Command))
        {
            Interlocked.Decrement(ref _queuedCommands);
            Interlocked.Increment(ref _counters.CommandsRefused);
            Reject(request, NetstackError.Of(NetstackErrorKind.CommandQueueFull,
                $"{_options.CommandQueueLimit} commands are waiting for the engine (NetstackOptions.CommandQueueLimit): something submits " +
                "commands without waiting for their replies."));
            return;
        }
        if (depth > _options.CommandQueueCapacity) Interlocked.Increment(ref _counters.CommandsWaited);
        request.TakenBy = this;
        _commandQueue.Enqueue(request);
        SchedulePass();
    }

    /// <summary>
    /// Closes and aborts are never refused: they free what the queue's bound protects, and there is at most one per socket
    /// worth sending. Refusing them would leave the connection open for good (a CLOSE-WAIT nobody ends).
    /// </summary>
    private static bool ReleasesASocket(Command command) =>
        command is Command.TcpStream.Close or Command.TcpStream.Abort or Command.TcpListen.Close or Command.Udp.Close or Command.Raw.Close;

    private static void Reject(PendingRequest request, NetstackError error)
    {
        if (!request.TryClaim()) return;
        request.ReplyTo.OnNext(new Reply.Error(error));
        request.ReplyTo.OnCompleted();
    }

    /// <summary>Withdraws a request; false when the engine claimed it first (its reply is coming and must not be replaced).</summary>
    public bool Cancel(PendingRequest request)
    {
        // Of a sharded stack, the engine that took it removes it from its wait queue (the facade cancels through engine 0).
        if (request.TakenBy is { } owner && owner != this) return owner.Cancel(request);
        if (!request.TryClaim()) return false; // already answered, or being answered
        _cancelQueue.Enqueue(request);
        SchedulePass();
        return true;
    }

    /// <summary>Sends the reply of a request (on the engine) unless it was cancelled or already answered.</summary>
    public bool Complete(PendingRequest request, Reply reply)
    {
        request.Queue?.Remove(request);
        if (!request.TryClaim()) return false;
        Deliver(request, reply);
        return true;
    }

    /// <summary>Answers a request with <paramref name="error"/> (unless it was cancelled or already answered).</summary>
    public void Fail(PendingRequest request, NetstackError error) => Complete(request, new Reply.Error(error));

    /// <summary>Sends the reply of a request this engine has claimed already (taken out of its wait queue).</summary>
    public void Deliver(PendingRequest request, Reply reply)
    {
        request.Queue?.Remove(request);
        if (_tap.HasObservers) _tap.OnNext(new CommandEvent.Replied(request.Id, reply));
        try
        {
            request.ReplyTo.OnNext(reply);
            request.ReplyTo.OnCompleted();
        }
        catch (Exception)
        {
            // A subscriber that throws hurts only itself; the engine goes on.
            _counters.SubscriberFaults++;
        }
    }

    // ---------------------------------------------------------------- the inbox

    /// <summary>Copies a frame into the inbox (any thread) and makes sure a pass will run.</summary>
    public void EnqueueFrame(ReadOnlySpan<byte> frame, bool fromLoopback, bool checksumTrusted)
    {
        if (!TryReserveInboxSlot(frame.Length)) return;
        byte[] buffer = InboxBufferPool.Rent(frame.Length);
        frame.CopyTo(buffer);
        _frameQueue.Enqueue(new InboxFrame(buffer, 0, frame.Length, fromLoopback, checksumTrusted));
        ScheduleFramePass();
    }

    /// <summary>Queues a frame whose buffer was handed over (no copy); the buffer is released if the inbox refuses it.</summary>
    public void EnqueueFrame(InboxFrame frame)
    {
        if (!TryReserveInboxSlot(frame.Length))
        {
            frame.Release();
            return;
        }
        _frameQueue.Enqueue(frame);
        ScheduleFramePass();
    }

    /// <summary>
    /// Makes sure a pass will run for a frame just queued: at once (<see cref="SchedulePass"/>), or, inside a receive burst on
    /// this thread, when the burst ends — so the round sees the whole burst and can merge its runs (<see cref="ReceiveBurst"/>).
    /// </summary>
    private void ScheduleFramePass()
    {
        if (t_burstDepth == 0)
        {
            SchedulePass();
            return;
        }
        if (Interlocked.Exchange(ref _passScheduled, 1) != 0) return; // a pass is pending or running: it takes the frame
        (t_deferredPasses ??= new Queue<PassScheduler>()).Enqueue(this);
    }

    /// <summary>Begins a receive burst on this thread (see <see cref="ReceiveBurst"/>).</summary>
    public static void BeginBurst() => t_burstDepth++;

    /// <summary>Ends a receive burst on this thread; the outermost end runs (or posts) the passes its frames asked for, unless
    /// the thread is inside a pass, whose end does.</summary>
    public static void EndBurst()
    {
        if (t_burstDepth == 0) throw new InvalidOperationException("No receive burst is open on this thread.");
        if (--t_burstDepth == 0 && t_passDepth == 0) RunDeferredPasses();
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
        if (Interlocked.Increment(ref _queuedFrames) > _options.FrameQueueCapacity)
        {
            Interlocked.Decrement(ref _queuedFrames);
            Interlocked.Increment(ref _counters.Drops[(int)DropReason.InboxFull]);
            return false;
        }
        return true;
    }

    /// <summary>Notes (from any thread, without the engine lock) that a device's stream ended; the next pass tells the stack.</summary>
    public void NoteDeviceLost(IPacketDevice device)
    {
        Volatile.Write(ref _lostDevice, device);
        SchedulePass();
    }

    // ---------------------------------------------------------------- passes

    /// <summary>
    /// Makes sure a pass will run. The flag stays set from here until the end of the pass that serves it, so work that
    /// arrives while a pass is pending or running (a command, a frame the peer stack just emitted) only joins the queues:
    /// it wakes no thread, the running pass re-checks its queues before it lets go (see <see cref="RunPass"/>).
    /// </summary>
    public void SchedulePass()
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
        SynchronizationContext? context = _options.RunContinuationsInline ? SynchronizationContext.Current : null;
        if (context is not null) SynchronizationContext.SetSynchronizationContext(null);
        t_passDepth++;
        try
        {
            RunPassLocked();
        }
        finally
        {
            // Inside a receive burst the owed passes wait for its end: a command's pass on this thread takes the frames queued
            // so far, and the rest of the burst is still to come.
            if (--t_passDepth == 0 && t_burstDepth == 0) RunDeferredPasses();
            if (context is not null) SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private void RunPassLocked()
    {
        lock (EngineLock)
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

    private bool HasQueuedWork => !_commandQueue.IsEmpty || !_frameQueue.IsEmpty || !_cancelQueue.IsEmpty || Volatile.Read(ref _lostDevice) is not null;

    /// <summary>
    /// One round: take commands and cancellations, process received frames, fire due timers, flush every socket that changed
    /// (emit, answer waiting requests).
    /// </summary>
    private void RunRound()
    {
        Debug.Assert(Monitor.IsEntered(EngineLock) && !_inPass, "a round runs under the engine lock, one at a time");
        _inPass = true;
        try
        {
            Instant now = Now;
            while (_cancelQueue.TryDequeue(out PendingRequest? cancelled))
                cancelled.Queue?.Remove(cancelled);
            // Before commands: nothing of this round goes out to a device whose stream ended.
            if (Interlocked.Exchange(ref _lostDevice, null) is { } lost) _stack.OnDeviceLost(lost);

            // At most the queue's room per round, in order: the rest waits for the next round, so a burst of commands cannot
            // starve frames and timers (the pass goes on while work is queued, see RunPassLocked).
            int room = _options.CommandQueueCapacity;
            while (room > 0 && _commandQueue.TryDequeue(out PendingRequest? request))
            {
                int queued = Interlocked.Decrement(ref _queuedCommands);
                Debug.Assert(queued >= 0, "more commands taken than submitted");
                if (request.IsFinished) continue; // cancelled before the engine saw it: takes no room
                room--;
                _counters.CommandsProcessed++;
                if (_tap.HasObservers) _tap.OnNext(new CommandEvent.Taken(request.Id, request.Command));
                _stack.Dispatch(request, now);
            }

            int budget = FramesPerRound;
            // A frame taken from the queue that did not continue a coalesced run: the next one to process. (The queue is not
            // peeked: a peek keeps its segment from being reused, and the queue would allocate a new one again and again.)
            InboxFrame carried = default;
            bool carrying = false;
            try
            {
                while (carrying || budget-- > 0)
                {
                    InboxFrame frame;
                    if (carrying)
                    {
                        frame = carried;
                        carrying = false;
                    }
                    else if (!TryTakeFrame(out frame)) break;
                    try
                    {
                        InboxFrame handed = _coalescer is { } c && _stack.TakesIpPacket(frame) && c.TryStart(frame)
                            ? CoalesceRun(c, ref budget, out carrying, out carried)
                            : frame;
                        _stack.Receive(handed, now);
                    }
                    finally
                    {
                        frame.Release();
                    }
                }
            }
            finally
            {
                if (carrying) carried.Release(); // only when processing threw: the frame is dropped with the round
            }

            _timers.RunDue(now);
            FlushDirty(now);
        }
        finally
        {
            _inPass = false;
        }
    }

    /// <summary>Takes the next frame from the inbox (the round is its only consumer).</summary>
    private bool TryTakeFrame(out InboxFrame frame)
    {
        if (!_frameQueue.TryDequeue(out frame)) return false;
        int queued = Interlocked.Decrement(ref _queuedFrames);
        Debug.Assert(queued >= 0, "more frames taken than reserved");
        return true;
    }

    /// <summary>
    /// Takes the frames that continue the run <paramref name="coalescer"/> started while they wait in the inbox, and gives what
    /// the stack gets: the merged segment, or the first frame alone. The first frame taken that does not continue the run is
    /// returned in <paramref name="next"/> (<paramref name="hasNext"/>), to be processed next.
    /// </summary>
    private InboxFrame CoalesceRun(InboxCoalescer coalescer, ref int budget, out bool hasNext, out InboxFrame next)
    {
        hasNext = false;
        next = default;
        while (budget > 0 && TryTakeFrame(out InboxFrame frame))
        {
            budget--;
            if (!coalescer.TryJoin(frame))
            {
                hasNext = true;
                next = frame;
                break;
            }
            frame.Release(); // its bytes were copied into the run
        }
        return coalescer.Finish();
    }

    /// <summary>Adds a socket to this round's flush list (once).</summary>
    public void MarkDirty(SocketState socket)
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
            Debug.Assert(socket.IsDirty, "a socket in the flush list is marked dirty");
            socket.IsDirty = false;
            if (socket.IsClosed) continue;
            socket.Flush(now);
            if (!socket.IsClosed) _timers.Update(socket);
            Debug.Assert(socket.IsClosed || TimerQueue.IsQueuedInTime(socket), "a flushed socket is queued no later than its deadline");
            _sockets.Tracker?.Touched(socket);
        }
        _dirty.Clear();
        if (_sockets.Tracker is { } tracker) _counters.SubscriberFaults += tracker.Publish();
    }

    /// <summary>Keeps a non-socket timer owner (reassembler, pinger) queued at its current deadline.</summary>
    public void UpdateTimer(TimerOwner owner) => _timers.Update(owner);

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
            lock (self.EngineLock)
            {
                self._armedAt = Instant.Never;
                self._armedWake = null;
            }
            self.RunPass();
            return Disposable.Empty;
        });
    }

    // ---------------------------------------------------------------- caller-runs

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
            (t_deferredPasses ??= new Queue<PassScheduler>()).Enqueue(this);
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
            Monitor.Exit(EngineLock);
        }
    }

    /// <summary>
    /// Takes the engine lock, spinning a few times if it is busy. The caller claimed the pass flag, so whoever holds the lock
    /// is past its last look at the queues (a pass ending, a stats snapshot): it lets go within microseconds, and a short
    /// spin is cheaper than waking the engine thread (a futex wake-up, tens of microseconds on a loaded machine).
    /// </summary>
    private bool TryEnterSoon()
    {
        if (Monitor.TryEnter(EngineLock)) return true;
        var spinner = new SpinWait();
        for (int i = 0; i < LockSpins; i++)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
            if (Monitor.TryEnter(EngineLock)) return true;
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
            while (deferred.TryDequeue(out PassScheduler? passes))
            {
                // The flag is still set for each of them: either we run the pass, or we post it (always, on a scheduler the
                // application supplied: one a receive burst deferred, a TestScheduler decides when it runs).
                if (ran++ >= DeferredPassesPerCall || passes._disposed || passes._ownedScheduler is null || !passes.TryRunPassHere()) passes.PostPass();
            }
        }
        finally
        {
            t_drainingDeferred = false;
        }
    }

    /// <summary>
    /// True on a thread where blocking for the engine can never end: inside a pass (of any stack: a reply handler, an inline
    /// continuation, an observable delivered on the engine; the pass it waits for would run after this one, on this thread),
    /// inside a receive burst (the pass may be owed by this thread until the burst ends) or on the event-loop thread this
    /// stack owns.
    /// </summary>
    public bool IsOnEngineThread => t_passDepth > 0 || t_burstDepth > 0 || (_engineThread is { } thread && thread == Thread.CurrentThread);

    // ---------------------------------------------------------------- disposal

    /// <summary>Stops taking work; tears down now, or at the end of the pass in progress (called inside one).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (EngineLock)
        {
            if (_inPass) { SchedulePass(); }
            else TearDown();
        }
        _ownedScheduler?.Dispose();
    }

    /// <summary>Completed once the teardown ran.</summary>
    public Task TornDown => _tornDownSignal.Task;

    /// <summary>The event loop's thread, once it started (none with a supplied scheduler).</summary>
    public Thread? EngineThread => _engineThread;

    private void TearDown()
    {
        if (_tornDown) return;
        _tornDown = true;
        var error = NetstackError.Of(NetstackErrorKind.StackDisposed, "The stack has been disposed.");
        while (_commandQueue.TryDequeue(out var request)) Complete(request, new Reply.Error(error));
        while (_cancelQueue.TryDequeue(out _)) { }
        _stack.TearDownLayers(error);
        while (_frameQueue.TryDequeue(out InboxFrame frame)) frame.Release();
        _timers.Clear();
        _armedWake?.Dispose();
        _armedWake = null;
        _sockets.Tracker?.Complete();
        _tap.OnCompleted();
        _tornDownSignal.TrySetResult();
    }
}
