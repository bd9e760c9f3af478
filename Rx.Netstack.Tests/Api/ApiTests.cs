using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Api;

public sealed class ApiTests
{
    private static (TestScheduler, VirtualNetwork, Netstack, Netstack) Network()
    {
        var scheduler = new TestScheduler();
        var network = new VirtualNetwork(scheduler);
        return (scheduler, network, network.AddStack("a", "10.0.0.1/24", "fd00::1/64"), network.AddStack("b", "10.0.0.2/24", "fd00::2/64"));
    }

    [Fact]
    public void Socket_table_streams_a_snapshot_then_adds_state_updates_and_removes()
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        network.Run(b.BindUdpAsync(53)); // exists before the subscription: arrives in the snapshot
        var batches = new List<IReadOnlyList<SocketTableChange>>();
        var rows = new Dictionary<SocketHandle, SocketInfo>();
        using var table = b.SocketTable.Subscribe(batch => { batches.Add(batch); SocketTableExtensions.Apply(rows, batch); });
        s.AdvanceBy(1);
        var snapshot = Assert.Single(batches);
        Assert.Equal(SocketTableChangeKind.Add, Assert.Single(snapshot).Kind);

        var listener = network.Run(b.ListenTcpAsync(80));
        var accept = listener.AcceptAsync();
        var client = network.Run(a.ConnectTcpAsync("10.0.0.2:80"));
        var server = network.Run(accept);
        Assert.Contains(rows.Values, r => r.Kind == SocketKind.TcpListener && r.State == TcpState.Listen && r.Local.Port == 80);
        var connectionRow = Assert.Single(rows.Values, r => r.Kind == SocketKind.TcpStream);
        Assert.Equal(TcpState.Established, connectionRow.State);
        Assert.Equal(client.Local, connectionRow.Remote);
        var all = batches.SelectMany(batch => batch).ToList();
        Assert.Contains(all, c => c.Kind == SocketTableChangeKind.Add && c.Socket.Kind == SocketKind.TcpStream && c.Socket.State == TcpState.SynReceived);
        Assert.Contains(all, c => c.Kind == SocketTableChangeKind.Update && c.Socket.State == TcpState.Established);

        // The peer closes: the server row moves through CLOSE-WAIT; our close frees it (the peer holds TIME-WAIT).
        network.Run(client.CloseAsync());
        s.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
        Assert.Equal(TcpState.CloseWait, Assert.Single(rows.Values, r => r.Kind == SocketKind.TcpStream).State);
        network.Run(server.CloseAsync());
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.DoesNotContain(rows.Values, r => r.Kind == SocketKind.TcpStream);
        Assert.Equal(2, rows.Count); // UDP and the listener

        // Idle passes publish nothing: no batch for a pass that touched no socket.
        int count = batches.Count;
        s.AdvanceBy(TimeSpan.FromSeconds(10).Ticks);
        Assert.Equal(count, batches.Count);
    }

    [Fact]
    public void Socket_table_snapshots_and_completes_on_dispose()
    {
        var (s, network, a, _) = Network();
        network.Run(a.BindUdpAsync(1));
        network.Run(a.BindUdpAsync(2));
        var snapshots = new List<IReadOnlyList<SocketInfo>>();
        bool completed = false;
        using var sub = a.SocketTable.ToSnapshots().Subscribe(snapshots.Add, () => completed = true);
        s.AdvanceBy(1);
        Assert.Equal([1, 2], snapshots[^1].Select(r => (int)r.Local.Port));
        network.Dispose();
        s.AdvanceBy(1);
        Assert.True(completed);
    }

    [Fact]
    public void Stats_count_bytes_by_protocol()
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        var server = network.Run(b.BindUdpAsync(7));
        var client = network.Run(a.BindUdpAsync());
        network.Run(client.SendAsync(new byte[100], NetEndpoint.Parse("10.0.0.2:7")));
        network.Run(a.PingAsync(NetAddress.Parse("10.0.0.2"), payloadSize: 56));
        s.AdvanceBy(1);
        NetstackStats sa = a.GetStats(), sb = b.GetStats();
        Assert.Equal(108, sa.UdpBytesOut);                  // 8-byte header + 100
        Assert.Equal(108, sb.UdpBytesIn);
        Assert.Equal(64, sa.IcmpBytesOut);                  // 8-byte header + 56 (the echo request)
        Assert.Equal(64, sa.IcmpBytesIn);                   // the reply
        Assert.Equal(64, sb.IcmpBytesIn);
        Assert.Equal(0, sa.TcpBytesOut);
        Assert.Equal(7, server.Local.Port);
    }

    [Fact]
    public void Raw_socket_sees_whole_packets_and_sends_them()
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        var raw = network.Run(b.OpenRawAsync(4, IpProtocol.Udp));
        var seen = new List<Reply.RawPacket>();
        using var sub = raw.Received.Subscribe(seen.Add);
        var client = network.Run(a.BindUdpAsync());
        network.Run(client.SendAsync("x"u8.ToArray(), NetEndpoint.Parse("10.0.0.2:9")));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        var packet = Assert.Single(seen);
        Assert.Equal(20 + 8 + 1, packet.Packet.Length);
        Assert.Equal(0x45, packet.Packet.Span[0]);

        // Send the same packet back from a raw socket of a, addressed to b's raw socket: it arrives whole.
        var rawA = network.Run(a.OpenRawAsync(4, IpProtocol.Udp));
        network.Run(rawA.SendAsync(packet.Packet));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(2, seen.Count);
        Assert.True(seen[1].Packet.Span.SequenceEqual(packet.Packet.Span));

        var bad = Assert.Throws<NetstackException>(() => network.Run(rawA.SendAsync(new byte[] { 0x60, 0, 0 })));
        Assert.Equal(BadRequestReason.WrongIpVersion, bad.Error.Reason);
    }

    [Fact]
    public void Udp_receive_all_ends_when_the_socket_closes_and_accept_all_when_the_listener_closes()
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        var server = network.Run(b.BindUdpAsync(7));
        var client = network.Run(a.BindUdpAsync());
        var firstTwo = network.Start(() => server.ReceiveAllAsync().Select(d => d.Data.Length).Take(2).ToListAsync().AsTask());
        network.Run(client.SendAsync(new byte[3], NetEndpoint.Parse("10.0.0.2:7")));
        network.Run(client.SendAsync(new byte[5], NetEndpoint.Parse("10.0.0.2:7")));
        Assert.Equal([3, 5], network.Run(firstTwo));
        var rest = network.Start(() => server.ReceiveAllAsync().CountAsync().AsTask());
        network.Run(server.DisposeAsync().AsTask());
        Assert.Equal(0, network.Run(rest));

        var listener = network.Run(b.ListenTcpAsync(80));
        var accepted = network.Start(() => listener.AcceptAllAsync().CountAsync().AsTask());
        network.Run(a.ConnectTcpAsync("10.0.0.2:80"));
        network.Run(listener.DisposeAsync().AsTask());
        Assert.Equal(1, network.Run(accepted));
    }

    [Fact]
    public void Dns_resolver_asks_over_the_stacks_udp_and_retries_then_times_out()
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        var dns = network.Run(b.BindUdpAsync(53));
        int queries = 0;
        using var server = dns.Received.Subscribe(query =>
        {
            queries++;
            if (queries == 1) return; // lose the first query: the resolver must retry
            byte[] answer = Answer(query.Data.Span);
            dns.SendAsync(answer, query.Source);
        });
        var resolver = new DnsNameResolver(a, NetEndpoint.Parse("10.0.0.2:53"), TimeSpan.FromSeconds(1));
        var addresses = network.Run(resolver.ResolveAsync("server.test").AsTask());
        Assert.Equal([NetAddress.Parse("10.0.0.2"), NetAddress.Parse("fd00::2")], addresses);
        Assert.InRange(queries, 3, 4); // A twice (first lost), then AAAA (a 4th only if a busy machine let a retry fire first)

        var mute = network.Run(b.BindUdpAsync(5353)); // bound, never answers
        var silent = new DnsNameResolver(a, NetEndpoint.Parse("10.0.0.2:5353"), TimeSpan.FromSeconds(1), attempts: 2);
        long start = s.Clock;
        Assert.Throws<TimeoutException>(() => network.Run(silent.ResolveAsync("server.test").AsTask()));
        Assert.InRange(TimeSpan.FromTicks(s.Clock - start).TotalSeconds, 2, 3); // two 1 s attempts of virtual time

        // A port nobody is bound to answers with ICMP port unreachable: each attempt fails at once instead of waiting.
        var refused = new DnsNameResolver(a, NetEndpoint.Parse("10.0.0.2:5354"), TimeSpan.FromSeconds(1), attempts: 2);
        start = s.Clock;
        Assert.Throws<TimeoutException>(() => network.Run(refused.ResolveAsync("server.test").AsTask()));
        Assert.InRange(TimeSpan.FromTicks(s.Clock - start).TotalSeconds, 0, 0.5);
    }

    /// <summary>A tiny DNS server's answer (RFC 1035 §4.1): the question echoed, one record pointing at it by compression.</summary>
    internal static byte[] Answer(ReadOnlySpan<byte> query)
    {
        int questionEnd = 12;
        while (query[questionEnd] != 0) questionEnd += 1 + query[questionEnd];
        questionEnd += 5;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(query[(questionEnd - 4)..]);
        byte[] data = type == 1 ? NetAddress.Parse("10.0.0.2").ToIPAddress().GetAddressBytes() : NetAddress.Parse("fd00::2").ToIPAddress().GetAddressBytes();
        var answer = new List<byte>(query[..questionEnd].ToArray());
        answer[2] = 0x81; answer[3] = 0x80;              // response, RD, RA, no error
        answer[6] = 0; answer[7] = 1;                    // one answer
        answer.AddRange([0xC0, 0x0C, 0, (byte)type, 0, 1, 0, 0, 0, 60, 0, (byte)data.Length]);
        answer.AddRange(data);
        return [.. answer];
    }

    [Fact]
    public async Task Duplex_pipe_echoes_a_megabyte_intact()
    {
        using var pair = new RealTimeStackPair();
        await using var listener = await pair.Server.ListenTcpAsync(9);
        var accept = listener.AcceptAsync(pair.Token);
        var client = await pair.Client.ConnectTcpAsync("10.0.0.2:9");
        var server = await accept;

        await using TcpDuplexPipe pipe = server.AsDuplexPipe();
        byte[] data = RandomNumberGenerator.GetBytes(1 << 20);
        Task send = client.SendAsync(data, pair.Token);

        // Echo through the pipe; everything arrives, in order.
        Task echo = pipe.Input.CopyToAsync(pipe.Output, pair.Token).ContinueWith(_ => pipe.Output.CompleteAsync().AsTask(), pair.Token).Unwrap();
        var received = new MemoryStream();
        Task read = client.AsStream().CopyToAsync(received, pair.Token);
        await send.WaitAsync(pair.Token);
        await client.ShutdownWriteAsync(pair.Token);
        await Task.WhenAll(echo, read).WaitAsync(pair.Token);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
    }

    [Fact]
    public void Virtual_network_routes_between_three_stacks_and_counts_unroutable_packets()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] },
            new ImpairmentOptions { Loss = 0.05 }, seed: 7);
        var c = network.AddStack("c", "10.0.0.3/24");
        Assert.Same(b, network["b"]);
        Assert.Equal(3, network.Stacks.Count);

        Assert.Equal(NetAddress.Parse("10.0.0.3"), network.Run(a.PingAsync("10.0.0.3")).From);
        var ex = Assert.Throws<NetstackException>(() => network.Run(a.PingAsync("10.0.0.9")));
        Assert.Equal(NetstackErrorKind.TimedOut, ex.Kind);
        Assert.True(network.Unroutable >= 1);

        // TCP over b's lossy link: the bytes arrive intact, losses were real.
        var listener = network.Run(b.ListenTcpAsync(80));
        var accept = listener.AcceptAsync();
        var client = network.Run(c.ConnectTcpAsync("10.0.0.2:80"), TimeSpan.FromMinutes(2));
        var server = network.Run(accept);
        byte[] data = new byte[60_000];
        new Random(1).NextBytes(data);
        var received = new MemoryStream();
        var done = new TaskCompletionSource();
        using var sub = server.Received.Subscribe(chunk => received.Write(chunk.Span), () => done.SetResult());
        network.Run(client.SendAsync(data), TimeSpan.FromMinutes(5));
        network.Run(client.CloseAsync());
        network.Run(done.Task, TimeSpan.FromMinutes(5));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
        Assert.True(network.LinkOf("b")!.OutboundCounters.Lost + network.LinkOf("b")!.InboundCounters.Lost > 0);
        Assert.Null(network.LinkOf("a"));
    }
}
