using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A stack of two engines (<see cref="NetstackOptions.Engines"/>) over an in-memory link with two queues, against a one-engine
/// peer, all on one virtual clock: flows land on the engine their hash names and stay there in both directions, listeners
/// accept on every engine, connects from the facade are placed by their tuple, and stats and the socket table merge.
/// </summary>
public sealed class ShardingTests : IDisposable
{
    private static readonly NetAddress Us = NetAddress.Parse("10.0.0.1"), PeerAddress = NetAddress.Parse("10.0.0.2");

    private readonly TestScheduler _s = new();
    private readonly Netstack _sharded;
    private readonly Netstack _peer;
    private readonly MultiQueuePipe _pipe;

    public ShardingTests()
    {
        _sharded = new Netstack(new NetstackOptions { Addresses = [new(Us, 24)], Engines = 2, RandomSeed = 7, RunContinuationsInline = true }, _s);
        _peer = new Netstack(new NetstackOptions { Addresses = [new(PeerAddress, 24)], RandomSeed = 8, RunContinuationsInline = true }, _s);
        _pipe = MultiQueuePipe.Create(2);
        _sharded.AttachQueues(_pipe);
        _peer.Attach(_pipe.Peer);
    }

    public void Dispose()
    {
        _sharded.Dispose();
        _peer.Dispose();
        _pipe.Dispose();
    }

    private IReadOnlyList<Netstack> Engines => _sharded.Shards!.Engines;

    /// <summary>The index of the engine that issued <paramref name="handle"/>.</summary>
    private int EngineOf(SocketHandle handle) => Engines.Select((e, i) => (e, i)).Single(x => x.e.Id == handle.StackId).i;

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private byte[] ReadExactly(TcpConnection connection, int length)
    {
        var buffer = new byte[length];
        int got = 0;
        while (got < length)
        {
            int n = _s.Await(connection.ReadAsync(buffer.AsMemory(got)).AsTask());
            Assert.True(n > 0, "end of stream before all bytes arrived");
            got += n;
        }
        return buffer;
    }

    [Fact]
    public void ListenersAcceptOnEveryEngine_EachFlowOnTheEngineItsTupleHashesTo()
    {
        TcpConnectionListener listener = _s.Await(_sharded.ListenTcpAsync(80));
        const int count = 16;
        var clients = new List<TcpConnection>();
        var servers = new List<TcpConnection>();
        for (int i = 0; i < count; i++)
        {
            Task<TcpConnection> accept = listener.AcceptAsync();
            clients.Add(_s.Await(_peer.ConnectTcpAsync(new NetEndpoint(Us, 80))));
            servers.Add(_s.Await(accept));
        }

        FlowSharding sharding = _sharded.Shards!.Sharding;
        foreach (TcpConnection server in servers)
            Assert.Equal(sharding.ShardOf(server.Remote, server.Local.Port), EngineOf(server.Handle));
        Assert.Equal([0, 1], servers.Select(c => EngineOf(c.Handle)).Distinct().Order());

        // Both directions, byte-exact, on every connection.
        for (int i = 0; i < count; i++)
        {
            byte[] up = Pattern(20_000, i), down = Pattern(30_000, 100 + i);
            Task sendUp = clients[i].SendAsync(up), sendDown = servers[i].SendAsync(down);
            Assert.Equal(up, ReadExactly(servers[i], up.Length));
            Assert.Equal(down, ReadExactly(clients[i], down.Length));
            _s.Await(Task.WhenAll(sendUp, sendDown));
        }

        // The link's fallback hash is not ours, so some first SYNs reached the other engine's queue and were moved; after the
        // engine's answer the link learned each flow's queue, so nothing else was moved.
        long moved = _sharded.Shards.FramesMoved;
        Assert.InRange(moved, 1, count);
    }

    [Fact]
    public void ConnectsFromTheFacade_ArePlacedRoundRobin_WithPortsThatHashToTheirEngine()
    {
        TcpConnectionListener listener = _s.Await(_peer.ListenTcpAsync(8080));
        var pairs = new List<(TcpConnection Client, TcpConnection Server)>();
        for (int i = 0; i < 8; i++)
        {
            Task<TcpConnection> accept = listener.AcceptAsync();
            TcpConnection client = _s.Await(_sharded.ConnectTcpAsync(new NetEndpoint(PeerAddress, 8080)));
            pairs.Add((client, _s.Await(accept)));
        }
        FlowSharding sharding = _sharded.Shards!.Sharding;
        foreach ((TcpConnection client, _) in pairs)
            Assert.Equal(sharding.ShardOf(client.Remote, client.Local.Port), EngineOf(client.Handle));
        Assert.Equal(4, pairs.Count(p => EngineOf(p.Client.Handle) == 0));
        Assert.Equal(4, pairs.Count(p => EngineOf(p.Client.Handle) == 1));
        for (int i = 0; i < pairs.Count; i++)
        {
            byte[] up = Pattern(10_000, i);
            _ = pairs[i].Client.SendAsync(up);
            Assert.Equal(up, ReadExactly(pairs[i].Server, up.Length));
        }
        // A flow's first packet left through its engine's queue, so the link sent every answer to that queue: nothing moved.
        Assert.Equal(0, _sharded.Shards.FramesMoved);
    }

    [Fact]
    public void ExplicitLocalPort_GoesToTheEngineOfItsTuple()
    {
        _ = _s.Await(_peer.ListenTcpAsync(8080));
        var remote = new NetEndpoint(PeerAddress, 8080);
        for (ushort port = 40000; port < 40006; port++)
        {
            TcpConnection client = _s.Await(TcpConnection.ConnectAsync(_sharded, remote, new NetEndpoint(NetAddress.AnyV4, port)));
            Assert.Equal(port, client.Local.Port);
            Assert.Equal(_sharded.Shards!.Sharding.ShardOf(remote, port), EngineOf(client.Handle));
        }
    }

    [Fact]
    public void StatsAndSocketTable_MergeEveryEngine()
    {
        var batches = new List<IReadOnlyList<SocketTableChange>>();
        using IDisposable table = _sharded.SocketTable.Subscribe(batches.Add);
        TcpConnectionListener listener = _s.Await(_sharded.ListenTcpAsync(80));
        var servers = new List<TcpConnection>();
        for (int i = 0; i < 8; i++)
        {
            Task<TcpConnection> accept = listener.AcceptAsync();
            _ = _s.Await(_peer.ConnectTcpAsync(new NetEndpoint(Us, 80)));
            servers.Add(_s.Await(accept));
        }
        _s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);

        NetstackStats total = _sharded.GetStats();
        NetstackStats[] parts = [.. Engines.Select(e => e.EngineStats())];
        Assert.Equal(8, total.ConnectionsByState["Established"]);
        Assert.Equal(parts.Sum(p => p.TcpIn), total.TcpIn);
        Assert.Equal(parts.Sum(p => p.FramesOut), total.FramesOut);
        Assert.True(parts.All(p => p.TcpIn > 0), "both engines carried segments");
        Assert.Equal(2, total.SocketsByKind["TcpListener"]);
        Assert.Equal(8, total.SocketsByKind["TcpStream"]);

        // The first batch is the (empty) table of both engines at once; then the rows: a listener per engine, 8 connections.
        Assert.Empty(batches[0]);
        var rows = new Dictionary<SocketHandle, SocketInfo>();
        foreach (SocketTableChange change in batches.SelectMany(b => b))
        {
            if (change.Kind == SocketTableChangeKind.Remove) rows.Remove(change.Socket.Handle);
            else rows[change.Socket.Handle] = change.Socket;
        }
        Assert.Equal(2, rows.Values.Count(r => r.State == TcpState.Listen));
        Assert.Equal(2, rows.Values.Where(r => r.State == TcpState.Listen).Select(r => r.Handle.StackId).Distinct().Count());
        Assert.Equal(servers.Select(c => c.Handle).ToHashSet(), rows.Values.Where(r => r.State == TcpState.Established).Select(r => r.Handle).ToHashSet());

        // A late subscriber's first batch holds every engine's rows.
        var late = new List<IReadOnlyList<SocketTableChange>>();
        using IDisposable lateTable = _sharded.SocketTable.Subscribe(late.Add);
        _s.AdvanceBy(2);
        Assert.Equal(10, late[0].Count);
    }

    [Fact]
    public void ClosingAListener_FailsItsWaitingAccept_AndClosesItOnEveryEngine()
    {
        TcpConnectionListener listener = _s.Await(_sharded.ListenTcpAsync(80));
        Task<TcpConnection> accept = listener.AcceptAsync();
        _s.AdvanceBy(2);
        Assert.Equal(2, _sharded.GetStats().SocketsByKind["TcpListener"]);
        // Closed without xunit's SynchronizationContext, so the failed accept's continuations run inline (not on the pool).
        _s.Await(_s.StartInVirtualTime(() => listener.DisposeAsync().AsTask()));
        Assert.True(accept.IsCompleted);
        var error = Assert.Throws<NetstackException>(() => accept.GetAwaiter().GetResult());
        Assert.Equal(NetstackErrorKind.SocketClosed, error.Kind);
        Assert.False(_sharded.GetStats().SocketsByKind.ContainsKey("TcpListener"));
        // The port is free again on both engines.
        _ = _s.Await(_sharded.ListenTcpAsync(80));
    }

    [Fact]
    public void CancelledAccept_LeavesTheConnectionForTheNextAccept()
    {
        TcpConnectionListener listener = _s.Await(_sharded.ListenTcpAsync(80));
        using var cancel = new CancellationTokenSource();
        Task<TcpConnection> first = listener.AcceptAsync(cancel.Token);
        _s.AdvanceBy(2);
        // Cancelled on a thread with xunit's SynchronizationContext, the task's continuations would be queued to the pool and
        // race virtual time; without it they run inline, here.
        _s.StartInVirtualTime(() =>
        {
            cancel.Cancel();
            return Task.CompletedTask;
        });
        Assert.True(first.IsCanceled, $"{first.Status} {first.Exception}");
        TcpConnection client = _s.Await(_peer.ConnectTcpAsync(new NetEndpoint(Us, 80)));
        TcpConnection server = _s.Await(listener.AcceptAsync());
        Assert.Equal(client.Local, server.Remote);
    }

    [Fact]
    public void AnApplicationThatAcceptsLate_GetsEveryConnection_FromEngineQueuesHeldWhileTheFacadeWasFull()
    {
        // Backlog 2: the facade holds two accepted connections, each engine's listener two more; the rest of the clients'
        // SYNs wait (retransmitted) until accepts make room. Engines refused by the full facade must be asked again.
        TcpConnectionListener listener = _s.Await(_sharded.ListenTcpAsync(80, backlog: 2));
        const int count = 10;
        var connects = new List<Task<TcpConnection>>();
        for (int i = 0; i < count; i++) connects.Add(_peer.ConnectTcpAsync(new NetEndpoint(Us, 80)));
        _s.AdvanceBy(TimeSpan.FromSeconds(2).Ticks); // nobody accepts yet
        var servers = new List<TcpConnection>();
        for (int i = 0; i < count; i++) servers.Add(_s.Await(listener.AcceptAsync(), TimeSpan.FromMinutes(2)));
        TcpConnection[] clients = [.. connects.Select(c => _s.Await(c))];
        Assert.Equal(clients.Select(c => c.Local.Port).Order(), servers.Select(c => c.Remote.Port).Order());
        Assert.Equal([0, 1], servers.Select(c => EngineOf(c.Handle)).Distinct().Order());
        for (int i = 0; i < count; i++)
        {
            byte[] up = Pattern(100, i);
            _ = clients.Single(c => c.Local == servers[i].Remote).SendAsync(up);
            Assert.Equal(up, ReadExactly(servers[i], up.Length));
        }
    }

    [Fact]
    public void UdpLivesOnTheHomeEngine()
    {
        UdpSocket socket = _s.Await(_sharded.BindUdpAsync(5353));
        Assert.Equal(0, EngineOf(socket.Handle));
        UdpSocket peer = _s.Await(_peer.BindUdpAsync(0));
        _s.Await(peer.SendAsync(new byte[] { 1, 2, 3 }, new NetEndpoint(Us, 5353)));
        Datagram datagram = _s.Await(socket.ReceiveAsync());
        Assert.Equal(new byte[] { 1, 2, 3 }, datagram.Data.ToArray());
    }

    [Fact]
    public void Attach_NeedsOneQueuePerEngine()
    {
        using var stack = new Netstack(new NetstackOptions { Engines = 2 }, new TestScheduler());
        (PipeDevice a, PipeDevice b) = PipeDevice.CreatePair();
        Assert.Throws<ArgumentException>(() => stack.Attach(a));
        using MultiQueuePipe three = MultiQueuePipe.Create(3);
        Assert.Throws<ArgumentException>(() => stack.AttachQueues(three));
        using var single = new Netstack(options: null, new TestScheduler());
        using IDisposable attached = single.AttachQueues(MultiQueuePipe.Create(1));
        a.Dispose();
        b.Dispose();
    }

    [Fact]
    public async Task DisposeAsync_TearsDownEveryEngine()
    {
        var stack = new Netstack(new NetstackOptions { Engines = 3 });
        IReadOnlyList<Netstack> engines = stack.Shards!.Engines;
        await stack.DisposeAsync();
        Assert.All(engines, e => Assert.True(e.Passes.IsTornDown));
    }
    /// <summary>A local port whose flow to <paramref name="remote"/> the stack's hash gives to <paramref name="engine"/>.</summary>
    private ushort PortOnEngine(NetEndpoint remote, int engine, ushort from)
    {
        for (ushort port = from; ; port++)
            if (_sharded.Shards!.Sharding.ShardOf(remote, port) == engine) return port;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void APathMtuLearnedOnOneEngine_HoldsForANewConnectionOnAnother(int learner)
    {
        // RFC 1191 §5, RFC 8201 §5.2: the estimate is per destination. A packet too big reaches the engine of the flow it
        // quotes; a later connection to the same host placed on the other engine starts at the learned size all the same.
        const int HopMtu = 1000;
        int other = 1 - learner;
        _ = _s.Await(_peer.ListenTcpAsync(8080));
        var remote = new NetEndpoint(PeerAddress, 8080);
        ushort firstPort = PortOnEngine(remote, learner, 41000);
        TcpConnection first = _s.Await(TcpConnection.ConnectAsync(_sharded, remote, new NetEndpoint(NetAddress.AnyV4, firstPort)));
        Assert.Equal(learner, EngineOf(first.Handle));
        int linkMss = _s.Await(first.GetInfoAsync()).MaxSegmentSize;

        // A router with a 1000-byte hop answers the first full-sized data segment (still in flight) with "fragmentation needed".
        var router = NetAddress.Parse("10.0.0.254");
        bool answered = false;
        using IDisposable tap = _pipe.Peer.Received.Subscribe(frame =>
        {
            byte[] packet = frame.ToArray();
            if (answered || packet.Length <= HopMtu || !Forge.TryReadTcp(packet, out _, out _, out TcpHeader h, out int length)
                || h.SourcePort != firstPort || length == 0)
                return;
            answered = true;
            var header = new IcmpHeader((byte)IcmpV4Type.DestinationUnreachable, 4, Mtu: HopMtu);
            _pipe.Peer.Transmit.OnNext(Forge.Icmp(router, Us, header, packet.AsSpan(0, 28)));
        });
        _ = first.SendAsync(Pattern(20_000, 1));
        _s.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
        Assert.True(answered, "no full-sized segment went out");
        int learned = HopMtu - (1500 - linkMss); // the same headers and options around a smaller payload
        Assert.Equal(learned, _s.Await(first.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(1, Engines[learner].TcpCounters.IcmpErrorsAccepted);
        Assert.Equal(0, Engines[other].TcpCounters.IcmpErrorsAccepted);

        ushort secondPort = PortOnEngine(remote, other, (ushort)(firstPort + 1));
        TcpConnection second = _s.Await(TcpConnection.ConnectAsync(_sharded, remote, new NetEndpoint(NetAddress.AnyV4, secondPort)));
        Assert.Equal(other, EngineOf(second.Handle));
        Assert.Equal(learned, _s.Await(second.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(1, Engines[other].PathMtuEntries);

        // After the lifetime (RFC 1191 §6.3) the shared entry is gone for every engine: new connections try the link's size.
        _s.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        TcpConnection third = _s.Await(TcpConnection.ConnectAsync(_sharded, remote, new NetEndpoint(NetAddress.AnyV4, PortOnEngine(remote, other, (ushort)(secondPort + 1)))));
        Assert.Equal(linkMss, _s.Await(third.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(0, Engines[learner].PathMtuEntries);
    }
}
