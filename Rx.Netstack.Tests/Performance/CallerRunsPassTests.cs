using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Performance;

/// <summary>
/// With its own event loop, an idle stack runs the pass on the thread that brought the work, and a peer stack that receives
/// frames from that pass runs its pass on the same thread once the first ends: a send on an idle pair wakes no engine thread.
/// </summary>
public sealed class CallerRunsPassTests
{
    [Fact]
    public async Task A_send_on_idle_stacks_is_carried_to_the_peer_on_the_sending_thread()
    {
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)] });
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)] });
        var (deviceA, deviceB) = PipeDevice.CreatePair(1500);
        a.Attach(deviceA);
        b.Attach(deviceB);
        await using UdpSocket receiver = await b.BindUdpAsync(7000);
        await using UdpSocket sender = await a.BindUdpAsync(7001);
        long udpInBefore = b.GetStats().UdpIn;

        Task send = sender.SendAsync("ping"u8.ToArray(), new NetEndpoint(StackPair.B4, 7000));

        // Both passes ran inside SendAsync: the reply is there, and B has taken the datagram, before SendAsync returned.
        Assert.True(send.IsCompletedSuccessfully);
        Assert.Equal(udpInBefore + 1, b.GetStats().UdpIn);
        var datagram = await receiver.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("ping"u8.ToArray(), datagram.Data.ToArray());
    }

    [Fact]
    public async Task A_received_stream_keeps_receiving_when_a_reply_completes_inside_its_own_subscribe()
    {
        // With buffered data and an idle engine, subscribing runs the pass on the subscribing thread and the reply (delivered
        // immediately) asks for the next chunk before Subscribe returns. The loop must keep that newer request, not cancel it
        // by storing the older subscription last (the demo's echo hung this way on its third line).
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)] });
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)] });
        var (deviceA, deviceB) = PipeDevice.CreatePair(1500);
        a.Attach(deviceA);
        b.Attach(deviceB);
        await using TcpConnectionListener listener = await b.ListenTcpAsync(7002);
        Task<TcpConnection> accepting = listener.AcceptAsync();
        await using TcpConnection client = await a.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 7002)).WaitAsync(TimeSpan.FromSeconds(5));
        await using TcpConnection server = await accepting.WaitAsync(TimeSpan.FromSeconds(5));
        await client.SendAsync("one"u8.ToArray()).WaitAsync(TimeSpan.FromSeconds(5));
        // Wait for "one" to be buffered at the server: the connection's own info stream, sampled by the stack, with a deadline.
        await server.InfoUpdates(TimeSpan.FromMilliseconds(1)).FirstAsync(info => info.ReceiveQueued > 0).ToTask().WaitAsync(TimeSpan.FromSeconds(5));

        var received = new List<string>();
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using IDisposable subscription = server.ReceivedOn(ImmediateScheduler.Instance).Subscribe(chunk =>
        {
            lock (received)
            {
                received.Add(System.Text.Encoding.ASCII.GetString(chunk.Span));
                if (received.Count == 2) second.TrySetResult();
            }
        });
        await client.SendAsync("two"u8.ToArray()).WaitAsync(TimeSpan.FromSeconds(5));

        await second.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(["one", "two"], received);
    }

    [Fact]
    public void A_stack_on_a_supplied_scheduler_runs_passes_only_when_that_scheduler_says()
    {
        using var pair = new StackPair();
        Task<UdpSocket> bind = pair.A.BindUdpAsync(7000);
        Assert.False(bind.IsCompleted); // nothing runs until the test scheduler advances
        pair.Scheduler.Await(bind);
    }
}
