using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// Interception on a stack of two engines (docs/forwarding.md, "Several engines"), in virtual time: a one-engine client
/// stack sends to documentation prefixes (RFC 5737, RFC 3849) across a two-queue in-memory link; each SYN lands on the engine
/// its tuple hashes to, and the application sees one interceptor.
/// </summary>
public sealed class ShardedInterceptionTests : IDisposable
{
    private static readonly NetAddress Us = NetAddress.Parse("10.0.0.1"), PeerAddress = NetAddress.Parse("10.0.0.2");
    private static readonly NetPrefix[] Prefixes = [NetPrefix.Parse("198.51.100.0/24"), NetPrefix.Parse("2001:db8::/32")];
    private static readonly NetEndpoint Far = NetEndpoint.Parse("198.51.100.7:443");
    private static readonly NetEndpoint Far6 = NetEndpoint.Parse("[2001:db8::7]:443");

    private readonly TestScheduler _s = new();
    private readonly Netstack _sharded;
    private readonly Netstack _peer;
    private readonly MultiQueuePipe _pipe;

    public ShardedInterceptionTests()
    {
        _sharded = new Netstack(new NetstackOptions
        {
            Addresses = [new(Us, 24), InterfaceAddress.Parse("fd00::1/64")],
            Engines = 2,
            RandomSeed = 7,
            RunContinuationsInline = true,
        }, _s);
        _peer = new Netstack(new NetstackOptions
        {
            Addresses = [new(PeerAddress, 24), InterfaceAddress.Parse("fd00::2/64")],
            RandomSeed = 8,
            RunContinuationsInline = true,
        }, _s);
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

    private int EngineOf(SocketHandle handle) => Engines.Select((e, i) => (e, i)).Single(x => x.e.Id == handle.StackId).i;

    /// <summary>The engine a client's SYN to <paramref name="destination"/> lands on.</summary>
    private int EngineOf(NetEndpoint client, NetEndpoint destination) => _sharded.Shards!.Sharding.ShardOf(client, destination.Port);

    /// <summary>Client ports whose flow to <see cref="Far"/> lands on <paramref name="engine"/>, from <paramref name="from"/> up.</summary>
    private IEnumerable<ushort> PortsOn(int engine, ushort from = 40000)
    {
        for (ushort port = from; port < 60000; port++)
            if (EngineOf(new NetEndpoint(PeerAddress, port), Far) == engine) yield return port;
    }

    private Task<TcpConnection> ConnectFrom(ushort port) =>
        TcpConnection.ConnectAsync(_peer, Far, new NetEndpoint(NetAddress.AnyV4, port));

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

    private long Drops(DropReason reason) => _sharded.GetStats().Drops.GetValueOrDefault(reason);

    [Fact]
    public void Offers_of_both_engines_merge_into_one_stream_each_seen_once_and_are_decided_on_their_engine()
    {
        TcpInterceptor interceptor = _s.Await(TcpInterceptor.StartAsync(_sharded, Prefixes));
        var offers = new List<TcpInterception>();
        using IDisposable subscription = interceptor.Offers.Subscribe(offers.Add);
        var connects = new List<Task<TcpConnection>>();
        for (int i = 0; i < 24; i++) connects.Add(_peer.ConnectTcpAsync(i % 4 == 3 ? Far6 : Far));

        // Undecided for 4 s: every SYN is retransmitted twice, and each attempt is still one offer.
        _s.AdvanceBy(TimeSpan.FromSeconds(4).Ticks);
        Assert.Equal(24, offers.Count);
        Assert.Equal(24, offers.Select(o => o.Id).Distinct().Count());
        Assert.Equal(24, offers.Select(o => o.Source).Distinct().Count());
        NetstackStats stats = _sharded.GetStats();
        Assert.Equal(24, stats.InterceptedSyns);
        Assert.Equal(48, stats.InterceptedSynRetransmits);
        Assert.True(Engines.All(e => e.EngineStats().InterceptedSyns > 0), "both engines intercepted SYNs");
        for (int k = 0; k < 2; k++)
            Assert.Equal(offers.Count(o => EngineOf(o.Source, o.Destination) == k), Engines[k].Tcp.Interceptors.Single().Undecided.Count);

        // Accept every other offer, refuse the rest: both decisions happen on both engines.
        var accepted = offers.Where((_, i) => i % 2 == 0).ToList();
        var refused = offers.Where((_, i) => i % 2 == 1).ToList();
        Assert.Equal([0, 1], accepted.Select(o => EngineOf(o.Source, o.Destination)).Distinct().Order());
        Assert.Equal([0, 1], refused.Select(o => EngineOf(o.Source, o.Destination)).Distinct().Order());
        foreach (TcpInterception offer in refused) _s.Await(offer.RefuseAsync());
        var servers = accepted.Select(o => _s.Await(o.AcceptAsync())).ToList();

        for (int i = 0; i < accepted.Count; i++)
        {
            TcpConnection server = servers[i];
            Assert.Equal(accepted[i].Destination, server.Local);
            Assert.Equal(accepted[i].Source, server.Remote);
            Assert.Equal(EngineOf(accepted[i].Source, accepted[i].Destination), EngineOf(server.Handle));
        }
        Assert.True(_s.RunUntil(() => connects.All(c => c.IsCompleted)), "every client's connect ended");
        var established = connects.Where(c => c.IsCompletedSuccessfully).Select(c => c.Result).ToList();
        Assert.Equal(12, established.Count);
        Assert.All(connects.Where(c => !c.IsCompletedSuccessfully), c =>
            Assert.Equal(NetstackErrorKind.ConnectionRefused, Assert.Throws<NetstackException>(() => c.GetAwaiter().GetResult()).Kind));

        // Both directions, byte-exact, through every accepted connection.
        foreach (TcpConnection server in servers)
        {
            TcpConnection client = established.Single(c => c.Local == server.Remote);
            byte[] up = Pattern(20_000, server.Remote.Port), down = Pattern(30_000, server.Remote.Port + 1);
            Task sendUp = client.SendAsync(up), sendDown = server.SendAsync(down);
            Assert.Equal(up, ReadExactly(server, up.Length));
            Assert.Equal(down, ReadExactly(client, down.Length));
            _s.Await(Task.WhenAll(sendUp, sendDown));
        }
        stats = _sharded.GetStats();
        Assert.Equal(12, stats.InterceptionsAccepted);
        Assert.Equal(12, stats.InterceptionsRefused);
        Assert.Equal(2, stats.SocketsByKind["TcpInterceptor"]);
        Assert.All(Engines, e => Assert.Empty(e.Tcp.Interceptors.Single().Undecided));
    }

    [Theory]
    [InlineData(128, 0, 2, 64)]
    [InlineData(128, 1, 2, 64)]
    [InlineData(3, 0, 2, 2)]
    [InlineData(3, 1, 2, 1)]
    [InlineData(1, 1, 2, 1)]
    [InlineData(10, 3, 4, 2)]
    [InlineData(0, 0, 2, 0)]
    public void The_backlog_is_split_between_the_engines_at_least_one_each(int backlog, int engine, int engines, int share) =>
        Assert.Equal(share, ShardedInterceptor.BacklogShare(backlog, engine, engines));

    [Fact]
    public void Each_engine_holds_its_share_of_the_backlog_and_a_syn_beyond_is_dropped_and_counted()
    {
        // A backlog of 2 over 2 engines: one undecided offer each. Three clients aim at each engine.
        TcpInterceptor interceptor = _s.Await(TcpInterceptor.StartAsync(_sharded, Prefixes, backlog: 2));
        ushort[] on0 = [.. PortsOn(0).Take(3)], on1 = [.. PortsOn(1).Take(3)];
        var connects = on0.Concat(on1).Select(ConnectFrom).ToList();
        _s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Equal(4, Drops(DropReason.TcpInterceptOverflow));
        Assert.Equal(2, _sharded.GetStats().InterceptedSyns);
        Assert.All(Engines, e => Assert.Equal(2, e.EngineStats().Drops[DropReason.TcpInterceptOverflow]));

        TcpInterception first = _s.Await(interceptor.NextAsync()), second = _s.Await(interceptor.NextAsync());
        Assert.Equal([0, 1], new[] { first, second }.Select(o => EngineOf(o.Source, o.Destination)).Order());
        Task<TcpInterception> third = interceptor.NextAsync();
        _s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.False(third.IsCompleted);

        // Deciding makes room on each engine: the next retransmitted SYN there is offered, the other one dropped again.
        _s.Await(first.RefuseAsync());
        _s.Await(second.RefuseAsync());
        _s.AdvanceBy(TimeSpan.FromSeconds(1.5).Ticks);
        Assert.True(third.IsCompleted);
        TcpInterception retried = _s.Await(third);
        TcpInterception fourth = _s.Await(interceptor.NextAsync());
        Assert.Equal([0, 1], new[] { retried, fourth }.Select(o => EngineOf(o.Source, o.Destination)).Order());
        Assert.Equal(6, Drops(DropReason.TcpInterceptOverflow));
        Assert.Equal(4, _sharded.GetStats().InterceptedSyns);
        Assert.Equal(2, connects.Count(c => c.IsFaulted));
    }

    [Fact]
    public void Offers_expire_on_their_engine_taken_or_not_and_the_expiries_are_summed()
    {
        TcpInterceptor interceptor = _s.Await(TcpInterceptor.StartAsync(_sharded, Prefixes, decisionTimeout: TimeSpan.FromSeconds(5)));
        Task<TcpConnection> to0 = ConnectFrom(PortsOn(0).First()), to1 = ConnectFrom(PortsOn(1).First());
        _s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        TcpInterception taken = _s.Await(interceptor.NextAsync()); // one taken by the application, one left in its engine
        _s.AdvanceBy(TimeSpan.FromSeconds(6).Ticks);

        Assert.Equal(2, _sharded.GetStats().InterceptionsExpired);
        Assert.All(Engines, e => Assert.Equal(1, e.EngineStats().InterceptionsExpired));
        Assert.Equal(NetstackErrorKind.ConnectionRefused, Assert.Throws<NetstackException>(() => _s.Await(to0)).Kind);
        Assert.Equal(NetstackErrorKind.ConnectionRefused, Assert.Throws<NetstackException>(() => _s.Await(to1)).Kind);
        Assert.Equal(NetstackErrorKind.ConnectionReset, Assert.Throws<NetstackException>(() => _s.Await(taken.AcceptAsync())).Kind);
        Assert.All(Engines, e => Assert.Empty(e.Tcp.Interceptors.Single().Undecided));
        // The expired offer nobody took is not handed out afterwards.
        Task<TcpInterception> next = interceptor.NextAsync();
        _s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.False(next.IsCompleted);
    }

    [Fact]
    public void A_cancelled_next_leaves_the_offer_for_the_next_request()
    {
        TcpInterceptor interceptor = _s.Await(TcpInterceptor.StartAsync(_sharded, Prefixes));
        using var cancel = new CancellationTokenSource();
        Task<TcpInterception> first = interceptor.NextAsync(cancel.Token);
        _s.AdvanceBy(2);
        _s.StartInVirtualTime(() =>
        {
            cancel.Cancel();
            return Task.CompletedTask;
        });
        Assert.True(first.IsCanceled, $"{first.Status} {first.Exception}");
        Task<TcpConnection> connect = ConnectFrom(PortsOn(1).First());
        _s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        TcpInterception offer = _s.Await(interceptor.NextAsync());
        Assert.Equal(Far, offer.Destination);
        TcpConnection server = _s.Await(offer.AcceptAsync());
        Assert.Equal(1, EngineOf(server.Handle));
        Assert.Equal(server.Remote, _s.Await(connect).Local);
    }

    [Fact]
    public void Disposing_fails_the_waiting_request_resets_undecided_offers_on_every_engine_and_stops_intercepting()
    {
        TcpInterceptor interceptor = _s.Await(TcpInterceptor.StartAsync(_sharded, Prefixes));
        Task<TcpConnection> to0 = ConnectFrom(PortsOn(0).First()), to1 = ConnectFrom(PortsOn(1).First());
        TcpInterception a = _s.Await(interceptor.NextAsync()), b = _s.Await(interceptor.NextAsync());
        Task<TcpInterception> waiting = interceptor.NextAsync();
        _s.AdvanceBy(2);
        Assert.Equal(2, _sharded.GetStats().SocketsByKind["TcpInterceptor"]);

        _s.Await(_s.StartInVirtualTime(() => interceptor.DisposeAsync().AsTask()));
        Assert.Equal(NetstackErrorKind.SocketClosed, Assert.Throws<NetstackException>(() => _s.Await(waiting)).Kind);
        Assert.Equal(NetstackErrorKind.ConnectionRefused, Assert.Throws<NetstackException>(() => _s.Await(to0)).Kind);
        Assert.Equal(NetstackErrorKind.ConnectionRefused, Assert.Throws<NetstackException>(() => _s.Await(to1)).Kind);
        Assert.Equal(NetstackErrorKind.StaleHandle, Assert.Throws<NetstackException>(() => _s.Await(a.AcceptAsync())).Kind); // as on one engine
        Assert.NotNull(b);
        Assert.False(_sharded.GetStats().SocketsByKind.ContainsKey("TcpInterceptor"));

        // Nothing intercepts any more, on either engine.
        long notForUs = Drops(DropReason.NotForUs);
        _ = ConnectFrom(PortsOn(0).Skip(1).First());
        _ = ConnectFrom(PortsOn(1).Skip(1).First());
        _s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Equal(notForUs + 2, Drops(DropReason.NotForUs));
        Assert.All(Engines, e => Assert.Empty(e.Tcp.Interceptors));
    }

    [Fact]
    public void Udp_flows_live_on_the_home_engine_beside_a_sharded_tcp_interceptor()
    {
        TcpInterceptor tcp = _s.Await(TcpInterceptor.StartAsync(_sharded, Prefixes));
        UdpInterceptor udp = _s.Await(UdpInterceptor.StartAsync(_sharded, Prefixes));
        Assert.Equal(0, EngineOf(udp.Handle));
        foreach (NetEndpoint far in new[] { NetEndpoint.Parse("198.51.100.9:53"), NetEndpoint.Parse("[2001:db8::9]:53") })
        {
            UdpSocket client = _s.Await(_peer.BindUdpAsync(0, far.Address.IsV6));
            Task<UdpFlow> next = udp.NextAsync();
            _s.Await(client.SendAsync("query"u8.ToArray(), far));
            UdpFlow flow = _s.Await(next);
            Assert.Equal(0, EngineOf(flow.Handle));
            Assert.Equal(far, flow.Local);
            Assert.Equal("query"u8.ToArray(), _s.Await(flow.ReceiveAsync()).Data.ToArray());
            _s.Await(flow.SendAsync("answer"u8.ToArray()));
            Datagram reply = _s.Await(client.ReceiveAsync());
            Assert.Equal(far, reply.Source);
            Assert.Equal("answer"u8.ToArray(), reply.Data.ToArray());
        }
        Assert.Equal(2, _sharded.GetStats().UdpFlowsOpened);
        Assert.NotNull(tcp);
    }
}
