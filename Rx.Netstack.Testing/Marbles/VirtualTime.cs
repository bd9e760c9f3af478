using System.Reactive;
using System.Reactive.Disposables;
using System.Reactive.Linq;

namespace Rx.Netstack.Testing;

/// <summary>
/// Tasks as observables that stay on virtual time. <c>Observable.FromAsync</c> delivers a task's outcome from the thread
/// pool, which races a <c>TestScheduler</c>: a connection accepted at 30 ms of virtual time may reach the query at any later
/// virtual time, or after the test. These deliver it on the thread that completes the task, synchronously — with stacks that
/// run continuations inline (<see cref="NetstackOptions.RunContinuationsInline"/>) under a <c>TestScheduler</c>, that is the
/// test's thread, within the step of virtual time that completed it.
/// </summary>
/// <example>
/// <code>
/// m.Hot("-a--b", clients).SelectMany(client => VirtualTime.FromAsync(token => client.ConnectTcpAsync(server, cancellationToken: token)))
/// </code>
/// </example>
public static class VirtualTime
{
    /// <summary>
    /// On each subscription, starts <paramref name="start"/> (without the caller's synchronization context, so an async
    /// lambda's awaits resume in virtual time too) and yields its result (then completes) or fails with its exception, on the
    /// thread that completes the task. Unsubscribing cancels the token and drops the outcome.
    /// </summary>
    /// <typeparam name="T">The task's result.</typeparam>
    /// <param name="start">Starts the operation (a stack's async API, with the token).</param>
    public static IObservable<T> FromAsync<T>(Func<CancellationToken, Task<T>> start)
    {
        ArgumentNullException.ThrowIfNull(start);
        return Observable.Create<T>(observer =>
        {
            var cancellation = new CancellationTokenSource();
            Task<T> task;
            // Started without the caller's SynchronizationContext (a test framework's, when virtual time is advanced from a
            // test): an async lambda's awaits would be posted there, to resume on other threads at some later virtual time.
            SynchronizationContext? context = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(null);
            try
            {
                task = start(cancellation.Token);
            }
            catch (Exception e)
            {
                observer.OnError(e);
                return Disposable.Empty;
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(context);
            }
            task.ContinueWith(static (t, state) =>
            {
                var (observer, cancellation) = ((IObserver<T>, CancellationTokenSource))state!;
                if (cancellation.IsCancellationRequested) return;
                if (t.IsCanceled) observer.OnError(new TaskCanceledException(t));
                else if (t.Exception is { } e) observer.OnError(e.InnerExceptions.Count == 1 ? e.InnerExceptions[0] : e);
                else
                {
                    observer.OnNext(t.Result);
                    observer.OnCompleted();
                }
            }, (observer, cancellation), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return Disposable.Create(() =>
            {
                cancellation.Cancel();
                cancellation.Dispose();
            });
        });
    }

    /// <summary>
    /// On each subscription, starts <paramref name="start"/> and yields <see cref="Unit"/> when it completes (then completes)
    /// or fails with its exception, on the thread that completes the task. Unsubscribing cancels the token.
    /// </summary>
    /// <param name="start">Starts the operation (a stack's async API, with the token).</param>
    public static IObservable<Unit> FromAsync(Func<CancellationToken, Task> start)
    {
        ArgumentNullException.ThrowIfNull(start);
        return FromAsync(async token =>
        {
            await start(token).ConfigureAwait(false);
            return Unit.Default;
        });
    }
}
