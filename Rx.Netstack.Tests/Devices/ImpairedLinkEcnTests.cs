using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Devices;

/// <summary>
/// <see cref="ImpairmentOptions.CongestionMarking"/>: what loss would drop is delivered marked CE when it is ECN-capable
/// (RFC 3168 §5), with a valid IPv4 header checksum; anything else is still dropped.
/// </summary>
public sealed class ImpairedLinkEcnTests
{
    private static readonly HashSet<int> ChangedBytes = [1, 10, 11]; // the TOS byte and the header checksum
    private static byte[] V4(byte ecn)
    {
        var packet = new byte[20 + 8];
        Ipv4Header.Emit(packet, new Ipv4Header(NetAddress.V4(10, 0, 0, 1), NetAddress.V4(10, 0, 0, 2), IpProtocol.Udp, 64, 7,
            TypeOfService: (byte)(0xB8 | ecn)), 8); // DSCP EF (46) beside the ECN bits: it must survive
        return packet;
    }

    private static byte[] V6(byte ecn)
    {
        var packet = new byte[40 + 8];
        Ipv6Header.Emit(packet, new Ipv6Header(NetAddress.Parse("fd00::1"), NetAddress.Parse("fd00::2"), IpProtocol.Udp,
            TrafficClass: (byte)(0xB8 | ecn)), 8);
        return packet;
    }

    private static (List<byte[]> Delivered, ImpairmentCounters Counters) Offer(bool marking, params byte[][] packets)
    {
        var scheduler = new TestScheduler();
        var (a, b) = PipeDevice.CreatePair(mtu: 65535);
        using var link = new ImpairedLink(a, scheduler, new ImpairmentOptions { Loss = 1, CongestionMarking = marking }, seed: 1);
        var delivered = new List<byte[]>();
        using var subscription = b.Received.Subscribe(f => delivered.Add(f.ToArray()));
        foreach (byte[] p in packets) link.Transmit.OnNext(p);
        scheduler.Start();
        return (delivered, link.OutboundCounters);
    }

    [Theory]
    [InlineData((byte)1)]
    [InlineData((byte)2)]
    public void An_ECN_capable_IPv4_packet_is_marked_CE_with_a_valid_checksum_instead_of_dropped(byte ect)
    {
        var (delivered, counters) = Offer(true, V4(ect));
        byte[] marked = Assert.Single(delivered);
        Assert.Equal(WireError.None, Ipv4Header.TryParse(marked, out Ipv4Header header, out _, out _)); // the checksum holds
        Assert.Equal(0xB8 | 3, header.TypeOfService);
        Assert.Equal((1L, 0L), (counters.Marked, counters.Lost));
        // Only the TOS byte and the checksum changed.
        byte[] original = V4(ect);
        Assert.Equal(original.Length, marked.Length);
        int[] changed = Enumerable.Range(0, original.Length).Where(i => original[i] != marked[i]).ToArray();
        Assert.Contains(1, changed);
        Assert.Subset(ChangedBytes, changed.ToHashSet());
    }

    [Fact]
    public void An_ECN_capable_IPv6_packet_is_marked_CE()
    {
        var (delivered, counters) = Offer(true, V6(2));
        byte[] marked = Assert.Single(delivered);
        Assert.Equal(WireError.None, Ipv6Header.TryParse(marked, out Ipv6Header header, out _, out _, out _));
        Assert.Equal(0xB8 | 3, header.TrafficClass);
        Assert.Equal(1, counters.Marked);
    }

    [Fact]
    public void Packets_that_are_not_ECN_capable_are_still_dropped()
    {
        // Not-ECT, already CE (a second mark is no news: it is lost like any other), and a frame that is not IP.
        var (delivered, counters) = Offer(true, V4(0), V6(0), V4(3), [0x45, 1, 2]);
        Assert.Empty(delivered);
        Assert.Equal((0L, 4L), (counters.Marked, counters.Lost));
    }

    [Fact]
    public void Without_marking_loss_drops_ECN_capable_packets_too()
    {
        var (delivered, counters) = Offer(false, V4(2), V6(1));
        Assert.Empty(delivered);
        Assert.Equal((0L, 2L), (counters.Marked, counters.Lost));
    }
}
