using System.Reactive;
using System.Reactive.Linq;
using System.Text;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Testing;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Marble;

/// <summary>
/// Same seed, same bytes: ten seconds of mixed traffic over a lossy, reordering link — TCP bulk, UDP, pings, connections
/// opened and closed — run twice give byte-identical pcap captures and identical marble recordings. Nothing in the run
/// touches the thread pool or the real clock, so a loaded machine cannot change it.
/// </summary>
public sealed class DeterminismTests
{
    private static readonly TimeSpan Frame = TimeSpan.FromMilliseconds(100);
    private const int BulkBytes = 2_000_000;

    /// <summary>What a run left behind: the capture of both stacks' packets, and each stream as a marble diagram.</summary>
    private sealed record Outcome(byte[] Pcap, long Records, string Diagrams, long Retransmissions, long Lost, long BulkReceived,
        List<string> Packets);

    private static Outcome TenSeconds(int seed)
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var link = new ImpairmentOptions
        {
            Loss = 0.02, Reordering = 0.02, Delay = TimeSpan.FromMilliseconds(5), Jitter = TimeSpan.FromMilliseconds(1),
        };
        var a = network.AddStack("a", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, link, seed: seed);
        var b = network.AddStack("b", "10.0.0.2/24");

        var capture = new MemoryStream();
        var writer = new PcapWriter(capture, scheduler, PcapTimestampResolution.Nanoseconds, leaveOpen: true);
        var packets = new List<string>(); // a line per packet, to say where two runs part when they do
        using var fromA = network.PacketsFrom("a").Subscribe(packet => Capture("a", packet));
        using var fromB = network.PacketsFrom("b").Subscribe(packet => Capture("b", packet));
        void Capture(string from, byte[] packet)
        {
            writer.Write(packet);
            packets.Add($"{scheduler.Clock} {from} {Convert.ToHexString(packet.AsSpan(0, Math.Min(packet.Length, 48)))} ({packet.Length} bytes)");
        }

        var echo = network.Run(b.BindUdpAsync(7));
        var client = network.Run(a.BindUdpAsync(40000));
        var bulkListener = network.Run(b.ListenTcpAsync(9));
        var shortListener = network.Run(b.ListenTcpAsync(80));

        // The recordings: each stream into a TestScheduler observer, rendered as a diagram at the end.
        var datagrams = scheduler.CreateObserver<string>();
        var pings = scheduler.CreateObserver<string>();
        var accepted = scheduler.CreateObserver<string>();
        var bulkStates = scheduler.CreateObserver<string>();
        using var r1 = echo.Received.Select(d => Encoding.ASCII.GetString(d.Data.Span)).Subscribe(datagrams);
        using var r2 = shortListener.Accepted.Select(c => c.Remote.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).Subscribe(accepted);
        using var r3 = a.PingSeries(NetAddress.Parse("10.0.0.2"), count: 20, interval: TimeSpan.FromMilliseconds(500), timeout: TimeSpan.FromMilliseconds(400))
            .Select(p => p.Reply is { } reply ? $"{p.SequenceNumber}:{reply.RoundTripTime.TotalMilliseconds}ms" : $"{p.SequenceNumber}:lost")
            .Subscribe(pings);

        // UDP: a datagram every 250 ms.
        using var udp = Observable.Interval(TimeSpan.FromMilliseconds(250), scheduler).Take(36)
            .SelectMany(i => VirtualTime.FromAsync(token => client.SendAsync($"u{i}", NetEndpoint.Parse("10.0.0.2:7"), token)))
            .Subscribe();

        // Short connections: one a second, opened then closed.
        using var shorts = Observable.Interval(TimeSpan.FromSeconds(1), scheduler).Take(8)
            .SelectMany(_ => VirtualTime.FromAsync(async token =>
            {
                TcpConnection connection = await a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.2:80"), cancellationToken: token);
                await connection.CloseAsync(token);
                return Unit.Default;
            }))
            .Subscribe();
        using var closeAccepted = shortListener.Accepted.SelectMany(c => VirtualTime.FromAsync(token => c.CloseAsync(token))).Subscribe();

        // TCP bulk: 2 MB from a to b through the lossy link; b counts what arrives.
        long bulkReceived = 0;
        using var sink = bulkListener.Accepted.SelectMany(c => c.Received).Subscribe(chunk => bulkReceived += chunk.Length);
        var bulk = scheduler.StartInVirtualTime(async () =>
        {
            TcpConnection connection = await a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.2:9"));
            using var states = connection.StateChanges(TimeSpan.FromMilliseconds(100)).Select(s => s.ToString()).Subscribe(bulkStates);
            var data = new byte[BulkBytes];
            new Random(seed).NextBytes(data);
            await connection.SendAsync(data);
            await connection.CloseAsync();
        });

        scheduler.AdvanceTo(TimeSpan.FromSeconds(10).Ticks);
        Assert.True(bulk.IsCompletedSuccessfully, $"the bulk transfer did not finish in 10 s: {bulk.Status}");
        writer.Flush();

        var m = new Marbles(scheduler, Frame, origin: 0);
        string diagrams = string.Join("\n",
            $"datagrams {m.Render(datagrams.Messages)}",
            $"pings     {m.Render(pings.Messages)}",
            $"accepted  {m.Render(accepted.Messages)}",
            $"bulk      {m.Render(bulkStates.Messages)}",
            string.Join("; ", MarbleDiagram.Legend(datagrams.Messages).Concat(MarbleDiagram.Legend(pings.Messages)).Concat(MarbleDiagram.Legend(accepted.Messages))));
        long retransmissions = a.GetStats().TcpRetransmissions;
        long lost = network.LinkOf("a")!.InboundCounters.Lost + network.LinkOf("a")!.OutboundCounters.Lost;
        writer.Dispose();
        return new Outcome(capture.ToArray(), writer.RecordCount, diagrams, retransmissions, lost, bulkReceived, packets);
    }

    [Fact]
    public void Ten_seconds_of_mixed_traffic_over_a_lossy_link_run_twice_give_the_same_bytes_and_the_same_diagrams()
    {
        Outcome first = TenSeconds(seed: 7), second = TenSeconds(seed: 7);

        // The run did what it says: the bulk arrived whole through real loss and retransmission, every stream has events.
        Assert.Equal(BulkBytes, first.BulkReceived);
        Assert.True(first.Lost > 10, $"only {first.Lost} frames lost");
        Assert.True(first.Retransmissions > 0, "no retransmission");
        Assert.True(first.Records > 1_000, $"only {first.Records} packets captured");

        int parted = first.Packets.Zip(second.Packets).TakeWhile(p => p.First == p.Second).Count();
        Assert.True(parted == first.Packets.Count && parted == second.Packets.Count,
            $"the runs part at packet {parted}:\n  {string.Join("\n  ", first.Packets.Skip(parted - 3).Take(8))}\nand\n  {string.Join("\n  ", second.Packets.Skip(parted - 3).Take(8))}");
        Assert.Equal(first.Diagrams, second.Diagrams);
        Assert.Equal(first.Pcap.Length, second.Pcap.Length);
        Assert.True(first.Pcap.AsSpan().SequenceEqual(second.Pcap), "the captures differ");

        // And the seed is what decides: another one loses other frames, so the capture differs.
        Outcome other = TenSeconds(seed: 8);
        Assert.False(first.Pcap.AsSpan().SequenceEqual(other.Pcap), "a different seed gave the same capture");
    }
}
