using Rx.Netstack.Commands;
using Rx.Netstack.Engine;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A waiter cancelled at the moment data arrives must not carry the data away: the engine claims a waiter before it takes a
/// packet out of a socket's queue, skipping waiters that were cancelled meanwhile.
/// </summary>
public sealed class WaitQueueTests
{
    private static PendingRequest Request(long id) =>
        new(id, new Command.Udp.Receive(default), System.Reactive.Observer.Create<Reply>(_ => { }));

    [Fact]
    public void DequeueClaimed_skips_waiters_cancelled_meanwhile_and_claims_the_first_live_one()
    {
        var queue = new WaitQueue();
        PendingRequest cancelled = Request(1), live = Request(2), later = Request(3);
        queue.Enqueue(cancelled);
        queue.Enqueue(live);
        queue.Enqueue(later);
        Assert.True(cancelled.TryClaim()); // what a cancellation on another thread does

        PendingRequest? taken = queue.DequeueClaimed();

        Assert.Same(live, taken);
        Assert.False(live.TryClaim()); // already claimed for its reply: a cancellation now loses
        Assert.Same(later, queue.First);
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void DequeueClaimed_on_a_queue_of_cancelled_waiters_returns_null_and_empties_it()
    {
        var queue = new WaitQueue();
        PendingRequest a = Request(1), b = Request(2);
        queue.Enqueue(a);
        queue.Enqueue(b);
        a.TryClaim();
        b.TryClaim();

        Assert.Null(queue.DequeueClaimed());
        Assert.True(queue.IsEmpty);
    }
}
