using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>Faults: a device that fails or closes, disposal with requests pending, subscribers that throw.</summary>
public sealed class FaultTests
{
    private static (SocketHandle Client, SocketHandle Server) Connect(StackPair pair, ushort port = 80)
    {
        var s = pair.Scheduler;
        var listen = (Reply.Listening)s.Await(pair.B.Execute(new Command.TcpListen.Listen(new NetEndpoint(NetAddress.AnyV4, port))));
        Reply? accepted = null;
        pair.B.Execute(new Command.TcpListen.Accept(listen.Listener)).Subscribe(r => accepted = r);
        var c = (Reply.Connected)s.Await(pair.A.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, port))));
        s.AdvanceBy(1);
        return (c.Socket, ((Reply.Accepted)accepted!).Socket);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_failed_or_closed_device_ends_connections_with_unreachable_and_a_new_device_works(bool fail)
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)] }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        // A connection in SYN-SENT with a waiting connect, a UDP socket with a waiting receive.
        Reply? connect = null, udpReceive = null;
        stack.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, 80))).Subscribe(r => connect = r);
        var bound = (Reply.Bound)s.Await(stack.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 53))));
        stack.Execute(new Command.Udp.Receive(bound.Socket)).Subscribe(r => udpReceive = r);
        s.AdvanceBy(TimeSpan.FromMilliseconds(5).Ticks);
        Assert.Null(connect);

        if (fail) device.Fail(new IOException("TUN removed"));
        else device.Complete();
        s.AdvanceBy(1);
        var error = Assert.IsType<Reply.Error>(connect).Detail;
        Assert.Equal(NetstackErrorKind.Unreachable, error.Kind);
        Assert.Contains("device", error.Message);
        Assert.Null(udpReceive); // a UDP socket has no connection to lose: it waits for the next device
        Assert.Equal(1, stack.SocketCount);

        // A new device: the UDP socket receives through it and the engine sends again.
        var second = new ManualDevice();
        stack.Attach(second);
        second.Inject(Forge.Udp(StackPair.B4, StackPair.A4, 7, 53, "again"u8));
        s.AdvanceBy(1);
        Assert.Equal("again"u8.ToArray(), Assert.IsType<Reply.DatagramReceived>(udpReceive).Datagram.Data.ToArray());
        stack.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, 80))).Subscribe(_ => { });
        s.AdvanceBy(1);
        Assert.Single(second.Sent); // the new SYN went out on the new device
    }

    [Fact]
    public void Closing_the_pipe_fails_established_connections_on_both_stacks_and_pending_requests_complete()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair);
        Reply? clientRead = null, serverRead = null;
        pair.A.Execute(new Command.TcpStream.Receive(client)).Subscribe(r => clientRead = r);
        pair.B.Execute(new Command.TcpStream.Receive(server)).Subscribe(r => serverRead = r);
        s.AdvanceBy(1);
        pair.DeviceA.Dispose(); // the link goes away under both stacks
        s.AdvanceBy(1);
        Assert.Equal(NetstackErrorKind.Unreachable, Assert.IsType<Reply.Error>(clientRead).Detail.Kind);
        Assert.Equal(NetstackErrorKind.Unreachable, Assert.IsType<Reply.Error>(serverRead).Detail.Kind);
        // Later requests on the dead connection say the same; closing it frees it.
        Assert.Equal(NetstackErrorKind.Unreachable, Assert.IsType<Reply.Error>(s.Await(pair.A.Execute(new Command.TcpStream.Send(client, new byte[1])))).Detail.Kind);
        s.Await(pair.A.Execute(new Command.TcpStream.Close(client)));
        Assert.Equal(0, pair.A.SocketCount);

        // Join the stacks with a new pipe: new connections work.
        var (a, b) = PipeDevice.CreatePair();
        pair.A.Attach(a);
        pair.B.Attach(b);
        var (client2, server2) = Connect(pair, 81);
        s.Await(pair.A.Execute(new Command.TcpStream.Send(client2, "new link"u8.ToArray())));
        Assert.Equal("new link"u8.ToArray(), Assert.IsType<Reply.Data>(s.Await(pair.B.Execute(new Command.TcpStream.Receive(server2)))).Bytes.ToArray());
    }

    [Fact]
    public void Disposing_the_stack_completes_every_pending_request_with_stack_disposed()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, _) = Connect(pair);
        var listen = (Reply.Listening)s.Await(pair.A.Execute(new Command.TcpListen.Listen(new NetEndpoint(NetAddress.AnyV4, 99))));
        var udp = (Reply.Bound)s.Await(pair.A.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 53))));
        var pending = new List<Reply?>();
        void Track(Command c) { int i = pending.Count; pending.Add(null); pair.A.Execute(c).Subscribe(r => pending[i] = r); }
        Track(new Command.TcpStream.Receive(client));
        Track(new Command.TcpListen.Accept(listen.Listener));
        Track(new Command.Udp.Receive(udp.Socket));
        Track(new Command.TcpStream.Connect(new NetEndpoint(NetAddress.Parse("10.0.0.99"), 80)));
        Track(new Command.Icmp.Ping(NetAddress.Parse("10.0.0.99"), 8, TimeSpan.FromSeconds(5)));
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.All(pending, Assert.Null);
        Track(new Command.Udp.Receive(udp.Socket)); // still in the command queue when the stack goes

        pair.A.Dispose();
        s.AdvanceBy(1);
        Assert.All(pending, r => Assert.Equal(NetstackErrorKind.StackDisposed, Assert.IsType<Reply.Error>(r).Detail.Kind));
        Assert.Equal(NetstackErrorKind.StackDisposed, Assert.IsType<Reply.Error>(s.Await(pair.A.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 54))))).Detail.Kind);
        s.AdvanceBy(TimeSpan.FromMinutes(5).Ticks); // no timer of the disposed stack fires into anything
        Assert.Equal(0, pair.A.SocketCount);
    }

    [Fact]
    public void Disposing_the_peer_stack_from_inside_a_pass_does_not_wait_for_that_pass()
    {
        // Reply handlers (and inline continuations) run inside the engine's pass, holding its lock. Disposing the peer stack
        // there ends the pipe, and the end reaches this stack's device observer on the disposing thread: it used to take this
        // engine's lock there, waiting for the pass that waited for it (`bench tcp` hung this way disposing its warm-up pair).
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)] });
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)] });
        var (deviceA, deviceB) = PipeDevice.CreatePair(1500);
        a.Attach(deviceA);
        b.Attach(deviceB);
        // A connect nobody answers (B drops SYNs for an address it does not have): it waits until the device is lost.
        using var connectDone = new ManualResetEventSlim();
        Reply? connect = null;
        using IDisposable connecting = a.Execute(new Command.TcpStream.Connect(new NetEndpoint(NetAddress.Parse("10.0.0.99"), 80)))
            .Subscribe(r => { connect = r; connectDone.Set(); });

        bool insidePass = false, peerDisposed = false;
        using var handled = new ManualResetEventSlim();
        using IDisposable binding = a.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 53))).Subscribe(_ =>
        {
            insidePass = Monitor.IsEntered(a.Passes.EngineLock);
            peerDisposed = Task.Run(b.Dispose).Wait(TimeSpan.FromSeconds(5));
            handled.Set();
        });

        Assert.True(handled.Wait(TimeSpan.FromSeconds(30)), "the reply handler ran");
        Assert.True(insidePass, "the reply handler ran inside the pass");
        Assert.True(peerDisposed, "the peer's Dispose returned while the pass was still running");
        // The end of the device is still noticed, by the next pass: the waiting connect fails as unreachable.
        Assert.True(connectDone.Wait(TimeSpan.FromSeconds(10)), "the connect was answered");
        NetstackError error = Assert.IsType<Reply.Error>(connect).Detail;
        Assert.Equal(NetstackErrorKind.Unreachable, error.Kind);
        Assert.Contains("device", error.Message);
    }

    [Fact]
    public void Disposing_a_stack_that_owns_its_scheduler_ends_the_engine_thread()
    {
        var stack = new Netstack(new NetstackOptions());
        using var ready = new ManualResetEventSlim();
        Thread? engine = null;
        stack.Scheduler.Schedule(() => { engine = Thread.CurrentThread; ready.Set(); });
        Assert.True(ready.Wait(TimeSpan.FromSeconds(10)));
        var receive = stack.Execute(new Command.Udp.Bind(new NetEndpoint(NetAddress.LoopbackV4, 7)));
        stack.Dispose();
        Assert.True(engine!.Join(TimeSpan.FromSeconds(10)), "the engine thread ended");
        Assert.Equal(NetstackErrorKind.StackDisposed, Assert.IsType<Reply.Error>(receive.Timeout(TimeSpan.FromSeconds(10)).Wait()).Detail.Kind);
    }

    [Fact]
    public void A_reply_subscriber_that_throws_hurts_only_itself()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        pair.A.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 1))).Subscribe(_ => throw new InvalidOperationException("user bug"));
        s.AdvanceBy(1);
        Assert.Equal(1, pair.A.GetStats().SubscriberFaults);
        Assert.IsType<Reply.Bound>(s.Await(pair.A.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 2)))));
    }

    [Fact]
    public void A_tap_subscriber_that_throws_is_cut_off_alone()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var seen = new List<CommandEvent>();
        using var bad = pair.A.Tap.Subscribe(_ => throw new InvalidOperationException("user bug"));
        using var good = pair.A.Tap.Subscribe(seen.Add);
        Assert.IsType<Reply.Bound>(s.Await(pair.A.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 1)))));
        Assert.IsType<Reply.Bound>(s.Await(pair.A.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.A4, 2)))));
        Assert.Equal(4, seen.Count); // taken + replied, twice
        Assert.Equal(1, pair.A.GetStats().SubscriberFaults);
    }

    [Fact]
    public void A_throwing_datagram_subscriber_does_not_stop_the_others()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var socket = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(StackPair.B4, 53)));
        var got = new List<string>();
        using var bad = socket.Received.Subscribe(_ => throw new InvalidOperationException("user bug"), _ => { });
        using var good = socket.Received.Subscribe(d => got.Add(System.Text.Encoding.ASCII.GetString(d.Data.Span)));
        s.AdvanceBy(1);
        foreach (string text in new[] { "one", "two", "three" })
        {
            pair.DeviceA.Transmit.OnNext(Forge.Udp(StackPair.A4, StackPair.B4, 9, 53, System.Text.Encoding.ASCII.GetBytes(text)));
            s.AdvanceBy(1);
        }
        Assert.Equal(["one", "two", "three"], got);
        Assert.Equal(1, pair.B.GetStats().SubscriberFaults);
    }

    [Fact]
    public void A_throwing_accept_subscriber_does_not_stop_the_others()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listener = s.Await(TcpConnectionListener.ListenAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 80)));
        int accepted = 0;
        using var bad = listener.Accepted.Subscribe(_ => throw new InvalidOperationException("user bug"), _ => { });
        using var good = listener.Accepted.Subscribe(_ => accepted++);
        for (int i = 0; i < 3; i++) pair.A.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, 80))).Subscribe(_ => { });
        Assert.True(s.RunUntil(() => accepted == 3, TimeSpan.FromSeconds(5)));
        Assert.Equal(1, pair.B.GetStats().SubscriberFaults);
    }
}
