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
    /// The friendly API's tasks resume on the thread pool (NetstackOptions.RunContinuationsInline is off), so a step of
    /// virtual time may need a moment of real time for the continuation to run. Early steps give it that moment (bounded),
    /// later steps run virtual time at full speed.
    /// </summary>
    private static void WaitForTask(TestScheduler scheduler, Task task, TimeSpan? limit)
    {
        int patientSteps = 500;
        bool done = scheduler.RunUntil(() =>
        {
            if (task.IsCompleted) return true;
            if (patientSteps-- > 0) SpinWait.SpinUntil(() => task.IsCompleted, TimeSpan.FromMilliseconds(2));
            return task.IsCompleted;
        }, limit);
        if (!done) throw new TimeoutException("The task did not complete in virtual time.");
    }

    /// <summary>Advances virtual time until a task completes, then rethrows its failure if any.</summary>
    public static void Await(this TestScheduler scheduler, Task task, TimeSpan? limit = null)
    {
        WaitForTask(scheduler, task, limit);
        task.GetAwaiter().GetResult();
    }

    /// <summary>Milliseconds of virtual time now.</summary>
    public static double NowMs(this TestScheduler scheduler) => TimeSpan.FromTicks(scheduler.Clock).TotalMilliseconds;
}
