using System.Reactive;
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
/// Stacks on a <see cref="VirtualNetwork"/> driven by a <see cref="TestScheduler"/>: every delay is virtual, so a test of
/// seconds of traffic runs in milliseconds and gives the same messages at the same ticks, every run.
/// </summary>
public class VirtualTimeTests : ReactiveTest
{
    private static long Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds).Ticks;

    /// <summary>Recorded times to the millisecond: each engine pass a message crosses takes a tick of virtual time.</summary>
    private static IEnumerable<Recorded<Notification<T>>> ToTheMillisecond<T>(IEnumerable<Recorded<Notification<T>>> messages) =>
        messages.Select(m => new Recorded<Notification<T>>(m.Time / Ms(1) * Ms(1), m.Value));

    [Fact]
    public void Pings_over_a_10_ms_link_take_20_ms()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] },
            new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) }); // 10 ms each way on b's link

        var roundTrips = scheduler.Start(
            () => a.PingSeries(NetAddress.Parse("10.0.0.2"), count: 3, interval: TimeSpan.FromSeconds(1))
                .Select(result => Math.Round(result.Reply!.RoundTripTime.TotalMilliseconds)),
            created: 0, subscribed: 0, disposed: Ms(5000));

        ToTheMillisecond(roundTrips.Messages).AssertEqual(
            OnNext(Ms(20), 20.0),
            OnNext(Ms(1020), 20.0),
            OnNext(Ms(2020), 20.0),
            OnCompleted<double>(Ms(2020)));
    }

    [Fact]
    public void A_query_over_datagrams_sees_each_one_10_ms_after_it_was_sent()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        // RunContinuationsInline: awaits resume in virtual time on the test's thread, not on the thread pool.
        var b = network.AddStack("b", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")], RunContinuationsInline = true },
            new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) });
        var server = network.Run(b.BindUdpAsync(5000));
        var client = network.Run(a.BindUdpAsync());

        // What a sends, and when: a marble of texts in virtual time.
        var texts = scheduler.CreateHotObservable(
            OnNext(Ms(100), "#rx"),
            OnNext(Ms(200), "plain"),
            OnNext(Ms(300), "#netstack"));
        using var sending = texts
            .SelectMany(text => Observable.FromAsync(() => client.SendAsync(text, NetEndpoint.Parse("10.0.0.2:5000"))))
            .Subscribe();

        var tags = scheduler.Start(
            () => server.Received
                .Select(datagram => Encoding.UTF8.GetString(datagram.Data.Span))
                .Where(text => text.StartsWith('#')),
            created: Ms(10), subscribed: Ms(20), disposed: Ms(1000));

        ToTheMillisecond(tags.Messages).AssertEqual(
            OnNext(Ms(110), "#rx"),
            OnNext(Ms(310), "#netstack"));
        Assert.Equal(3, b.GetStats().UdpIn);
    }
}
