using Microsoft.Reactive.Testing;

namespace Rx.Netstack.Tests.Support;

/// <summary>Drives a <see cref="TestScheduler"/> until a condition holds, in virtual time (no sleeping).</summary>
public static class SchedulerExtensions
{
    /// <summary>Advances in steps of <paramref name="step"/> until <paramref name="done"/> or <paramref name="limit"/> of virtual time passed.</summary>
    public static bool RunUntil(this TestScheduler scheduler, Func<bool> done, TimeSpan? limit = null, TimeSpan? step = null)
    {
        long end = scheduler.Clock + (limit ?? TimeSpan.FromSeconds(30)).Ticks;
        long stepTicks = (step ?? TimeSpan.FromMilliseconds(1)).Ticks;
        // Without xunit's SynchronizationContext, tasks that timers or cancellations complete in virtual time resume inline
        // (RunContinuationsInline), not on the thread pool, racing virtual time.
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            scheduler.AdvanceBy(1);
            while (!done())
            {
                if (scheduler.Clock >= end) return false;
                scheduler.AdvanceBy(stepTicks);
            }
            return true;
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    /// <summary>Subscribes, runs virtual time until the first value (or error), and returns it.</summary>
    public static T Await<T>(this TestScheduler scheduler, IObservable<T> source, TimeSpan? limit = null)
    {
        T? value = default;
        Exception? error = null;
        bool done = false;
        using IDisposable _ = source.Subscribe(v => { if (!done) { value = v; done = true; } }, e => { error = e; done = true; }, () => done = true);
        if (!scheduler.RunUntil(() => done, limit)) throw new TimeoutException($"No value within {limit ?? TimeSpan.FromSeconds(30)} of virtual time.");
        if (error is not null) throw error;
        return value!;
    }

    /// <summary>Runs a task's continuations by advancing virtual time until it completes.</summary>
    public static T Await<T>(this TestScheduler scheduler, Task<T> task, TimeSpan? limit = null)
    {
        WaitForTask(scheduler, task, limit);
        return task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Advances virtual time until <paramref name="task"/> completes. Nothing waits in real time: the stacks of a test run
    /// with <see cref="NetstackOptions.RunContinuationsInline"/>, so the friendly API's continuations run within the step of
    /// virtual time that answered them (a stack without it would resume on the thread pool and race the clock).
    /// </summary>
    private static void WaitForTask(TestScheduler scheduler, Task task, TimeSpan? limit)
    {
        if (!scheduler.RunUntil(() => task.IsCompleted, limit)) throw new TimeoutException("The task did not complete in virtual time.");
    }

    /// <summary>Advances virtual time until a task completes, then rethrows its failure if any.</summary>
    public static void Await(this TestScheduler scheduler, Task task, TimeSpan? limit = null)
    {
        WaitForTask(scheduler, task, limit);
        task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// For the few tests whose subject is the thread-pool path (stacks without <see cref="NetstackOptions.RunContinuationsInline"/>):
    /// their continuations run on the pool, not in virtual time, so between steps of virtual time this waits for the task's
    /// completion event, a millisecond at a time, within a 10 s deadline — an event with a deadline, as interop tests wait on
    /// the kernel; nothing spins.
    /// </summary>
    public static T AwaitOnThePool<T>(this TestScheduler scheduler, Task<T> task)
    {
        scheduler.AwaitOnThePool((Task)task);
        return task.GetAwaiter().GetResult();
    }

    /// <inheritdoc cref="AwaitOnThePool{T}(TestScheduler, Task{T})"/>
    public static void AwaitOnThePool(this TestScheduler scheduler, Task task)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!task.IsCompleted && DateTime.UtcNow < deadline)
        {
            scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
            ((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromMilliseconds(1));
        }
        if (!task.IsCompleted) throw new TimeoutException("The task did not complete within 10 s.");
        task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Starts a test's own async code without the test framework's SynchronizationContext, so its awaits resume inline
    /// (within the step of virtual time that completed them) instead of being posted to xunit's threads to race the clock.
    /// </summary>
    public static T StartInVirtualTime<T>(this TestScheduler scheduler, Func<T> start) where T : Task
    {
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try { return start(); }
        finally { SynchronizationContext.SetSynchronizationContext(context); }
    }

    /// <summary>Milliseconds of virtual time now.</summary>
    public static double NowMs(this TestScheduler scheduler) => TimeSpan.FromTicks(scheduler.Clock).TotalMilliseconds;
}
