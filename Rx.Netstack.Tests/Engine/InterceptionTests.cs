using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// Interception in virtual time: A is a client whose traffic to other hosts crosses the pipe to B, and B intercepts
/// 198.51.100.0/24 and 2001:db8::/32 (documentation prefixes, RFC 5737 / RFC 3849: they never leave the pipe).
/// </summary>
public sealed class InterceptionTests
{
    private static readonly NetPrefix[] Prefixes = [NetPrefix.Parse("198.51.100.0/24"), NetPrefix.Parse("2001:db8::/32")];
    private static readonly NetEndpoint Far = NetEndpoint.Parse("198.51.100.7:443");
    private static readonly NetEndpoint Far6 = NetEndpoint.Parse("[2001:db8::7]:443");

    /// <summary>Frames B sent to A, parsed: (source, destination, protocol, transport bytes).</summary>
    private static List<(NetAddress Source, NetAddress Destination, IpProtocol Protocol, byte[] Transport)> Tap(StackPair pair, out IDisposable subscription)
    {
        var frames = new List<(NetAddress, NetAddress, IpProtocol, byte[])>();
        subscription = pair.DeviceA.Received.Subscribe(f =>
        {
            byte[] p = f.ToArray();
            if (p[0] >> 4 == 4 && Ipv4Header.TryParse(p, out Ipv4Header h4, out _, out ReadOnlySpan<byte> payload4) == WireError.None)
                frames.Add((h4.Source, h4.Destination, h4.Protocol, payload4.ToArray()));
            else if (p[0] >> 4 == 6 && Ipv6Header.TryParse(p, out Ipv6Header h6, out _, out ReadOnlySpan<byte> payload6, out _) == WireError.None)
                frames.Add((h6.Source, h6.Destination, h6.Protocol, payload6.ToArray()));
        });
        return frames;
    }

    /// <summary>Runs virtual time until <paramref name="task"/> is done, rethrowing its failure.</summary>
    private static void Done(Microsoft.Reactive.Testing.TestScheduler s, Task task) =>
        s.Await(task.ContinueWith(t => { t.GetAwaiter().GetResult(); return 0; }, TaskContinuationOptions.ExecuteSynchronously));

    private static TcpInterception NextOffer(StackPair pair, TcpInterceptor interceptor) => pair.Scheduler.Await(interceptor.NextAsync());

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_accepted_offer_completes_the_handshake_only_then_and_carries_data_from_the_original_destination(bool v6)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var frames = Tap(pair, out IDisposable tap);
        using IDisposable tapping = tap;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes));
        NetEndpoint far = v6 ? Far6 : Far;

        Task<TcpConnection> connect = pair.A.ConnectTcpAsync(far);
        TcpInterception offer = NextOffer(pair, interceptor);
        Assert.Equal(far, offer.Destination);
        Assert.Equal(v6 ? StackPair.A6 : StackPair.A4, offer.Source.Address);

        // Undecided for 4 s: the client's SYN is retransmitted (1 s, 3 s), nothing answers it, and no second offer appears.
        Task<TcpInterception> second = interceptor.NextAsync();
        s.AdvanceBy(TimeSpan.FromSeconds(4).Ticks);
        Assert.False(connect.IsCompleted);
        Assert.False(second.IsCompleted);
        Assert.DoesNotContain(frames, f => f.Protocol == IpProtocol.Tcp);
        NetstackStats stats = pair.B.GetStats();
        Assert.Equal(1, stats.InterceptedSyns);
        Assert.Equal(2, stats.InterceptedSynRetransmits);

        Task<TcpConnection> accepted = offer.AcceptAsync();
        TcpConnection server = s.Await(accepted);
        TcpConnection client = s.Await(connect);
        Assert.Equal(far, server.Local);
        Assert.Equal(client.Local, server.Remote);
        Assert.Equal(far, client.Remote);
        Assert.All(frames.Where(f => f.Protocol == IpProtocol.Tcp), f => Assert.Equal(far.Address, f.Source));

        s.Await(client.SendAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray()));
        Assert.Equal("GET / HTTP/1.0\r\n\r\n"u8.ToArray(), pair.ReadExactly(server, 18));
        s.Await(server.SendAsync("HTTP/1.0 200 OK\r\n"u8.ToArray()));
        Assert.Equal("HTTP/1.0 200 OK\r\n"u8.ToArray(), pair.ReadExactly(client, 17));
        Assert.Equal(1, pair.B.GetStats().InterceptionsAccepted);
    }

    [Fact]
    public void The_stacks_own_addresses_keep_working_and_other_destinations_are_still_not_for_us()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, [NetPrefix.AllV4]));
        // A listener on B's own wildcard port 443 does not see intercepted SYNs to port 443 of other hosts, and vice versa.
        var listener = s.Await(pair.B.ListenTcpAsync(443));
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection own = s.Await(pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 443)));
        Assert.Equal(StackPair.B4, s.Await(accept).Local.Address);
        Task<TcpInterception> offer = interceptor.NextAsync();
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.False(offer.IsCompleted);
        Assert.NotNull(own);

        _ = pair.A.ConnectTcpAsync(Far);
        Assert.Equal(Far, s.Await(offer).Destination);
        Assert.False(listener.AcceptAsync().IsCompleted);

        // IPv6 is not intercepted by a 0.0.0.0/0 interceptor.
        _ = pair.A.ConnectTcpAsync(Far6);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.True(pair.B.GetStats().Drops.GetValueOrDefault(DropReason.NotForUs) >= 1);
    }

    [Theory]
    [InlineData(InterceptRefusal.Reset, NetstackErrorKind.ConnectionRefused)]
    [InlineData(InterceptRefusal.PortUnreachable, NetstackErrorKind.ConnectionRefused)]
    public void A_refusal_fails_the_clients_connect_at_once(InterceptRefusal how, NetstackErrorKind expected)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes));
        Task<TcpConnection> connect = pair.A.ConnectTcpAsync(Far);
        TcpInterception offer = NextOffer(pair, interceptor);
        long before = s.Clock;
        Done(s, offer.RefuseAsync(how));
        var error = Assert.Throws<NetstackException>(() => s.Await(connect));
        Assert.Equal(expected, error.Kind);
        Assert.True(s.Clock - before < TimeSpan.FromMilliseconds(10).Ticks, "refused within the same moment, not after retries");
        Assert.Equal(1, pair.B.GetStats().InterceptionsRefused);
        // The offer is gone: deciding it again is a clear error.
        var again = Assert.Throws<NetstackException>(() => s.Await(offer.AcceptAsync()));
        Assert.Equal(NetstackErrorKind.ConnectionReset, again.Kind);
    }

    [Theory]
    [InlineData(false, InterceptRefusal.HostUnreachable, 3, 1)]
    [InlineData(false, InterceptRefusal.NetworkUnreachable, 3, 0)]
    [InlineData(false, InterceptRefusal.AdministrativelyProhibited, 3, 13)]
    [InlineData(true, InterceptRefusal.HostUnreachable, 1, 3)]
    [InlineData(true, InterceptRefusal.PortUnreachable, 1, 4)]
    public void An_icmp_refusal_comes_from_the_original_destination_and_quotes_the_syns_ports_and_sequence(bool v6, InterceptRefusal how, byte type, byte code)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var frames = Tap(pair, out IDisposable tap);
        using IDisposable tapping = tap;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes));
        NetEndpoint far = v6 ? Far6 : Far;
        SeqNumber synSequence = default;
        using var fromA = pair.DeviceB.Received.Subscribe(f =>
        {
            if (Forge.TryReadTcp(f.ToArray(), out _, out _, out TcpHeader h, out _) && h.Has(TcpFlags.Syn)) synSequence = h.Sequence;
        });
        _ = pair.A.ConnectTcpAsync(far);
        TcpInterception offer = NextOffer(pair, interceptor);
        Done(s, offer.RefuseAsync(how));

        var icmp = Assert.Single(frames, f => f.Protocol == (v6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp));
        Assert.Equal(far.Address, icmp.Source);
        Assert.Equal(offer.Source.Address, icmp.Destination);
        Assert.Equal(type, icmp.Transport[0]);
        Assert.Equal(code, icmp.Transport[1]);
        ReadOnlySpan<byte> quote = icmp.Transport.AsSpan(8 + (v6 ? 40 : 20));
        Assert.True(TcpHeader.TryReadQuoted(quote, out ushort sourcePort, out ushort destinationPort, out SeqNumber sequence));
        Assert.Equal(offer.Source.Port, sourcePort);
        Assert.Equal(far.Port, destinationPort);
        Assert.Equal(synSequence, sequence); // RFC 5927 §4.1: the client can check it is its SYN
    }

    [Fact]
    public void Undecided_offers_are_bounded_by_the_backlog_and_a_retransmitted_syn_gets_a_place_that_frees_up()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes, backlog: 2));
        Task<TcpConnection>[] connects = [.. Enumerable.Range(0, 3).Select(i => pair.A.ConnectTcpAsync(new NetEndpoint(Far.Address, (ushort)(1000 + i))))];
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Equal(2, pair.B.GetStats().InterceptedSyns);
        Assert.Equal(1, pair.B.GetStats().Drops[DropReason.TcpInterceptOverflow]);

        TcpInterception first = NextOffer(pair, interceptor);
        Done(s, first.RefuseAsync());
        TcpInterception second = NextOffer(pair, interceptor);
        // The third client's SYN comes again after its 1 s RTO and takes the freed place.
        TcpInterception third = NextOffer(pair, interceptor);
        Assert.Equal(3, new[] { first.Destination.Port, second.Destination.Port, third.Destination.Port }.Distinct().Count());
        s.Await(third.AcceptAsync());
        Assert.True(connects.Count(c => c.IsCompletedSuccessfully) == 1);
    }

    [Fact]
    public void Offers_decided_out_of_order_do_not_pile_up_in_the_interceptors_queues()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes, backlog: 4));
        byte[] Syn(int port, uint sequence) => Forge.Tcp(StackPair.A4, Far.Address, new TcpHeader((ushort)port, 443, TcpFlags.Syn) { Sequence = new SeqNumber(sequence), Window = 65535 });

        // The oldest offer stays undecided, so decided ones behind it cannot simply fall off the head of the deadline queue.
        pair.DeviceA.Transmit.OnNext(Syn(19999, 7));
        TcpInterception oldest = NextOffer(pair, interceptor);
        for (int i = 0; i < 300; i++)
        {
            pair.DeviceA.Transmit.OnNext(Syn(20000 + i, (uint)i * 1000));
            Done(s, NextOffer(pair, interceptor).RefuseAsync(InterceptRefusal.Drop));
        }
        // Offers nobody took, withdrawn by their clients: nothing takes them off the queue of untaken offers but compaction.
        for (int i = 0; i < 300; i++)
        {
            pair.DeviceA.Transmit.OnNext(Syn(30000 + i, 5));
            pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, Far.Address, new TcpHeader((ushort)(30000 + i), 443, TcpFlags.Rst) { Sequence = new SeqNumber(6) }));
            s.AdvanceBy(1);
        }
        TcpInterceptorSocketState state = Assert.Single(pair.B.Tcp.Interceptors);
        NetstackStats stats = pair.B.GetStats();
        Assert.Equal((300, 300), (stats.InterceptionsRefused, stats.InterceptionsWithdrawn));
        Assert.Single(state.Undecided);
        Assert.InRange(state.ByDeadline.Count, 1, 2 * 4 + 16 + 1);
        Assert.InRange(state.Untaken.Count, 0, 2 * 4 + 16 + 1);
        // The oldest offer is still good: accepting it answers the forged SYN, which A (who never sent it) resets.
        Assert.Equal(NetstackErrorKind.ConnectionReset, Assert.Throws<NetstackException>(() => s.Await(oldest.AcceptAsync())).Kind);
    }

    [Fact]
    public void Syns_and_datagrams_to_unspecified_broadcast_or_multicast_destinations_open_nothing()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        s.Await(TcpInterceptor.StartAsync(pair.B, [NetPrefix.AllV4]));
        s.Await(UdpInterceptor.StartAsync(pair.B, [NetPrefix.AllV4]));
        int sockets = pair.B.SocketCount;
        foreach (NetAddress destination in (NetAddress[])[NetAddress.AnyV4, NetAddress.Parse("224.0.0.9"), NetAddress.Parse("255.255.255.255")])
        {
            pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, destination, new TcpHeader(1234, 80, TcpFlags.Syn) { Sequence = new SeqNumber(1), Window = 100 }));
            pair.DeviceA.Transmit.OnNext(Forge.Udp(StackPair.A4, destination, 1234, 53, "x"u8));
        }
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(0, pair.B.GetStats().InterceptedSyns);
        Assert.Equal(0, pair.B.GetStats().UdpFlowsOpened);
        Assert.Equal(sockets, pair.B.SocketCount);
    }

    [Fact]
    public void An_offer_nobody_decides_is_reset_at_its_decision_timeout()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes, decisionTimeout: TimeSpan.FromSeconds(5)));
        Task<TcpConnection> connect = pair.A.ConnectTcpAsync(Far);
        TcpInterception offer = NextOffer(pair, interceptor);
        long offeredAt = s.Clock;
        var error = Assert.Throws<NetstackException>(() => s.Await(connect));
        Assert.Equal(NetstackErrorKind.ConnectionRefused, error.Kind);
        Assert.InRange(s.Clock - offeredAt, TimeSpan.FromSeconds(5).Ticks, TimeSpan.FromSeconds(5.01).Ticks);
        Assert.Equal(1, pair.B.GetStats().InterceptionsExpired);
        Assert.Throws<NetstackException>(() => s.Await(offer.AcceptAsync()));
    }

    [Fact]
    public void A_client_reset_withdraws_its_offer_and_the_accept_fails()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes));
        var syn = new TcpHeader(40000, 443, TcpFlags.Syn) { Sequence = new SeqNumber(1000), Window = 65535, MaxSegmentSize = 1460 };
        pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, Far.Address, syn));
        TcpInterception offer = NextOffer(pair, interceptor);
        pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, Far.Address, new TcpHeader(40000, 443, TcpFlags.Rst) { Sequence = new SeqNumber(1001) }));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(1, pair.B.GetStats().InterceptionsWithdrawn);
        var error = Assert.Throws<NetstackException>(() => s.Await(offer.AcceptAsync()));
        Assert.Equal(NetstackErrorKind.ConnectionReset, error.Kind);
    }

    [Fact]
    public void A_stray_segment_to_an_intercepted_address_is_reset_from_that_address()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var frames = Tap(pair, out IDisposable tap);
        using IDisposable tapping = tap;
        s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes));
        var ack = new TcpHeader(40000, 443, TcpFlags.Ack) { Sequence = new SeqNumber(5), Acknowledgment = new SeqNumber(77), Window = 100 };
        pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, Far.Address, ack));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        var rst = Assert.Single(frames);
        Assert.Equal(Far.Address, rst.Source);
        Assert.True(TcpHeader.TryParse(rst.Transport, rst.Source, rst.Destination, out TcpHeader h, out _) == WireError.None);
        Assert.True(h.Has(TcpFlags.Rst));
        Assert.Equal(77u, h.Sequence.Value);
    }

    [Fact]
    public void A_syn_flood_to_intercepted_addresses_stays_within_the_backlog_and_the_stacks_own_listener_still_admits_by_cookie()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        s.Await(TcpInterceptor.StartAsync(pair.B, [NetPrefix.AllV4], backlog: 16));
        var listener = s.Await(pair.B.ListenTcpAsync(80, backlog: 4));
        var random = new Random(4987);
        Task<TcpConnection>? real = null;
        for (int round = 0; round < 20; round++)
        {
            for (int i = 0; i < 200; i++)
            {
                var source = NetAddress.V4(0xC612_0000u | (uint)random.Next(1 << 17)); // 198.18.0.0/15 (RFC 2544)
                var syn = new TcpHeader((ushort)random.Next(1024, 65536), 80, TcpFlags.Syn) { Sequence = new SeqNumber((uint)random.NextInt64()), Window = 65535 };
                // Half to intercepted addresses, half to the stack's own listener.
                NetAddress destination = i % 2 == 0 ? NetAddress.V4(0xCB00_7100u | (uint)random.Next(256)) : StackPair.B4;
                pair.DeviceA.Transmit.OnNext(Forge.Tcp(source, destination, syn));
            }
            if (round == 10) real = pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80));
            s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
            // The interceptor, its 16 undecided offers (no sockets), the listener and its SYN queue, the real connection.
            Assert.InRange(pair.B.SocketCount, 2, 2 + 4 + 1);
        }
        NetstackStats stats = pair.B.GetStats();
        Assert.Equal(16, stats.InterceptedSyns);
        Assert.Equal(2000 - 16, stats.Drops[DropReason.TcpInterceptOverflow]);
        Assert.True(stats.SynCookiesSent > 1000, $"cookies: {stats.SynCookiesSent}");
        TcpConnection client = s.Await(real!);
        TcpConnection server = s.Await(listener.AcceptAsync());
        Assert.Equal(1, pair.B.GetStats().SynCookiesAccepted);
        s.Await(client.SendAsync("through"u8.ToArray()));
        Assert.Equal("through"u8.ToArray(), pair.ReadExactly(server, 7));
    }

    [Fact]
    public void Closing_the_interceptor_resets_undecided_offers_and_stops_interception()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(TcpInterceptor.StartAsync(pair.B, Prefixes));
        Task<TcpConnection> connect = pair.A.ConnectTcpAsync(Far);
        NextOffer(pair, interceptor);
        Task<TcpInterception> waiting = interceptor.NextAsync();
        Done(s, interceptor.DisposeAsync().AsTask());
        Assert.Equal(NetstackErrorKind.ConnectionRefused, Assert.Throws<NetstackException>(() => s.Await(connect)).Kind);
        Assert.Equal(NetstackErrorKind.SocketClosed, Assert.Throws<NetstackException>(() => s.Await(waiting)).Kind);
        long notForUs = pair.B.GetStats().Drops.GetValueOrDefault(DropReason.NotForUs);
        _ = pair.A.ConnectTcpAsync(Far);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Equal(notForUs + 1, pair.B.GetStats().Drops[DropReason.NotForUs]);
        Assert.Equal(0, pair.B.SocketCount);
    }

    // ---------------------------------------------------------------- UDP

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Udp_datagrams_are_grouped_into_flows_by_four_tuple_and_replies_leave_from_the_original_destination(bool v6)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(UdpInterceptor.StartAsync(pair.B, Prefixes));
        var flows = new List<UdpFlow>();
        var datagrams = new List<(UdpFlow Flow, string Text)>();
        using var subscription = interceptor.Flows.Subscribe(f =>
        {
            flows.Add(f);
            f.Received.Subscribe(d => datagrams.Add((f, System.Text.Encoding.ASCII.GetString(d.Data.Span))));
        });
        UdpSocket client = s.Await(pair.A.BindUdpAsync(0, v6));
        NetAddress far = v6 ? Far6.Address : Far.Address;
        s.Await(client.SendAsync("one"u8.ToArray(), new NetEndpoint(far, 53)));
        s.Await(client.SendAsync("two"u8.ToArray(), new NetEndpoint(far, 53)));
        s.Await(client.SendAsync("three"u8.ToArray(), new NetEndpoint(far, 54)));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);

        Assert.Equal(2, flows.Count);
        Assert.Equal(new NetEndpoint(far, 53), flows[0].Local);
        Assert.Equal(client.Local.Port, flows[0].Remote.Port);
        Assert.Equal(["one", "two"], datagrams.Where(d => d.Flow == flows[0]).Select(d => d.Text));
        Assert.Equal(["three"], datagrams.Where(d => d.Flow == flows[1]).Select(d => d.Text));

        Task<Datagram> reply = client.ReceiveAsync();
        s.Await(flows[1].SendAsync("answer"u8.ToArray()));
        Datagram d = s.Await(reply);
        Assert.Equal(new NetEndpoint(far, 54), d.Source);
        Assert.Equal("answer"u8.ToArray(), d.Data.ToArray());
        Assert.Equal(2, pair.B.GetStats().UdpFlowsOpened);

        // A flow sends only to its client.
        var error = Assert.Throws<NetstackException>(() => s.Await(pair.B.RequestAsync(new Command.Udp.Send(flows[0].Handle, NetEndpoint.Parse("10.0.0.9:53"), new byte[1]))));
        Assert.Equal(BadRequestReason.Unaddressable, error.Error.Reason);
    }

    [Fact]
    public void A_flow_ends_after_its_idle_timeout_and_traffic_either_way_pushes_the_end_back()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(UdpInterceptor.StartAsync(pair.B, Prefixes, idleTimeout: TimeSpan.FromSeconds(60)));
        UdpSocket client = s.Await(pair.A.BindUdpAsync());
        Task<UdpFlow> next = interceptor.NextAsync();
        s.Await(client.SendAsync(new byte[] { 1 }, new NetEndpoint(Far.Address, 53)));
        UdpFlow flow = s.Await(next);
        long start = s.Clock;
        bool completed = false;
        long completedAt = 0;
        using var sub = flow.Received.Subscribe(_ => { }, () => { completed = true; completedAt = s.Clock; });
        int socketsWithFlow = pair.B.SocketCount;

        s.AdvanceBy(TimeSpan.FromSeconds(40).Ticks);
        s.Await(flow.SendAsync(new byte[] { 2 })); // a reply at 40 s: the flow lives until 100 s
        s.AdvanceBy(TimeSpan.FromSeconds(50).Ticks);
        Assert.False(completed);
        s.RunUntil(() => completed, TimeSpan.FromSeconds(20));
        Assert.True(completed);
        Assert.InRange(completedAt - start, TimeSpan.FromSeconds(100).Ticks, TimeSpan.FromSeconds(100.01).Ticks);
        Assert.Equal(socketsWithFlow - 1, pair.B.SocketCount);
        Assert.Equal(1, pair.B.GetStats().UdpFlowsExpired);

        // The next datagram of the same 4-tuple opens a new flow.
        Task<UdpFlow> again = interceptor.NextAsync();
        s.Await(client.SendAsync(new byte[] { 3 }, new NetEndpoint(Far.Address, 53)));
        Assert.NotEqual(flow.Handle, s.Await(again).Handle);
    }

    [Fact]
    public void Flows_are_capped_in_number_and_each_in_bytes_with_every_drop_counted()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(UdpInterceptor.StartAsync(pair.B, Prefixes, maxFlows: 2, flowBufferSize: 3000));
        UdpSocket client = s.Await(pair.A.BindUdpAsync());
        for (ushort port = 1; port <= 3; port++)
            s.Await(client.SendAsync(new byte[1000], new NetEndpoint(Far.Address, port)));
        for (int i = 0; i < 5; i++)
            s.Await(client.SendAsync(new byte[1000], new NetEndpoint(Far.Address, 1)));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        NetstackStats stats = pair.B.GetStats();
        Assert.Equal(2, stats.UdpFlowsOpened);
        Assert.Equal(1, stats.Drops[DropReason.UdpFlowLimit]);
        Assert.Equal(3, stats.Drops[DropReason.UdpBufferFull]); // 3 × 1000 bytes fit in flow 1's 3000-byte buffer

        // Closing a flow frees its place.
        UdpFlow first = s.Await(interceptor.NextAsync());
        Done(s, first.DisposeAsync().AsTask());
        s.Await(client.SendAsync(new byte[1], new NetEndpoint(Far.Address, 3)));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(3, pair.B.GetStats().UdpFlowsOpened);
    }

    [Fact]
    public void A_refused_flow_sends_port_unreachable_from_the_original_destination_and_closes()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var frames = Tap(pair, out IDisposable tap);
        using IDisposable tapping = tap;
        var interceptor = s.Await(UdpInterceptor.StartAsync(pair.B, Prefixes));
        UdpSocket client = s.Await(pair.A.BindUdpAsync());
        Task<UdpFlow> next = interceptor.NextAsync();
        s.Await(client.SendAsync(new byte[] { 1 }, new NetEndpoint(Far.Address, 9)));
        UdpFlow flow = s.Await(next);
        Done(s, flow.RefuseAsync());
        var icmp = Assert.Single(frames, f => f.Protocol == IpProtocol.Icmp);
        Assert.Equal(Far.Address, icmp.Source);
        Assert.Equal((3, 3), (icmp.Transport[0], icmp.Transport[1]));
        Assert.Equal(client.Local.Port, icmp.Transport[8 + 20] << 8 | icmp.Transport[8 + 21]);
        Assert.Equal(9, icmp.Transport[8 + 22] << 8 | icmp.Transport[8 + 23]);
        Assert.Equal(NetstackErrorKind.StaleHandle, Assert.Throws<NetstackException>(() => s.Await(flow.ReceiveAsync())).Kind);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Port_unreachable_from_the_client_reaches_its_flow_as_connection_refused(bool v6)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var interceptor = s.Await(UdpInterceptor.StartAsync(pair.B, Prefixes));
        UdpSocket client = s.Await(pair.A.BindUdpAsync(ipv6: v6));
        Task<UdpFlow> next = interceptor.NextAsync();
        s.Await(client.SendAsync(new byte[] { 1 }, new NetEndpoint((v6 ? Far6 : Far).Address, 53)));
        UdpFlow flow = s.Await(next);
        Assert.Equal(1, s.Await(flow.ReceiveAsync()).Data.Length);
        Done(s, client.DisposeAsync().AsTask()); // the client is gone: A answers the reply with port unreachable

        s.Await(flow.SendAsync(new byte[] { 2 }));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        var error = Assert.Throws<NetstackException>(() => s.Await(flow.ReceiveAsync()));
        Assert.Equal(NetstackErrorKind.ConnectionRefused, error.Kind);
        Assert.Equal(0, pair.B.GetStats().Drops.GetValueOrDefault(DropReason.IcmpNoSocket));
    }

    // ---------------------------------------------------------------- ICMP echo

    [Fact]
    public void Echo_to_an_intercepted_address_is_answered_from_it_or_left_to_a_raw_socket()
    {
        using (var pair = new StackPair())
        {
            var s = pair.Scheduler;
            s.Await(UdpInterceptor.StartAsync(pair.B, Prefixes));
            Reply.PingReply reply = s.Await(pair.A.PingAsync(Far.Address));
            Assert.Equal(Far.Address, reply.From);
        }
        using (var pair = new StackPair(configure: o => o with { AnswerInterceptedEcho = false }))
        {
            var s = pair.Scheduler;
            s.Await(UdpInterceptor.StartAsync(pair.B, Prefixes));
            RawSocket raw = s.Await(RawSocket.OpenAsync(pair.B, 4, IpProtocol.Icmp));
            Task<Reply.RawPacket> seen = raw.ReceiveAsync();
            Assert.Throws<NetstackException>(() => s.Await(pair.A.PingAsync(Far.Address, timeout: TimeSpan.FromSeconds(1))));
            Assert.Equal(Far.Address, NetAddress.ReadV4(s.Await(seen).Packet.Span[16..]));
        }
    }
}
