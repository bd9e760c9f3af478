using System.Reactive.Linq;
using System.Text;
using Microsoft.Reactive.Testing;
using Rx.Netstack;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Testing;
using Xunit;

namespace MarbleTests;

/// <summary>
/// Stacks on a <see cref="VirtualNetwork"/> driven by a <see cref="TestScheduler"/>, their traffic and their streams written
/// as marble diagrams: '-' is one frame of virtual time, a letter a value, '(ab)' two in one frame, '|' completion.
/// Every delay is virtual, so seconds of traffic run in milliseconds, the same way every run.
/// </summary>
public class VirtualTimeTests
{
    [Fact]
    public void A_query_over_datagrams_sees_each_tag_one_frame_after_it_was_sent()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        // RunContinuationsInline: awaits resume in virtual time on the test's thread, not on the thread pool.
        var b = network.AddStack("b", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")], RunContinuationsInline = true },
            new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) }); // 10 ms each way on b's link
        var server = network.Run(b.BindUdpAsync(5000));
        var client = network.Run(a.BindUdpAsync());

        var m = new Marbles(scheduler, frame: TimeSpan.FromMilliseconds(10)); // frame 0 is now
        var texts = new Dictionary<char, string> { ['a'] = "#rx", ['b'] = "plain", ['c'] = "#netstack" };

        // a sends what the diagram says, when it says it ...
        using var sending = m.Hot("--a--b--c", texts)
            .SelectMany(text => VirtualTime.FromAsync(token => client.SendAsync(text, NetEndpoint.Parse("10.0.0.2:5000"), token)))
            .Subscribe();

        // ... and a query on b sees the tags 10 ms (one frame) later.
        m.Expect(
            server.Received.Select(datagram => Encoding.UTF8.GetString(datagram.Data.Span)).Where(text => text.StartsWith('#')),
            "---a-----c--", texts);
    }

    [Fact]
    public void Pings_over_a_10_ms_link_take_20_ms()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        network.AddStack("b", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] },
            new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) });
        var m = new Marbles(scheduler, frame: TimeSpan.FromMilliseconds(500));

        // One ping a second; each reply comes 20 ms after its request (and a few ticks of engine passes), in its frame.
        m.Expect(
            a.PingSeries(NetAddress.Parse("10.0.0.2"), count: 3, interval: TimeSpan.FromSeconds(1))
                .Select(result => Math.Round(result.Reply!.RoundTripTime.TotalMilliseconds)),
            "r-r-(r|)--", new Dictionary<char, double> { ['r'] = 20.0 });
    }

    [Fact]
    public void A_SYN_nobody_answers_is_sent_again_after_1_2_and_4_seconds()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var m = new Marbles(scheduler, frame: TimeSpan.FromSeconds(1));

        // Connect at frame 0 to an address nobody has, and watch the SYNs leave a.
        using var connecting = m.Hot("c")
            .SelectMany(_ => VirtualTime.FromAsync(token => a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.99:80"), cancellationToken: token)))
            .Subscribe(_ => { }, _ => { });
        m.Expect(network.PacketsFrom("a").Where(IsSyn).Select(_ => 'S'), "SS-S---S--");
    }

    /// <summary>An IPv4 TCP segment with SYN and without ACK.</summary>
    private static bool IsSyn(byte[] packet) =>
        packet[0] >> 4 == 4 && packet[9] == 6 && (packet[(packet[0] & 0x0F) * 4 + 13] & 0x12) == 0x02;
}
