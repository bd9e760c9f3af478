using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>Random TCP, UDP and ICMP to intercepted addresses, cut short at random, while the application decides offers.</summary>
public sealed class InterceptionFuzzTests
{
    [Fact]
    public void Random_traffic_to_intercepted_prefixes_stays_bounded_faults_nothing_and_leaves_nothing_behind()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        NetPrefix[] all = [NetPrefix.Parse("198.51.100.0/24"), NetPrefix.Parse("2001:db8::/64")];
        var tcp = s.Await(TcpInterceptor.StartAsync(pair.B, all, backlog: 32, decisionTimeout: TimeSpan.FromSeconds(5)));
        var udp = s.Await(UdpInterceptor.StartAsync(pair.B, all, maxFlows: 64, idleTimeout: TimeSpan.FromSeconds(10)));
        var connections = new List<TcpConnection>();
        int decided = 0;
        // Every other offer accepted, the rest refused in turn by each way there is; every flow answered once and then left to idle.
        using var offers = tcp.Offers.Subscribe(offer =>
        {
            int n = decided++;
            if (n % 2 == 0) offer.AcceptAsync().ContinueWith(t => { if (t.IsCompletedSuccessfully) connections.Add(t.Result); }, TaskContinuationOptions.ExecuteSynchronously);
            else offer.RefuseAsync((InterceptRefusal)(n / 2 % 6)).ContinueWith(_ => { }, TaskContinuationOptions.ExecuteSynchronously);
        });
        using var flows = udp.Flows.Subscribe(flow => flow.Received.Take(1).Subscribe(d => flow.SendAsync(d.Data)));
        int baseline = pair.B.SocketCount;

        var random = new Random(15);
        int maxSockets = 0;
        for (int round = 0; round < 100; round++)
        {
            for (int i = 0; i < 200; i++) pair.DeviceA.Transmit.OnNext(RandomPacket(random));
            s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
            maxSockets = Math.Max(maxSockets, pair.B.SocketCount);
        }
        NetstackStats stats = pair.B.GetStats();
        Assert.True(stats.InterceptedSyns > 100 && stats.UdpFlowsOpened == 64, $"offers {stats.InterceptedSyns}, flows {stats.UdpFlowsOpened}");
        Assert.True(stats.Drops.GetValueOrDefault(DropReason.UdpFlowLimit) > 0, "the flow cap was reached");
        // The interceptors, at most 64 flows, and the accepted connections (each decided at once: no offer is a socket).
        Assert.InRange(maxSockets, baseline, baseline + 64 + decided);

        // Everything ends: forged clients never complete a handshake, flows idle out, and the application closes what it got.
        s.AdvanceBy(TimeSpan.FromMinutes(5).Ticks);
        foreach (TcpConnection c in connections) Done(s, c.AbortAsync());
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(baseline, pair.B.SocketCount);
        NetstackStats after = pair.B.GetStats();
        Assert.Equal((0, 0), (after.EngineFaults, after.SubscriberFaults));
        Assert.Equal(0, pair.B.ReassemblyMemoryInUse);
        StatsAssert.TallyMatchesTable(pair.B);
    }

    private static void Done(Microsoft.Reactive.Testing.TestScheduler s, Task task) =>
        s.Await(task.ContinueWith(_ => 0, TaskContinuationOptions.ExecuteSynchronously));

    /// <summary>A TCP segment (random flags, few ports so 4-tuples repeat), UDP datagram or ICMP message to a random intercepted
    /// address, one time in eight cut short at a random byte.</summary>
    private static byte[] RandomPacket(Random random)
    {
        bool v6 = random.Next(3) == 0;
        NetAddress source = v6 ? StackPair.A6 : StackPair.A4;
        NetAddress destination = v6 ? NetAddress.Parse($"2001:db8::{random.Next(1, 8):x}") : NetAddress.V4(0xC633_6400u | (uint)random.Next(1, 8));
        ushort sourcePort = (ushort)random.Next(40000, 40016), destinationPort = (ushort)random.Next(1, 5);
        byte[] payload = new byte[random.Next(0, 40)];
        random.NextBytes(payload);
        byte[] packet = random.Next(3) switch
        {
            0 => Forge.Tcp(source, destination, new TcpHeader(sourcePort, destinationPort, (TcpFlags)random.Next(64))
            {
                Sequence = new SeqNumber((uint)random.Next(4)), Acknowledgment = new SeqNumber((uint)random.Next(4)), Window = (ushort)random.Next(65536),
            }, payload),
            1 => Forge.Udp(source, destination, sourcePort, destinationPort, payload),
            _ => Forge.Icmp(source, destination, new IcmpHeader(v6 ? (byte)IcmpV6Type.EchoRequest : (byte)IcmpV4Type.EchoRequest, 0, 7, 1), payload),
        };
        return random.Next(8) == 0 ? packet[..random.Next(1, packet.Length)] : packet;
    }
}
