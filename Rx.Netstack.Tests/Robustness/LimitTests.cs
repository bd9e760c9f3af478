using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>Every configurable cap: hitting it gives a typed error or a drop counted by reason (docs/reliability.md lists them).</summary>
public sealed class LimitTests
{
    [Fact]
    public void Socket_cap_refuses_binds_listens_and_connects_with_limit_reached_and_counts_syns_it_cannot_take()
    {
        using var pair = new StackPair(configure: o => o with { MaxSockets = 3 });
        var s = pair.Scheduler;
        for (int i = 0; i < 2; i++) Assert.IsType<Reply.Bound>(s.Await(pair.B.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.B4, (ushort)(100 + i))))));
        Assert.IsType<Reply.Listening>(s.Await(pair.B.Execute(new Command.TcpListen.Listen(new NetEndpoint(StackPair.B4, 80)))));
        foreach (Command refused in new Command[]
                 {
                     new Command.Udp.Bind(new NetEndpoint(StackPair.B4, 200)),
                     new Command.TcpListen.Listen(new NetEndpoint(StackPair.B4, 81)),
                     new Command.TcpStream.Connect(new NetEndpoint(StackPair.A4, 80)),
                 })
        {
            var error = Assert.IsType<Reply.Error>(s.Await(pair.B.Execute(refused)));
            Assert.Equal(NetstackErrorKind.LimitReached, error.Detail.Kind);
        }
        // A's SYN finds the table full: dropped and counted, the connect on A keeps retrying.
        pair.A.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, 80))).Subscribe(_ => { });
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Equal(1, pair.B.GetStats().Drops[DropReason.SocketLimit]);
        Assert.Equal(3, pair.B.SocketCount);
    }

    [Fact]
    public void Accept_queue_is_bounded_by_the_backlog_and_overflow_is_counted()
    {
        using var pair = new StackPair(configure: o => o with { EnableSynCookies = false });
        var s = pair.Scheduler;
        s.Await(pair.B.Execute(new Command.TcpListen.Listen(new NetEndpoint(NetAddress.AnyV4, 80), Backlog: 3)));
        var replies = new List<Reply>();
        for (int i = 0; i < 6; i++) pair.A.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, 80))).Subscribe(replies.Add);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Equal(1 + 3, pair.B.SocketCount); // nobody accepts: three wait in the accept queue
        Assert.True(pair.B.GetStats().Drops[DropReason.TcpListenOverflow] >= 3);
    }

    [Fact]
    public void Time_wait_table_is_capped_and_the_overflow_is_counted()
    {
        using var pair = new StackPair(configure: o => o with { MaxTimeWaitConnections = 2 });
        var s = pair.Scheduler;
        var traffic = new EchoTraffic(pair.A, pair.B, new NetEndpoint(StackPair.B4, 80), 100, () => false, TimeSpan.Zero);
        traffic.Listen(16);
        traffic.Connect(5);
        // Each client closes first after one round, so the clients (on A) end in TIME-WAIT.
        Assert.True(s.RunUntil(() => traffic.ClientsFinished == 5 && traffic.ServersFinished == 5, TimeSpan.FromSeconds(10)));
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        var stats = pair.A.GetStats();
        Assert.Equal(2, stats.ConnectionsByState.GetValueOrDefault("TimeWait"));
        Assert.Equal(3, stats.Drops[DropReason.TcpTimeWaitOverflow]);
        Assert.Equal(2, pair.A.SocketCount);
    }

    [Fact]
    public void Reassembly_memory_is_capped_and_fragments_beyond_it_are_counted()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)], ReassemblyMemoryLimit = 16 * 1024 }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        for (uint id = 0; id < 100; id++) // first fragments only: none completes
            device.Inject(Forge.Fragment(StackPair.A4, StackPair.B4, IpProtocol.Udp, id, 0, true, new byte[1024]));
        s.AdvanceBy(1);
        Assert.InRange(stack.ReassemblyMemoryInUse, 1, 16 * 1024);
        Assert.True(stack.GetStats().Drops[DropReason.ReassemblyMemoryFull] > 0);
        s.AdvanceBy(TimeSpan.FromSeconds(31).Ticks);
        Assert.Equal(0, stack.ReassemblyMemoryInUse);
    }

    [Fact]
    public void Udp_receive_queue_is_capped_per_socket_and_overflow_is_counted()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        s.Await(pair.B.Execute(new Command.Udp.Bind(new NetEndpoint(StackPair.B4, 53))));
        int queue = pair.B.Options.UdpReceiveQueueLength;
        for (int i = 0; i < queue + 100; i++) pair.DeviceA.Transmit.OnNext(Forge.Udp(StackPair.A4, StackPair.B4, 1000, 53, new byte[10]));
        s.AdvanceBy(1);
        Assert.Equal(100, pair.B.GetStats().Drops[DropReason.UdpBufferFull]);
    }

    [Fact]
    public void Tcp_buffers_bound_what_a_connection_holds_when_the_reader_stalls()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listen = (Reply.Listening)s.Await(pair.B.Execute(new Command.TcpListen.Listen(new NetEndpoint(NetAddress.AnyV4, 80))));
        Reply? accepted = null;
        pair.B.Execute(new Command.TcpListen.Accept(listen.Listener)).Subscribe(r => accepted = r);
        var c = (Reply.Connected)s.Await(pair.A.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, 80))));
        Reply? send = null;
        pair.A.Execute(new Command.TcpStream.Send(c.Socket, new byte[1 << 20])).Subscribe(r => send = r); // nobody reads on B
        s.AdvanceBy(TimeSpan.FromSeconds(5).Ticks);
        var sent = Assert.IsType<Reply.Sent>(send);
        Assert.InRange(sent.Bytes, 1, TcpSettings.Default.SendBufferSize); // a send takes what fits, the rest waits for the caller
        var server = Assert.IsType<Reply.Accepted>(accepted);
        var serverInfo = ((Reply.Info)s.Await(pair.B.Execute(new Command.TcpStream.GetInfo(server.Socket)))).Connection;
        var clientInfo = ((Reply.Info)s.Await(pair.A.Execute(new Command.TcpStream.GetInfo(c.Socket)))).Connection;
        Assert.Equal(TcpSettings.Default.ReceiveBufferSize, serverInfo.ReceiveQueued); // B's window closed at its buffer size
        Assert.InRange(clientInfo.SendQueued, 0, TcpSettings.Default.SendBufferSize);
    }

    [Fact]
    public void Commands_past_the_queue_room_wait_their_turn_and_are_all_answered_in_order()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { CommandQueueCapacity = 2 }, s);
        var replies = new List<Reply>();
        for (int i = 0; i < 10; i++) stack.Execute(new Command.Udp.Bind(new NetEndpoint(NetAddress.LoopbackV4, (ushort)(1000 + i)))).Subscribe(replies.Add);
        Assert.Empty(replies); // nobody is refused: the eight past the room wait for later rounds
        s.AdvanceBy(1);
        Assert.Equal(Enumerable.Range(1000, 10), replies.Select(r => (int)Assert.IsType<Reply.Bound>(r).Local.Port));
        var stats = stack.GetStats();
        Assert.Equal((8, 0, 0), (stats.CommandsWaited, stats.CommandsRefused, stats.CommandQueueDepth));
    }

    [Fact]
    public void A_command_waiting_for_room_is_withdrawn_by_disposing_its_subscription()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { CommandQueueCapacity = 1 }, s);
        var replies = new List<Reply>();
        stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:1000"))).Subscribe(replies.Add);
        var waiting = stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:1001"))).Subscribe(replies.Add);
        waiting.Dispose();
        s.AdvanceBy(1);
        Assert.IsType<Reply.Bound>(Assert.Single(replies));
        // The withdrawn bind never happened: its port is free.
        Assert.IsType<Reply.Bound>(s.Await(stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:1001")))));
    }

    [Fact]
    public void Past_the_hard_limit_a_command_is_refused_at_once_with_command_queue_full()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { CommandQueueCapacity = 4, CommandQueueLimit = 6 }, s);
        var replies = new List<Reply>();
        for (int i = 0; i < 10; i++) stack.Execute(new Command.Udp.Bind(new NetEndpoint(NetAddress.LoopbackV4, (ushort)(1000 + i)))).Subscribe(replies.Add);
        Assert.Equal(4, replies.Count(r => r is Reply.Error { Detail.Kind: NetstackErrorKind.CommandQueueFull }));
        s.AdvanceBy(1);
        Assert.Equal(6, replies.Count(r => r is Reply.Bound));
        Assert.Equal(4, stack.GetStats().CommandsRefused);
    }

    [Fact]
    public void Full_inbox_drops_frames_and_counts_them()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)], FrameQueueCapacity = 100 }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        byte[] frame = Forge.Udp(StackPair.A4, StackPair.B4, 1, 2, new byte[4]);
        for (int i = 0; i < 150; i++) device.Inject(frame); // the engine has not run yet
        s.AdvanceBy(1);
        Assert.Equal(50, stack.GetStats().Drops[DropReason.InboxFull]);
    }
}
