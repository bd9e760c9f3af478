using Rx.Netstack.Diagnostics;
using Rx.Netstack.Link;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>ARP (RFC 826) and the neighbour cache's state machine on IPv4, as transcripts in virtual time.</summary>
public sealed class ArpTests
{
    [Fact]
    public void Attaching_announces_each_address_with_a_gratuitous_arp()
    {
        using var rig = new EthernetRig();
        var (header, arp) = rig.TakeArp();
        Assert.Equal(MacAddress.Broadcast, header.Destination);
        Assert.Equal(EthernetRig.OurMac, header.Source);
        Assert.Equal(new ArpPacket(ArpOperation.Request, EthernetRig.OurMac, EthernetRig.Our4, default, EthernetRig.Our4), arp);
        Assert.Equal(EthernetRig.OurMac, rig.Stack.MacAddress);
    }

    [Fact]
    public void A_packet_to_an_unknown_neighbour_waits_for_the_arp_reply_then_goes_to_its_mac()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.SendUdp(EthernetRig.Peer4);
        var (header, request) = rig.TakeArp(); // only the request: the datagram waits
        Assert.Equal(MacAddress.Broadcast, header.Destination);
        Assert.Equal(new ArpPacket(ArpOperation.Request, EthernetRig.OurMac, EthernetRig.Our4, default, EthernetRig.Peer4), request);
        Assert.Equal(NeighborState.Incomplete, rig.Neighbor(EthernetRig.Peer4)!.Value.State);

        rig.ReplyArp(EthernetRig.Peer4, EthernetRig.PeerMac);
        var (udpHeader, packet) = Assert.Single(rig.TakeSent());
        Assert.Equal(new EthernetHeader(EthernetRig.PeerMac, EthernetRig.OurMac, EtherType.Ipv4), udpHeader);
        Assert.Equal(WireError.None, Ipv4Header.TryParse(packet, out Ipv4Header ip, out _, out _));
        Assert.Equal(EthernetRig.Peer4, ip.Destination);
        Assert.Equal(new NeighborInfo(EthernetRig.Peer4, EthernetRig.PeerMac, NeighborState.Reachable, false), rig.Neighbor(EthernetRig.Peer4));

        // Resolved: the next datagram goes at once, with no ARP.
        rig.SendUdp(EthernetRig.Peer4);
        Assert.Equal(EtherType.Ipv4, Assert.Single(rig.TakeSent()).Header.EtherType);
        Assert.Equal(1, rig.Stack.GetStats().ArpIn);
    }

    [Fact]
    public void An_unanswered_request_is_retried_each_second_and_resolution_fails_after_three()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.SendUdp(EthernetRig.Peer4);
        rig.SendUdp(EthernetRig.Peer4);
        double start = rig.NowMs;
        rig.TakeArp();
        var transcript = new List<double>();
        for (int i = 1; i <= 4; i++)
        {
            rig.At(start + i * 1000 - 1);
            Assert.Empty(rig.TakeSent()); // nothing early
            rig.At(start + i * 1000 + 1);
            foreach (var _ in rig.TakeSent()) transcript.Add(i);
        }
        Assert.Equal([1.0, 2.0], transcript); // requests at 0, 1 s, 2 s (MAX_MULTICAST_SOLICIT 3); at 3 s it gives up
        Assert.Null(rig.Neighbor(EthernetRig.Peer4));
        Assert.Equal(2, rig.Drops(DropReason.NeighborUnreachable)); // the two datagrams that waited
    }

    [Fact]
    public void The_queue_of_a_resolving_neighbour_is_bounded_and_keeps_the_newest()
    {
        using var rig = new EthernetRig(o => o with { Ethernet = o.Ethernet with { PendingPacketsPerNeighbor = 3 } });
        rig.TakeSent();
        for (int size = 1; size <= 5; size++) rig.SendUdp(EthernetRig.Peer4, size);
        rig.TakeArp();
        Assert.Equal(2, rig.Drops(DropReason.NeighborQueueFull));
        rig.ReplyArp(EthernetRig.Peer4, EthernetRig.PeerMac);
        var sizes = rig.TakeSent().Select(f =>
        {
            Ipv4Header.TryParse(f.Payload, out _, out _, out ReadOnlySpan<byte> udp);
            return udp.Length - UdpHeader.HeaderLength;
        });
        Assert.Equal([3, 4, 5], sizes); // RFC 4861 §7.2.2: the new arrival replaces the oldest
    }

    [Fact]
    public void A_reachable_neighbour_goes_stale_then_delay_then_is_probed_by_unicast_and_confirmed()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.SendUdp(EthernetRig.Peer4);
        rig.ReplyArp(EthernetRig.Peer4, EthernetRig.PeerMac);
        rig.TakeSent();
        double resolved = rig.NowMs;
        rig.At(resolved + 30_000 - 1);
        Assert.Equal(NeighborState.Reachable, rig.Neighbor(EthernetRig.Peer4)!.Value.State);
        rig.At(resolved + 30_000 + 1);
        Assert.Equal(NeighborState.Stale, rig.Neighbor(EthernetRig.Peer4)!.Value.State); // REACHABLE_TIME 30 s

        rig.At(100_000); // stale sends nothing by itself
        Assert.Empty(rig.TakeSent());
        rig.SendUdp(EthernetRig.Peer4); // traffic to a stale neighbour goes at once, and starts the delay
        Assert.Equal(EtherType.Ipv4, Assert.Single(rig.TakeSent()).Header.EtherType);
        double sent = rig.NowMs;
        Assert.Equal(NeighborState.Delay, rig.Neighbor(EthernetRig.Peer4)!.Value.State);
        rig.At(sent + 5000 - 1);
        Assert.Empty(rig.TakeSent());
        rig.At(sent + 5000 + 1); // DELAY_FIRST_PROBE_TIME 5 s: a unicast probe to the cached MAC
        var (header, probe) = rig.TakeArp();
        Assert.Equal(EthernetRig.PeerMac, header.Destination);
        Assert.Equal(ArpOperation.Request, probe.Operation);
        Assert.Equal(NeighborState.Probe, rig.Neighbor(EthernetRig.Peer4)!.Value.State);
        rig.ReplyArp(EthernetRig.Peer4, EthernetRig.PeerMac);
        Assert.Equal(NeighborState.Reachable, rig.Neighbor(EthernetRig.Peer4)!.Value.State);
    }

    [Fact]
    public void A_neighbour_that_stops_answering_probes_is_removed()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.SendUdp(EthernetRig.Peer4);
        rig.ReplyArp(EthernetRig.Peer4, EthernetRig.PeerMac);
        rig.At(40_000);
        rig.SendUdp(EthernetRig.Peer4);
        rig.TakeSent();
        rig.At(40_000 + 5000 + 3 * 1000 + 10); // delay, then three unicast probes a second apart
        var probes = rig.TakeSent();
        Assert.Equal(3, probes.Count);
        Assert.All(probes, p => Assert.Equal(EthernetRig.PeerMac, p.Header.Destination));
        Assert.Null(rig.Neighbor(EthernetRig.Peer4));
    }

    [Fact]
    public void A_request_for_our_address_is_answered_and_teaches_us_the_sender()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.InjectArp(new ArpPacket(ArpOperation.Request, EthernetRig.PeerMac, EthernetRig.Peer4, default, EthernetRig.Our4));
        var (header, reply) = rig.TakeArp();
        Assert.Equal(EthernetRig.PeerMac, header.Destination);
        Assert.Equal(new ArpPacket(ArpOperation.Reply, EthernetRig.OurMac, EthernetRig.Our4, EthernetRig.PeerMac, EthernetRig.Peer4), reply);
        Assert.Equal(NeighborState.Stale, rig.Neighbor(EthernetRig.Peer4)!.Value.State);
        // Our first datagram then needs no request.
        rig.SendUdp(EthernetRig.Peer4);
        Assert.Equal(EtherType.Ipv4, Assert.Single(rig.TakeSent()).Header.EtherType);
    }

    [Fact]
    public void A_request_for_another_host_is_neither_answered_nor_learned()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.InjectArp(new ArpPacket(ArpOperation.Request, EthernetRig.PeerMac, EthernetRig.Peer4, default, NetAddress.Parse("10.0.0.3")));
        Assert.Empty(rig.TakeSent());
        Assert.Null(rig.Neighbor(EthernetRig.Peer4));
    }

    [Fact]
    public void Someone_else_claiming_our_address_is_counted_as_a_conflict()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.InjectArp(new ArpPacket(ArpOperation.Request, EthernetRig.PeerMac, EthernetRig.Our4, default, EthernetRig.Our4));
        Assert.Equal(1, rig.Stack.GetStats().AddressConflicts);
        Assert.Empty(rig.TakeSent());
    }

    [Fact]
    public void A_gratuitous_arp_with_a_new_mac_makes_the_entry_stale_with_it()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.SendUdp(EthernetRig.Peer4);
        rig.ReplyArp(EthernetRig.Peer4, EthernetRig.PeerMac);
        var moved = MacAddress.Parse("02:00:00:00:00:99");
        rig.InjectArp(new ArpPacket(ArpOperation.Request, moved, EthernetRig.Peer4, default, EthernetRig.Peer4));
        Assert.Equal(new NeighborInfo(EthernetRig.Peer4, moved, NeighborState.Stale, false), rig.Neighbor(EthernetRig.Peer4));
    }

    [Fact]
    public void Packets_off_the_subnet_go_to_the_gateway_of_the_default_route_and_without_one_are_dropped()
    {
        var gateway = NetAddress.Parse("10.0.0.254");
        using (var rig = new EthernetRig(o => o with { Routes = [Route.Default(gateway)] }))
        {
            rig.TakeSent();
            rig.SendUdp(NetAddress.Parse("192.0.2.7"));
            Assert.Equal(gateway, rig.TakeArp().Arp.TargetProtocol);
            Assert.Equal(Route.Default(gateway), Assert.Single(rig.Stack.GetRoutes()));
        }
        using (var rig = new EthernetRig())
        {
            rig.TakeSent();
            rig.SendUdp(NetAddress.Parse("192.0.2.7"));
            Assert.Empty(rig.TakeSent());
            Assert.Equal(1, rig.Drops(DropReason.NoRoute));
        }
    }

    [Fact]
    public void Broadcasts_go_to_the_broadcast_mac_without_resolution()
    {
        using var rig = new EthernetRig();
        rig.TakeSent();
        rig.SendUdp(NetAddress.Parse("255.255.255.255"));
        rig.SendUdp(NetAddress.Parse("10.0.0.255"));
        var frames = rig.TakeSent();
        Assert.Equal(2, frames.Count);
        Assert.All(frames, f => Assert.Equal((MacAddress.Broadcast, EtherType.Ipv4), (f.Header.Destination, f.Header.EtherType)));
    }

    [Fact]
    public void Frames_for_other_stations_other_vlans_or_unknown_types_are_counted_drops()
    {
        using var rig = new EthernetRig();
        var arp = new byte[ArpPacket.PacketLength];
        ArpPacket.Emit(arp, new ArpPacket(ArpOperation.Request, EthernetRig.PeerMac, EthernetRig.Peer4, default, EthernetRig.Our4));
        rig.Inject(new EthernetHeader(MacAddress.Parse("02:00:00:00:00:77"), EthernetRig.PeerMac, EtherType.Arp), arp);
        rig.Inject(new EthernetHeader(MacAddress.Broadcast, EthernetRig.PeerMac, EtherType.Arp, VlanId: 5), arp);
        rig.Inject(new EthernetHeader(MacAddress.Broadcast, EthernetRig.PeerMac, (EtherType)0x88CC), arp);
        rig.Inject(new EthernetHeader(MacAddress.Broadcast, EthernetRig.PeerMac, EtherType.Arp), arp.AsSpan(0, 20));
        rig.Device.Inject(new byte[10]);
        rig.Scheduler.AdvanceBy(1);
        Assert.Equal(1, rig.Drops(DropReason.EthernetNotForUs));
        Assert.Equal(1, rig.Drops(DropReason.EthernetOtherVlan));
        Assert.Equal(1, rig.Drops(DropReason.UnknownEtherType));
        Assert.Equal(1, rig.Drops(DropReason.ArpMalformed));
        Assert.Equal(1, rig.Drops(DropReason.EthernetMalformed));
        Assert.Null(rig.Neighbor(EthernetRig.Peer4));
    }

    [Fact]
    public void On_a_vlan_frames_are_tagged_and_only_tagged_frames_are_taken()
    {
        using var rig = new EthernetRig(o => o with { Ethernet = o.Ethernet with { VlanId = 42 } });
        var (header, _) = rig.TakeArp();
        Assert.Equal(42, header.VlanId);
        var arp = new byte[ArpPacket.PacketLength];
        ArpPacket.Emit(arp, new ArpPacket(ArpOperation.Request, EthernetRig.PeerMac, EthernetRig.Peer4, default, EthernetRig.Our4));
        rig.Inject(new EthernetHeader(MacAddress.Broadcast, EthernetRig.PeerMac, EtherType.Arp), arp);
        Assert.Empty(rig.TakeSent());
        rig.Inject(new EthernetHeader(MacAddress.Broadcast, EthernetRig.PeerMac, EtherType.Arp, VlanId: 42), arp);
        Assert.Equal(42, rig.TakeArp().Header.VlanId);
    }

    [Fact]
    public void Retransmission_timing_follows_the_settings()
    {
        using var rig = new EthernetRig(o => o with { Ethernet = o.Ethernet with { RetransmitTime = TimeSpan.FromMilliseconds(250), MaxMulticastSolicit = 2 } });
        rig.TakeSent();
        rig.SendUdp(EthernetRig.Peer4);
        double start = rig.NowMs;
        rig.TakeArp();
        rig.At(start + 251);
        rig.TakeArp();
        rig.At(start + 501);
        Assert.Empty(rig.TakeSent());
        Assert.Null(rig.Neighbor(EthernetRig.Peer4));
    }
}
