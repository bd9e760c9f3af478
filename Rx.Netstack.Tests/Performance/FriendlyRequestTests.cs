using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Performance;

/// <summary>The lean request path under the friendly async API (Netstack.SubmitAsync) keeps the observable path's contract.</summary>
public sealed class FriendlyRequestTests
{
    [Fact]
    public void A_cancelled_read_is_withdrawn_and_takes_no_data()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listener = s.Await(pair.B.ListenTcpAsync(80));
        var accept = listener.AcceptAsync();
        var client = s.Await(pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80)));
        var server = s.Await(accept);

        using var cts = new CancellationTokenSource();
        var buffer = new byte[16];
        Task<int> cancelled = server.ReadAsync(buffer, cts.Token).AsTask();
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.False(cancelled.IsCompleted);
        cts.Cancel();
        Assert.True(((IAsyncResult)cancelled).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5)), "the cancelled read did not end");
        Assert.True(cancelled.IsCanceled);

        s.Await(client.SendAsync("abc"u8.ToArray()));
        var second = new byte[16];
        int n = s.Await(server.ReadAsync(second).AsTask());
        Assert.Equal("abc", System.Text.Encoding.ASCII.GetString(second, 0, n));
        Assert.All(buffer, b => Assert.Equal(0, b));
    }

    [Fact]
    public void An_error_reply_becomes_a_typed_exception()
    {
        using var pair = new StackPair();
        var error = Assert.Throws<Commands.NetstackException>(() => pair.Scheduler.Await(pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 81))));
        Assert.Equal(Commands.NetstackErrorKind.ConnectionRefused, error.Kind);
    }

    [Fact]
    public void A_token_already_cancelled_never_reaches_the_engine()
    {
        using var pair = new StackPair();
        long before = pair.A.GetStats().CommandsProcessed;
        var task = pair.A.BindUdpAsync(5000, cancellationToken: new CancellationToken(true));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.True(task.IsCanceled);
        Assert.Equal(before, pair.A.GetStats().CommandsProcessed);
    }
}
