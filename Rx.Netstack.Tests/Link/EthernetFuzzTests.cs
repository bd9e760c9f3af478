using Rx.Netstack.Link;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>
/// Hostile Ethernet input: a seeded, bounded stream of mutated and random frames — Ethernet headers, VLAN tags, ARP and
/// neighbour discovery among them — fed to a stack (B) on an Ethernet pipe while TCP echo connections (v4 and v6) run to
/// it. Nothing crashes or faults, the neighbour cache stays within its bound, and the connections finish intact (spoofed
/// ARP and advertisements may misdirect B's frames for a while: neighbour unreachability detection repairs it).
/// </summary>
public sealed class EthernetFuzzTests
{
    private const int Frames = 30_000;

    [Fact]
    public void Random_and_mutated_frames_never_crash_the_stack_or_break_live_connections()
    {
        using var pair = new StackPair(medium: LinkMedium.Ethernet,
            configure: o => o with { Ethernet = o.Ethernet with { NeighborCacheSize = 64 } });
        var s = pair.Scheduler;
        s.AdvanceBy(TimeSpan.FromMilliseconds(1100).Ticks); // past DAD
        bool fuzzing = true;
        var v4 = new EchoTraffic(pair.A, pair.B, new NetEndpoint(StackPair.B4, 80), 3000, () => fuzzing, TimeSpan.FromMilliseconds(1));
        var v6 = new EchoTraffic(pair.A, pair.B, new NetEndpoint(StackPair.B6, 8080), 3000, () => fuzzing, TimeSpan.FromMilliseconds(1));
        v4.Listen(16);
        v6.Listen(16);
        var templates = new List<byte[]>();
        using var tap = pair.DeviceB.Received.Subscribe(f => { if (templates.Count < 300) templates.Add(f.ToArray()); });
        v4.Connect(2);
        v6.Connect(2);
        Assert.True(s.RunUntil(() => v4.Clients.All(c => c.Rounds > 2) && v6.Clients.All(c => c.Rounds > 2), TimeSpan.FromSeconds(10)));
        Assert.Contains(templates, t => t.Length > 13 && t[12] == 0x08 && t[13] == 0x06); // ARP among the templates

        var random = new Random(20261207);
        MacAddress macB = pair.B.MacAddress!.Value;
        for (int i = 0; i < Frames; i++)
        {
            pair.DeviceA.Transmit.OnNext(NextFrame(random, templates, macB));
            if (i % 300 == 0) s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        }
        fuzzing = false;
        Assert.True(s.RunUntil(() => v4.ClientsFinished == 2 && v6.ClientsFinished == 2, TimeSpan.FromMinutes(5)),
            $"failures: {string.Join("; ", v4.Failures.Concat(v6.Failures))}");
        Assert.All(v4.Clients.Concat(v6.Clients), c => Assert.True(c.Intact));
        var stats = pair.B.GetStats();
        Assert.Equal(0, stats.EngineFaults);
        Assert.True(stats.TotalDrops > Frames / 4, $"only {stats.TotalDrops} drops of {Frames} hostile frames");
        Assert.InRange(pair.B.GetNeighbors().Count, 1, 64);
    }

    /// <summary>A template with a few bytes flipped, cut short, a random ARP or NDP message, or noise.</summary>
    private static byte[] NextFrame(Random random, List<byte[]> templates, MacAddress target)
    {
        switch (random.Next(5))
        {
            case 0:
            {
                byte[] noise = new byte[random.Next(0, 200)];
                random.NextBytes(noise);
                return noise;
            }
            case 1:
            {
                byte[] t = templates[random.Next(templates.Count)];
                return t.AsSpan(0, random.Next(0, t.Length)).ToArray();
            }
            case 2:
            {
                var arp = new ArpPacket(random.Next(2) == 0 ? ArpOperation.Request : ArpOperation.Reply, RandomMac(random),
                    NetAddress.V4(10, 0, 0, (byte)random.Next(1, 255)), RandomMac(random), NetAddress.V4(10, 0, 0, (byte)random.Next(1, 4)));
                byte[] frame = new byte[EthernetHeader.HeaderLength + ArpPacket.PacketLength];
                EthernetHeader.Emit(frame, new EthernetHeader(random.Next(2) == 0 ? MacAddress.Broadcast : target, arp.SenderHardware, EtherType.Arp));
                ArpPacket.Emit(frame.AsSpan(EthernetHeader.HeaderLength), arp);
                Flip(random, frame, EthernetHeader.HeaderLength);
                return frame;
            }
            case 3:
            {
                var type = (IcmpV6Type)random.Next(133, 137);
                NetAddress target6 = NetAddress.V6(0xFD00UL << 48, (ulong)random.Next(1, 300));
                var message = new NdpMessage(type, type is IcmpV6Type.NeighborSolicitation or IcmpV6Type.NeighborAdvertisement ? target6 : NetAddress.AnyV6,
                    SourceLinkAddress: random.Next(2) == 0 ? RandomMac(random) : null, TargetLinkAddress: RandomMac(random),
                    Solicited: random.Next(2) == 0, Override: random.Next(2) == 0, RouterLifetime: (ushort)random.Next(0, 3),
                    Prefixes: random.Next(4) == 0 ? [new NdpPrefixInformation(NetAddress.V6(0x2001_0db8UL << 32 | (uint)random.Next(9), 0), 64, true, true, 10, 5)] : null);
                NetAddress source = random.Next(3) == 0 ? NetAddress.AnyV6 : NetAddress.V6(0xFE80UL << 48, (ulong)random.Next(1, 300));
                NetAddress destination = random.Next(2) == 0 ? NetAddress.Parse("ff02::1") : StackPair.B6;
                byte[] frame = new byte[EthernetHeader.HeaderLength + Ipv6Header.HeaderLength + message.Length];
                EthernetHeader.Emit(frame, new EthernetHeader(destination.IsMulticast ? MacAddress.ForMulticast(destination) : target, RandomMac(random), EtherType.Ipv6));
                int length = NdpMessage.Emit(frame.AsSpan(EthernetHeader.HeaderLength + Ipv6Header.HeaderLength), message, source, destination);
                Ipv6Header.Emit(frame.AsSpan(EthernetHeader.HeaderLength), new Ipv6Header(source, destination, IpProtocol.IcmpV6, (byte)(random.Next(4) == 0 ? 64 : 255)), length);
                if (random.Next(3) == 0) Flip(random, frame, EthernetHeader.HeaderLength + Ipv6Header.HeaderLength);
                return frame;
            }
            default:
            {
                byte[] frame = (byte[])templates[random.Next(templates.Count)].Clone();
                Flip(random, frame, 0);
                return frame;
            }
        }
    }

    private static MacAddress RandomMac(Random random) => MacAddress.FromValue((ulong)random.NextInt64(0, 1L << 48) & ~0x0100_0000_0000UL);

    private static void Flip(Random random, byte[] frame, int from)
    {
        if (frame.Length <= from) return;
        for (int n = random.Next(1, 4); n > 0; n--) frame[random.Next(from, frame.Length)] ^= (byte)random.Next(1, 256);
    }
}
