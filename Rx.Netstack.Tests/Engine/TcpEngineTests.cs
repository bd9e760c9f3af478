using System.Security.Cryptography;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

public sealed class TcpEngineTests
{
    private static (TcpConnection Client, TcpConnection Server) Connect(StackPair pair, bool v6 = false, TcpSettings? settings = null, ushort port = 80) =>
        pair.ConnectTcp(port, v6, settings);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Connect_accept_and_exchange_both_ways(bool v6)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair, v6);
        Assert.Equal(client.Local, server.Remote);
        Assert.Equal(client.Remote, server.Local);

        s.Await(client.SendAsync("hello"u8.ToArray()));
        var buffer = new byte[100];
        int n = s.Await(server.ReadAsync(buffer).AsTask());
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, n));

        s.Await(server.SendAsync("world"u8.ToArray()));
        n = s.Await(client.ReadAsync(buffer).AsTask());
        Assert.Equal("world", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public void Bulk_transfer_arrives_intact_and_the_close_is_seen_as_end_of_stream()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair);
        byte[] data = new byte[300_000];
        new Random(5).NextBytes(data);
        var received = new MemoryStream();
        bool done = false;
        using var sub = server.Received.Subscribe(chunk => received.Write(chunk.Span), () => done = true);
        var send = client.SendAsync(data);
        s.Await(send, TimeSpan.FromMinutes(1));
        s.Await(client.CloseAsync());
        Assert.True(s.RunUntil(() => done, TimeSpan.FromMinutes(1)));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
    }

    [Fact]
    public void Connect_to_a_closed_port_is_refused()
    {
        using var pair = new StackPair();
        var error = Assert.Throws<NetstackException>(() => pair.Scheduler.Await(TcpConnection.ConnectAsync(pair.A, new NetEndpoint(StackPair.B4, 81))));
        Assert.Equal(NetstackErrorKind.ConnectionRefused, error.Kind);
    }

    [Fact]
    public void Connect_with_mismatched_ip_versions_is_a_bad_request()
    {
        using var pair = new StackPair();
        var error = Assert.Throws<NetstackException>(() => pair.Scheduler.Await(
            TcpConnection.ConnectAsync(pair.A, new NetEndpoint(StackPair.B6, 80), local: new NetEndpoint(StackPair.A4, 0))));
        Assert.Equal(BadRequestReason.WrongIpVersion, error.Error.Reason);
    }

    [Fact]
    public void Syn_is_retransmitted_at_1_3_7_15_31_63_seconds_then_connect_times_out_at_127()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        var times = new List<double>();
        Reply? reply = null;
        stack.Execute(new Command.TcpStream.Connect(NetEndpoint.Parse("10.0.0.2:80"))).Subscribe(r => reply = r);
        for (int ms = 0; ms <= 130_000 && reply is null; ms += 1)
        {
            s.AdvanceTo(TimeSpan.FromMilliseconds(ms).Ticks + 1);
            while (device.Sent.Count > times.Count) times.Add(Math.Round(s.NowMs() / 1000.0, 3));
        }
        Assert.Equal([0, 1, 3, 7, 15, 31, 63], times.Select(t => Math.Floor(t)));
        var error = Assert.IsType<Reply.Error>(reply).Detail;
        Assert.Equal(NetstackErrorKind.TimedOut, error.Kind);
        Assert.Equal(127, Math.Floor(s.NowMs() / 1000.0));
        Assert.Equal(0, stack.SocketCount);
    }

    [Fact]
    public void Many_concurrent_connects_to_one_listener_are_all_accepted()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listener = s.Await(TcpConnectionListener.ListenAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 80), backlog: 1000));
        var accepted = new List<TcpConnection>();
        using var sub = listener.Accepted.Subscribe(accepted.Add);
        var connects = Enumerable.Range(0, 1000).Select(_ => TcpConnection.ConnectAsync(pair.A, new NetEndpoint(StackPair.B4, 80))).ToArray();
        s.Await(Task.WhenAll(connects), TimeSpan.FromMinutes(1));
        Assert.True(s.RunUntil(() => accepted.Count == 1000, TimeSpan.FromSeconds(10)));
        Assert.Equal(0, pair.A.TcpCounters.ResetsReceived);
    }

    [Fact]
    public void Closing_both_sides_frees_every_socket_after_time_wait()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair);
        s.Await(client.CloseAsync());
        s.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks); // the FIN arrives first: not a simultaneous close
        Assert.Equal(TcpState.CloseWait, s.Await(server.GetInfoAsync()).State);
        s.Await(server.CloseAsync());
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(1, pair.B.SocketCount); // the listener
        Assert.Equal(1, pair.A.SocketCount); // the client in TIME-WAIT
        s.AdvanceBy(TimeSpan.FromSeconds(60).Ticks);
        Assert.Equal(0, pair.A.SocketCount);
    }

    [Fact]
    public void Reset_by_the_peer_fails_a_waiting_receive_with_connection_reset()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair);
        var read = client.ReadAsync(new byte[10]).AsTask();
        s.Await(server.AbortAsync());
        var error = Assert.Throws<NetstackException>(() => s.Await(read));
        Assert.Equal(NetstackErrorKind.ConnectionReset, error.Kind);
    }

    [Fact]
    public void A_new_syn_takes_over_a_four_tuple_in_time_wait()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listener = s.Await(TcpConnectionListener.ListenAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 80)));
        var accept = listener.AcceptAsync();
        var client = s.Await(TcpConnection.ConnectAsync(pair.A, new NetEndpoint(StackPair.B4, 80), local: new NetEndpoint(StackPair.A4, 40000)));
        var server = s.Await(accept);
        s.Await(server.CloseAsync()); // the server closes first: it ends in TIME-WAIT
        s.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
        s.Await(client.CloseAsync());
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(1, pair.B.GetStats().ConnectionsByState.GetValueOrDefault("TimeWait"));

        accept = listener.AcceptAsync();
        var again = s.Await(TcpConnection.ConnectAsync(pair.A, new NetEndpoint(StackPair.B4, 80), local: new NetEndpoint(StackPair.A4, 40000)));
        var server2 = s.Await(accept);
        Assert.Equal(again.Local, server2.Remote);
    }
}
