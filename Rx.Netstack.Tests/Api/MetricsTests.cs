using System.Diagnostics.Metrics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Api;

/// <summary>The stack's counters on the "Rx.Netstack" meter, read the way dotnet-counters and OpenTelemetry read them.</summary>
public sealed class MetricsTests
{
    /// <summary>Collects the latest value of each (instrument, tag set) of one stack, as a listener polling observables does.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly int _stackId;
        public Dictionary<string, long> Values { get; } = [];
        public HashSet<string> Instruments { get; } = [];

        public Recorder(int stackId)
        {
            _stackId = stackId;
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name != Netstack.MeterName) return;
                Instruments.Add(instrument.Name);
                listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Record(i, value, tags));
            _listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Record(i, value, tags));
            _listener.Start();
        }

        private void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string key = instrument.Name;
            bool ours = false;
            foreach (var (name, tag) in tags)
            {
                if (name == "rx_netstack.stack.id") ours = (int)tag! == _stackId;
                else key += $" {name}={tag}";
            }
            if (ours) Values[key] = value;
        }

        public void Collect() => _listener.RecordObservableInstruments();

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public void A_listener_sees_traffic_connections_by_state_and_sockets_with_semantic_names()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        using var recorder = new Recorder(pair.B.Id);
        var (client, server) = pair.ConnectTcp();
        s.Await(client.SendAsync(new byte[3000]));
        pair.ReadExactly(server, 3000);
        s.Await(pair.A.PingAsync(StackPair.B4.ToString()));

        recorder.Collect();
        var stats = pair.B.GetStats();
        var v = recorder.Values;
        Assert.Equal(stats.FramesIn, v["system.network.packets network.io.direction=receive"]);
        Assert.Equal(stats.FramesOut, v["system.network.packets network.io.direction=transmit"]);
        Assert.Equal(stats.BytesIn, v["system.network.io network.io.direction=receive"]);
        Assert.Equal(stats.TcpIn, v["rx_netstack.tcp.segments network.io.direction=receive"]);
        Assert.Equal(stats.IcmpIn, v["rx_netstack.icmp.messages network.io.direction=receive"]);
        Assert.True(stats.TcpIn >= 4 && stats.IcmpIn == 1);
        Assert.Equal(1, v["system.network.connections network.transport=tcp network.connection.state=established"]);
        Assert.Equal(0, v["system.network.connections network.transport=tcp network.connection.state=time_wait"]);
        Assert.Equal(1, v["rx_netstack.sockets rx_netstack.socket.kind=TcpListener"]);
        Assert.Equal(stats.CommandsProcessed, v["rx_netstack.commands.processed"]);
        Assert.Equal(0, v["rx_netstack.commands.queued"]);

        // The client closes: B's connection moves to CLOSE-WAIT, and a listener sees it on its next collection.
        s.Await(client.CloseAsync());
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        recorder.Collect();
        Assert.Equal(0, v["system.network.connections network.transport=tcp network.connection.state=established"]);
        Assert.Equal(1, v["system.network.connections network.transport=tcp network.connection.state=close_wait"]);
        s.Await(server.CloseAsync());
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        recorder.Collect();
        Assert.Equal(0, v["system.network.connections network.transport=tcp network.connection.state=close_wait"]);
        Assert.Equal(0, v["rx_netstack.sockets rx_netstack.socket.kind=TcpStream"]); // B closed second: no TIME-WAIT on B
    }

    [Fact]
    public void A_disposed_stack_leaves_the_meter()
    {
        using var recorder = new Recorder(-1);
        var s = new Microsoft.Reactive.Testing.TestScheduler();
        var stack = new Netstack(scheduler: s);
        int published = recorder.Instruments.Count;
        Assert.Contains("system.network.connections", recorder.Instruments);
        Assert.Contains("rx_netstack.drops", recorder.Instruments);
        var ended = new List<Instrument>();
        using var watcher = new MeterListener
        {
            InstrumentPublished = (i, l) => { if (i.Meter.Name == Netstack.MeterName) l.EnableMeasurementEvents(i); },
            MeasurementsCompleted = (i, _) => ended.Add(i),
        };
        watcher.Start();
        stack.Dispose();
        Assert.Equal(published, ended.Count(i => i.Meter.Name == Netstack.MeterName));
    }

    [Fact]
    public void A_lossy_reordering_transfer_moves_the_TCP_recovery_counters_in_stats_and_metrics()
    {
        var scheduler = new Microsoft.Reactive.Testing.TestScheduler();
        using var network = new Rx.Netstack.Testing.VirtualNetwork(scheduler);
        var options = new NetstackOptions();
        var impairment = new Rx.Netstack.Devices.ImpairmentOptions
        {
            Delay = TimeSpan.FromMilliseconds(5), Loss = 0.03, Reordering = 0.05, ReorderDelay = TimeSpan.FromMilliseconds(3),
        };
        Netstack a = network.AddStack("a", options with { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, impairment, seed: 7);
        Netstack b = network.AddStack("b", options with { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
        using var recorder = new Recorder(a.Id);
        var listener = network.Run(b.ListenTcpAsync(9));
        byte[] data = new byte[400_000];
        new Random(7).NextBytes(data);
        network.Run(async () =>
        {
            await using var client = await a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.2:9"));
            await using var server = await listener.AcceptAsync();
            Task send = client.SendAsync(data);
            var received = new MemoryStream();
            var buffer = new byte[16384];
            while (received.Length < data.Length)
            {
                int n = await server.ReadAsync(buffer);
                Assert.True(n > 0);
                received.Write(buffer, 0, n);
            }
            await send;
            Assert.Equal(data, received.ToArray());
        }, TimeSpan.FromMinutes(2));

        var stats = a.GetStats();
        Assert.True(network.LinkOf("a")!.InboundCounters.Lost > 0, "the link dropped data");
        Assert.True(stats.TcpRetransmissions > 0);
        Assert.True(stats.TcpFastRetransmits > 0, $"{stats}");
        Assert.True(stats.TcpRecoveryEpisodes > 0, $"{stats}");
        Assert.True(stats.TcpReorderTimeouts + stats.TcpTailLossProbes > 0, $"{stats}");
        Assert.True(b.GetStats().TcpDuplicateSacksSent > 0, $"{b.GetStats()}");
        Assert.Equal(b.GetStats().TcpDuplicateSacksSent, stats.TcpDuplicateSacksReceived);
        Assert.Equal(0, stats.TcpPathMtuReductions);

        recorder.Collect();
        var v = recorder.Values;
        Assert.Equal(stats.TcpFastRetransmits, v["rx_netstack.tcp.events rx_netstack.tcp.event=fast_retransmit"]);
        Assert.Equal(stats.TcpRecoveryEpisodes, v["rx_netstack.tcp.events rx_netstack.tcp.event=recovery"]);
        Assert.Equal(stats.TcpDuplicateSacksReceived, v["rx_netstack.tcp.events rx_netstack.tcp.event=dsack_received"]);
        Assert.Equal(stats.TcpSpuriousRetransmissionsUndone, v["rx_netstack.tcp.events rx_netstack.tcp.event=undo"]);
        Assert.Equal(stats.TcpTimeouts, v["rx_netstack.tcp.events rx_netstack.tcp.event=timeout"]);
    }
}
