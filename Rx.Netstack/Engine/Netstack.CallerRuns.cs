namespace Rx.Netstack;

// Where a pass runs: on the thread that brought the work, when the stack owns its event loop (TryRunPassOnCaller).
public sealed partial class Netstack
{
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

    /// <summary>The thread of the event loop the stack owns, once it started (none with a supplied scheduler).</summary>
    private volatile Thread? _engineThread;

    /// <summary>
    /// True on a thread where blocking for the engine can never end: inside a pass (of any stack: a reply handler, an inline
    /// continuation, an observable delivered on the engine; the pass it waits for would run after this one, on this thread)
    /// or on the event-loop thread this stack owns. Blocking calls of the library (the <c>Stream</c>'s synchronous
    /// <c>Read</c>/<c>Write</c>) check it and throw instead of deadlocking.
    /// </summary>
    internal bool IsOnEngineThread => t_passDepth > 0 || (_engineThread is { } thread && thread == Thread.CurrentThread);

    /// <summary>Throws <see cref="InvalidOperationException"/> when <see cref="IsOnEngineThread"/>: <paramref name="operation"/>
    /// would wait for the engine that waits for it.</summary>
    internal void ThrowIfOnEngineThread(string operation)
    {
        if (IsOnEngineThread)
            throw new InvalidOperationException(
                $"{operation} blocks until the stack answers, but it was called on the stack's engine thread (in a reply handler, an " +
                "observable delivered on the engine, or a continuation under NetstackOptions.RunContinuationsInline), which the " +
                "answer needs: it would never return. Use the async method, or move the work off the engine (ObserveOn, Task.Run).");
    }

    /// <summary>Completed at the end of the teardown (<see cref="TearDown"/>); continuations run on the thread pool.</summary>
    private readonly TaskCompletionSource _tornDownSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Disposes the stack (<see cref="Dispose"/>) and completes once the teardown pass ran — every pending request answered
    /// with <see cref="Commands.NetstackErrorKind.StackDisposed"/>, connections reset, buffers returned — and the engine
    /// thread of the event loop the stack owns has ended. Called from inside a pass, it completes after that pass. With a
    /// scheduler you supplied, the teardown runs when that scheduler runs the pass in progress, if one is.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        await _tornDownSignal.Task.ConfigureAwait(false);
        if (_engineThread is { } thread && thread != Thread.CurrentThread)
        {
            // The loop ends once its current item returns; join it on a pool thread so no caller blocks.
            await Task.Run(thread.Join).ConfigureAwait(false);
        }
    }
}
