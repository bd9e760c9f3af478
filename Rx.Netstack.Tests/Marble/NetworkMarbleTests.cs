using System.Reactive;
using System.Reactive.Linq;
using System.Text;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;

namespace Rx.Netstack.Tests.Marble;

/// <summary>
/// Stacks on a <see cref="VirtualNetwork"/>, their traffic and their streams as marble diagrams. Every stack runs its async
/// continuations inline (<see cref="NetstackOptions.RunContinuationsInline"/>), so sends and connects started from a diagram
/// run in virtual time on the test's thread: nothing waits for real time.
/// </summary>
public sealed class NetworkMarbleTests
{
    private static readonly TimeSpan TenMs = TimeSpan.FromMilliseconds(10);

    private static NetstackOptions Options(string address) =>
        new() { Addresses = [InterfaceAddress.Parse(address)], RunContinuationsInline = true };

    [Fact]
    public void Datagrams_sent_on_a_diagram_reach_a_query_over_Received_one_10_ms_frame_later()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", Options("10.0.0.2/24"), new ImpairmentOptions { Delay = TenMs }); // 10 ms to b
        var server = network.Run(b.BindUdpAsync(5000));
        var client = network.Run(a.BindUdpAsync());
        var m = new Marbles(scheduler, frame: TenMs);
        var texts = new Dictionary<char, string> { ['a'] = "#rx", ['b'] = "plain", ['c'] = "#netstack", ['d'] = "#linq" };

        using var sending = m.Hot("--a--b--(cd)", texts)
            .Select(text => Encoding.UTF8.GetBytes(text))
            .SelectMany(bytes => VirtualTime.FromAsync(token => client.SendAsync(bytes, NetEndpoint.Parse("10.0.0.2:5000"), token)))
            .Subscribe();

        m.Expect(
            server.Received.Select(datagram => Encoding.UTF8.GetString(datagram.Data.Span)).Where(text => text.StartsWith('#')),
            "---a-----(cd)---", texts);
        Assert.Equal(4, b.GetStats().UdpIn);
    }

    [Fact]
    public void A_listener_accepts_each_connection_one_and_a_half_round_trips_after_its_SYN()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var server = network.AddStack("server", Options("10.0.0.10/24"), new ImpairmentOptions { Delay = TenMs }); // 10 ms each way
        var clients = new Dictionary<char, Netstack>
        {
            ['a'] = network.AddStack("a", "10.0.0.1/24"),
            ['b'] = network.AddStack("b", "10.0.0.2/24"),
            ['c'] = network.AddStack("c", "10.0.0.3/24"),
        };
        var listener = network.Run(server.ListenTcpAsync(80));
        var m = new Marbles(scheduler, frame: TenMs);

        // Each letter: that client connects. SYN → 10 ms → SYN-ACK → 10 ms → ACK → 10 ms → accepted: three frames later.
        var connections = new List<TcpConnection>();
        using var dialing = m.Hot("-a--b-c", clients)
            .SelectMany(client => VirtualTime.FromAsync(token => client.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.10:80"), cancellationToken: token)))
            .Subscribe(connections.Add);

        m.Expect(
            listener.Accepted.Select(connection => connection.Remote.Address),
            "----a--b-c--",
            new Dictionary<char, NetAddress> { ['a'] = NetAddress.Parse("10.0.0.1"), ['b'] = NetAddress.Parse("10.0.0.2"), ['c'] = NetAddress.Parse("10.0.0.3") });
        Assert.Equal(3, connections.Count);
    }

    [Fact]
    public void Pings_one_a_second_over_a_lossy_link_show_the_lost_one_at_its_timeout()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        // 10 ms each way and a quarter of the frames lost: with this seed, the third request or its reply is the one.
        network.AddStack("b", Options("10.0.0.2/24"), new ImpairmentOptions { Delay = TenMs, Loss = 0.25 }, seed: LossySeed);
        var m = new Marbles(scheduler, frame: TimeSpan.FromMilliseconds(500));

        // As Cisco's ping prints them: '!' a reply, '.' none within the timeout (half a second).
        m.Expect(
            a.PingSeries(NetAddress.Parse("10.0.0.2"), count: 4, interval: TimeSpan.FromSeconds(1), timeout: TimeSpan.FromMilliseconds(500))
                .Select(result => result.Reply is null ? '.' : '!'),
            "!-!--.(!|)--");
    }

    /// <summary>The seed with which b's link loses one frame of the third ping (request or reply) and no other.</summary>
    private const int LossySeed = 5;

    [Fact]
    public void A_SYN_nobody_answers_is_sent_at_0_1_3_7_and_15_s()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var m = new Marbles(scheduler, frame: TimeSpan.FromSeconds(1));

        // 10.0.0.99 is on a's subnet, and nobody has it: the switch drops the SYNs (network.Unroutable).
        using var connecting = m.Hot("c")
            .SelectMany(_ => VirtualTime.FromAsync(token => a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.99:80"), cancellationToken: token)))
            .Subscribe(_ => { }, _ => { });

        m.Expect(network.PacketsFrom("a").Where(IsSyn).Select(_ => 'S'), "SS-S---S-------S--");
        Assert.Equal(5, network.Unroutable);
    }

    [Fact]
    public void A_server_connection_goes_through_its_states_as_the_script_opens_and_closes_it()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", Options("10.0.0.2/24"), new ImpairmentOptions { Delay = TenMs }); // 10 ms each way
        var listener = network.Run(b.ListenTcpAsync(80));
        TcpConnection? client = null, server = null;
        using var accepting = listener.Accepted.Subscribe(connection => server = connection);
        var m = new Marbles(scheduler, frame: TenMs);

        // d: a dials; c: a closes; s: b closes. Each packet takes a frame to reach b and a frame back.
        using var script = m.Hot("-d----c---s").SelectMany(step => step switch
        {
            'd' => VirtualTime.FromAsync(token => a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.2:80"), cancellationToken: token))
                .Do(connection => client = connection).Select(_ => Unit.Default),
            'c' => VirtualTime.FromAsync(token => client!.CloseAsync(token)),
            _ => VirtualTime.FromAsync(token => server!.CloseAsync(token)),
        }).Subscribe();

        // b's socket table, its TCP connection's rows: r SYN-RECEIVED, E ESTABLISHED, C CLOSE-WAIT, L LAST-ACK, x gone.
        m.Expect(
            b.SocketTable.SelectMany(changes => changes).Where(change => change.Socket.Kind == SocketKind.TcpStream)
                .Select(change => change.Kind == SocketTableChangeKind.Remove ? 'x' : change.Socket.State switch
                {
                    TcpState.SynReceived => 'r',
                    TcpState.Established => 'E',
                    TcpState.CloseWait => 'C',
                    TcpState.LastAck => 'L',
                    var other => other.ToString()![0],
                }),
            "--r-E--C--L-x--");
    }

    [Fact]
    public void Stats_every_frame_count_the_datagrams_as_they_arrive()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", Options("10.0.0.2/24"), new ImpairmentOptions { Delay = TenMs });
        var client = network.Run(a.BindUdpAsync());
        using var server = network.Run(b.BindUdpAsync(53)).Received.Subscribe();
        var m = new Marbles(scheduler, frame: TenMs);

        using var sending = m.Hot("-x-xx").SelectMany(_ => VirtualTime.FromAsync(token => client.SendAsync("?", NetEndpoint.Parse("10.0.0.2:53"), token))).Subscribe();

        // A sample at the start of every frame: each datagram is counted in the sample after it arrived (a frame after it left).
        m.Expect(b.Stats(TenMs).Select(stats => (char)('0' + stats.UdpIn)), "0001123333");
    }

    /// <summary>An IPv4 TCP segment with SYN and without ACK.</summary>
    private static bool IsSyn(byte[] packet)
    {
        if (packet[0] >> 4 != 4 || packet[9] != 6) return false;
        int flags = packet[(packet[0] & 0x0F) * 4 + 13];
        return (flags & 0x12) == 0x02;
    }
}
