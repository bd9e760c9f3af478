using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// <see cref="NetstackOptions.RunContinuationsInline"/> means inline even when the thread that drives a supplied scheduler has a
/// <see cref="SynchronizationContext"/> (xunit's, a UI's): .NET would otherwise queue the continuation to the thread pool,
/// where it races virtual time.
/// </summary>
public sealed class InlineContinuationTests
{
    /// <summary>Counts what is posted to it (nothing should be).</summary>
    private sealed class CountingContext : SynchronizationContext
    {
        public int Posts;

        public override void Post(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref Posts);
            base.Post(d, state);
        }
    }

    [Fact]
    public void A_continuation_resumes_inside_the_pass_even_when_the_driving_thread_has_a_synchronization_context()
    {
        SynchronizationContext? previous = SynchronizationContext.Current;
        var context = new CountingContext();
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            using var pair = new StackPair();
            int resumedOn = -1;
            async Task ListenAndNote()
            {
                await TcpConnectionListener.ListenAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 80)).ConfigureAwait(false);
                Volatile.Write(ref resumedOn, Environment.CurrentManagedThreadId);
            }
            Task listening = ListenAndNote();

            pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);

            Assert.True(listening.IsCompletedSuccessfully);
            Assert.Equal(Environment.CurrentManagedThreadId, Volatile.Read(ref resumedOn)); // in the pass, on this thread
            Assert.Equal(0, context.Posts);
            Assert.Same(context, SynchronizationContext.Current); // the pass gave the context back
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }
}
