using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Support;
using Xunit.Abstractions;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>Load (10,000 concurrent connections) and soak (100 connections over a lossy, reordering, duplicating link).</summary>
[Collection(SerialCollection.Name)]
public sealed class LoadAndSoakTests(ITestOutputHelper output)
{
    [Fact]
    public void Ten_thousand_concurrent_connections_each_exchange_data_intact()
    {
        const int Connections = 10_000;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var traffic = new EchoTraffic(pair.A, pair.B, new NetEndpoint(StackPair.B4, 80), 1000, () => false, TimeSpan.Zero);
        traffic.Listen(Connections);
        s.AdvanceBy(1);
        traffic.Connect(Connections);
        bool done = s.RunUntil(() => traffic.ClientsFinished == Connections && traffic.ServersFinished == Connections || traffic.Failures.Count > 0,
            TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(10));
        Assert.Empty(traffic.Failures);
        Assert.True(done, $"{traffic.ClientsFinished} clients finished");
        Assert.All(traffic.Clients, c => Assert.True(c.Intact));
        Assert.Equal(Connections, traffic.ServersAccepted);
        Assert.Equal(2L * Connections * 1000, traffic.Clients.Sum(c => c.BytesSent + c.BytesReceived));
        StatsAssert.TallyMatchesTable(pair.A);
        StatsAssert.TallyMatchesTable(pair.B);
        output.WriteLine($"{Connections:N0} connections, 1,000 bytes echoed on each, in {TimeSpan.FromTicks(s.Clock).TotalMilliseconds:N0} ms of virtual time " +
            $"and {watch.Elapsed.TotalSeconds:N1} s of real time; A sent {pair.A.GetStats().TcpOut:N0} segments");
        s.AdvanceBy(TimeSpan.FromMinutes(2).Ticks); // TIME-WAIT runs out
        Assert.Equal(0, pair.A.SocketCount);
        Assert.Equal(1, pair.B.SocketCount);
    }

    [Fact]
    public void Soak_hundred_connections_over_an_impaired_link_deliver_every_byte_without_growth()
    {
        var s = new TestScheduler();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var options = new ImpairmentOptions { Loss = 0.01, Duplication = 0.01, Reordering = 0.02, Delay = TimeSpan.FromMilliseconds(5) };
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)] }, s);
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)] }, s);
        var (da, db) = PipeDevice.CreatePair();
        using var linkA = new ImpairedLink(da, s, outbound: options, seed: 1);
        using var linkB = new ImpairedLink(db, s, outbound: options, seed: 2);
        a.Attach(linkA);
        b.Attach(linkB);

        TimeSpan duration = TimeSpan.FromSeconds(70);
        var traffic = new EchoTraffic(a, b, new NetEndpoint(StackPair.B4, 80), 4000, () => s.Clock < duration.Ticks, TimeSpan.FromMilliseconds(150));
        traffic.Listen(128);
        s.AdvanceBy(1);
        traffic.Connect(100);

        var samples = new List<(double At, long Memory, int SocketsA, int SocketsB, long Bytes)>();
        for (int second = 1; second <= duration.TotalSeconds; second++)
        {
            s.AdvanceTo(TimeSpan.FromSeconds(second).Ticks);
            Assert.Empty(traffic.Failures);
            if (second % 10 == 0)
            {
                StatsAssert.TallyMatchesTable(a); // connections open, closing and in TIME-WAIT at once
                StatsAssert.TallyMatchesTable(b);
            }
            if (second is 10 or 11 or 12 || second >= duration.TotalSeconds - 2)
                samples.Add((second, GC.GetTotalMemory(forceFullCollection: true), a.SocketCount, b.SocketCount, traffic.Clients.Sum(c => c.BytesReceived)));
        }
        Assert.True(s.RunUntil(() => traffic.ClientsFinished == 100 && traffic.ServersFinished == 100, TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(10)),
            $"{traffic.ClientsFinished} clients finished; failures: {string.Join("; ", traffic.Failures)}");
        Assert.Empty(traffic.Failures);
        Assert.All(traffic.Clients, c => Assert.True(c.Intact, $"client {c.Local}: {c.BytesSent} sent, {c.BytesReceived} echoed"));

        var early = samples.Take(3).ToList();
        var late = samples.Skip(3).ToList();
        long memoryEarly = early.Min(x => x.Memory), memoryLate = late.Min(x => x.Memory);
        foreach (var x in samples) output.WriteLine($"t={x.At}s managed memory {x.Memory / 1024:N0} KiB, sockets A {x.SocketsA} B {x.SocketsB}, bytes echoed {x.Bytes:N0}");
        output.WriteLine($"soak: {traffic.Clients.Sum(c => c.BytesSent):N0} bytes each way in {traffic.Clients.Sum(c => c.Rounds):N0} rounds, " +
            $"A retransmitted {a.GetStats().TcpRetransmissions:N0}, B {b.GetStats().TcpRetransmissions:N0}; link A→B lost {linkA.OutboundCounters.Lost:N0}, duplicated {linkA.OutboundCounters.Duplicated:N0}, reordered {linkA.OutboundCounters.Reordered:N0}; real time {watch.Elapsed.TotalSeconds:N1} s");
        Assert.All(samples, x => Assert.Equal(100, x.SocketsA));
        Assert.All(samples, x => Assert.Equal(101, x.SocketsB));
        Assert.True(memoryLate - memoryEarly < 8 * 1024 * 1024, $"managed memory grew from {memoryEarly:N0} to {memoryLate:N0} bytes");
        Assert.True(late[^1].Bytes > early[^1].Bytes * 4, "traffic kept flowing until the end");
        // The link really impaired the traffic and the stacks really recovered from it: a link that stopped impairing fails here.
        Assert.True(linkA.OutboundCounters.Lost > 0 && linkB.OutboundCounters.Lost > 0, "the links lost nothing");
        Assert.True(linkA.OutboundCounters.Duplicated > 0 && linkA.OutboundCounters.Reordered > 0, "the link duplicated or reordered nothing");
        Assert.True(a.GetStats().TcpRetransmissions > 0 && b.GetStats().TcpRetransmissions > 0, "a side retransmitted nothing");
    }
}
