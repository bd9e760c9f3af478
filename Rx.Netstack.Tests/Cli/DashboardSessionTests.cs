using System.Text.Json;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Cli.Dashboard;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Testing;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// One browser's <see cref="DashboardSession"/> in virtual time: what a browser that does not read costs (one pending
/// update of each kind and one change per socket row, the rest counted as coalesced), and which connections are charted.
/// </summary>
public sealed class DashboardSessionTests
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(250);

    [Fact]
    public void A_browser_that_does_not_read_costs_coalesced_updates_not_a_queue()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        Netstack a = network.AddStack("a", "10.0.0.1/24");
        using var session = new DashboardSession(new DashboardSource("a", a), Period, () => 1);
        session.Start();
        scheduler.AdvanceBy(1);
        List<DashboardEvent> first = session.Take();
        Assert.Equal(["sockets", "stats"], first.Select(e => e.Name));
        Assert.True(Json(first[0]).GetProperty("reset").GetBoolean());
        Assert.Equal(0, Json(first[0]).GetProperty("changes").GetArrayLength());
        long start = scheduler.Clock;

        // Two seconds in which nobody reads: 40 sockets opened and 30 of them closed again, eight counter samples.
        var sockets = Enumerable.Range(0, 40).Select(_ => network.Run(a.BindUdpAsync())).ToList();
        foreach (UdpSocket closed in sockets.Take(30)) network.Run(closed.DisposeAsync().AsTask());
        // (Each engine pass takes a tick of virtual time, so the eighth sample is due a few ticks after 2 s.)
        scheduler.AdvanceTo(start + TimeSpan.FromSeconds(2.001).Ticks);

        List<DashboardEvent> pending = session.Take();
        Assert.Equal(["sockets", "stats"], pending.Select(e => e.Name));
        JsonElement changes = Json(pending[0]);
        Assert.False(changes.GetProperty("reset").GetBoolean());
        // An add and a remove of the same row cancel out: only the ten sockets still open are sent, as adds.
        Assert.Equal(sockets.Skip(30).Select(s => s.Local.ToString()).Order(),
            changes.GetProperty("changes").EnumerateArray().Select(c => c.GetProperty("local").GetString()).Order());
        Assert.All(changes.GetProperty("changes").EnumerateArray(), c => Assert.Equal("add", c.GetProperty("op").GetString()));
        // One counter sample, its rates measured over all the time the browser did not read.
        JsonElement stats = Json(pending[1]);
        Assert.InRange(stats.GetProperty("seconds").GetDouble(), 1.999, 2.001);
        Assert.Equal(10, stats.GetProperty("sockets").GetProperty("Udp").GetInt32());
        // Seven counter samples replaced, 30 add/remove pairs folded.
        Assert.Equal(7 + 30, session.Coalesced);
        Assert.Equal(7 + 30, stats.GetProperty("coalesced").GetInt64());
        Assert.Empty(session.Take());
    }

    [Fact]
    public void Six_connections_are_charted_first_come_and_one_that_goes_frees_its_slot_for_the_next()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        Netstack a = network.AddStack("a", "10.0.0.1/24");
        Netstack b = network.AddStack("b", "10.0.0.2/24");
        TcpConnectionListener listener = network.Run(b.ListenTcpAsync(7, backlog: 16));
        using var session = new DashboardSession(new DashboardSource("a", a), Period, () => 1);
        session.Start();
        var connections = Enumerable.Range(0, 8).Select(_ => network.Run(a.ConnectTcpAsync("10.0.0.2:7"))).ToList();
        scheduler.AdvanceBy(Period.Ticks * 2);
        session.Take();
        scheduler.AdvanceBy(Period.Ticks);

        Assert.Equal(DashboardSession.MaxChartedConnections, session.ChartedCount);
        Assert.Equal(connections.Take(6).Select(c => c.Local.ToString()), ChartedLocals(session.Take()));

        // Two charted connections go (reset: their rows leave at once); the two that waited take their slots.
        network.Run(connections[0].AbortAsync());
        network.Run(connections[1].AbortAsync());
        scheduler.AdvanceBy(Period.Ticks * 2);
        session.Take();
        scheduler.AdvanceBy(Period.Ticks);
        Assert.Equal(6, session.ChartedCount);
        Assert.Equal(connections.Skip(2).Select(c => c.Local.ToString()).Order(), ChartedLocals(session.Take()).Order());
        GC.KeepAlive(listener);
    }

    private static List<string> ChartedLocals(List<DashboardEvent> events) =>
        [.. Json(events.Single(e => e.Name == "conns")).GetProperty("items").EnumerateArray().Select(i => i.GetProperty("local").GetString()!)];

    private static JsonElement Json(DashboardEvent e) => JsonDocument.Parse(e.Json).RootElement.Clone();
}
