using Rx.Netstack.Diagnostics;
using Rx.Netstack.Link;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>IPv6 neighbour discovery (RFC 4861), duplicate address detection and SLAAC (RFC 4862), as transcripts.</summary>
public sealed class NdpTests
{
    private static readonly NetAddress SolicitedOur6 = NetAddress.Parse("ff02::1:ff00:1");
    private static readonly NetAddress SolicitedPeer6 = NetAddress.Parse("ff02::1:ff00:2");
    private static readonly NetAddress RouterLinkLocal = NetAddress.Parse("fe80::1");
    private static readonly MacAddress RouterMac = MacAddress.Parse("02:00:00:00:00:fe");

    /// <summary>A rig with fd00::1/64 too (no link-local, no router discovery unless asked).</summary>
    private static EthernetRig V6Rig(Func<NetstackOptions, NetstackOptions>? more = null) =>
        new(o => (more ?? (x => x))(o with { Addresses = [new(EthernetRig.Our4, 24), new(EthernetRig.Our6, 64)] }));

    /// <summary>A rig past DAD, with nothing sent pending.</summary>
    private static EthernetRig ReadyV6Rig()
    {
        var rig = V6Rig();
        rig.At(1001);
        rig.TakeSent();
        return rig;
    }

    [Fact]
    public void A_new_address_is_tentative_until_one_dad_probe_went_unanswered_for_a_second()
    {
        using var rig = V6Rig();
        var frames = rig.TakeSent();
        var probe = EthernetRig.ParseNdp(Assert.Single(frames, f => f.Header.EtherType == EtherType.Ipv6));
        Assert.Equal(NetAddress.AnyV6, probe.Ip.Source); // RFC 4862 §5.4.2: from the unspecified address
        Assert.Equal(SolicitedOur6, probe.Ip.Destination);
        Assert.Equal(new NdpMessage(IcmpV6Type.NeighborSolicitation, EthernetRig.Our6), probe.Ndp); // no link-layer address
        Assert.Equal(MacAddress.Parse("33:33:ff:00:00:01"), Assert.Single(frames, f => f.Header.EtherType == EtherType.Ipv6).Header.Destination);

        // Tentative: not a source, and a ping to it is not answered.
        Assert.Throws<Commands.NetstackException>(() => rig.Scheduler.Await(rig.Stack.Ping(EthernetRig.Peer6)));
        rig.TakeSent();
        rig.At(1001);
        Assert.Empty(rig.TakeSent());
        rig.SendUdp(EthernetRig.Peer6); // now usable: the datagram waits for resolution of fd00::2
        var ns = EthernetRig.ParseNdp(Assert.Single(rig.TakeSent()));
        Assert.Equal(EthernetRig.Our6, ns.Ip.Source);
    }

    [Fact]
    public void An_advertisement_for_a_tentative_address_makes_it_a_duplicate_that_is_never_used()
    {
        using var rig = V6Rig();
        rig.TakeSent();
        rig.InjectNdp(EthernetRig.Our6, NetAddress.Parse("ff02::1"),
            new NdpMessage(IcmpV6Type.NeighborAdvertisement, EthernetRig.Our6, TargetLinkAddress: EthernetRig.PeerMac, Override: true), EthernetRig.PeerMac);
        rig.At(5000);
        Assert.Equal(1, rig.Stack.GetStats().AddressConflicts);
        // No usable source address: a typed error, and nothing sent.
        var error = Assert.Throws<Commands.NetstackException>(() => rig.SendUdp(EthernetRig.Peer6));
        Assert.Equal(Commands.BadRequestReason.Unaddressable, error.Error.Reason);
        Assert.Empty(rig.TakeSent());
    }

    [Fact]
    public void Another_node_probing_the_same_tentative_address_makes_it_a_duplicate()
    {
        using var rig = V6Rig();
        rig.TakeSent();
        rig.InjectNdp(NetAddress.AnyV6, SolicitedOur6, new NdpMessage(IcmpV6Type.NeighborSolicitation, EthernetRig.Our6), EthernetRig.PeerMac);
        rig.At(5000);
        Assert.Equal(1, rig.Stack.GetStats().AddressConflicts);
    }

    [Fact]
    public void A_probe_for_an_address_we_hold_is_answered_to_all_nodes()
    {
        using var rig = ReadyV6Rig();
        rig.InjectNdp(NetAddress.AnyV6, SolicitedOur6, new NdpMessage(IcmpV6Type.NeighborSolicitation, EthernetRig.Our6), EthernetRig.PeerMac);
        var (ip, na) = EthernetRig.ParseNdp(Assert.Single(rig.TakeSent()));
        Assert.Equal(NetAddress.Parse("ff02::1"), ip.Destination);
        Assert.Equal(new NdpMessage(IcmpV6Type.NeighborAdvertisement, EthernetRig.Our6, TargetLinkAddress: EthernetRig.OurMac, Override: true), na);
    }

    [Fact]
    public void A_solicitation_for_our_address_is_answered_solicited_to_the_sender_and_teaches_us_its_mac()
    {
        using var rig = ReadyV6Rig();
        rig.InjectNdp(EthernetRig.Peer6, SolicitedOur6, new NdpMessage(IcmpV6Type.NeighborSolicitation, EthernetRig.Our6, SourceLinkAddress: EthernetRig.PeerMac), EthernetRig.PeerMac);
        var frame = Assert.Single(rig.TakeSent());
        Assert.Equal(EthernetRig.PeerMac, frame.Header.Destination);
        var (ip, na) = EthernetRig.ParseNdp(frame);
        Assert.Equal((EthernetRig.Our6, EthernetRig.Peer6), (ip.Source, ip.Destination));
        Assert.Equal(new NdpMessage(IcmpV6Type.NeighborAdvertisement, EthernetRig.Our6, TargetLinkAddress: EthernetRig.OurMac, Solicited: true, Override: true), na);
        Assert.Equal(EthernetRig.PeerMac, rig.Neighbor(EthernetRig.Peer6)!.Value.LinkAddress);
    }

    [Fact]
    public void Resolution_sends_a_solicitation_to_the_solicited_node_group_and_the_advertisement_releases_the_queue()
    {
        using var rig = ReadyV6Rig();
        rig.SendUdp(EthernetRig.Peer6);
        var frame = Assert.Single(rig.TakeSent());
        Assert.Equal(MacAddress.Parse("33:33:ff:00:00:02"), frame.Header.Destination);
        var (ip, ns) = EthernetRig.ParseNdp(frame);
        Assert.Equal((EthernetRig.Our6, SolicitedPeer6), (ip.Source, ip.Destination));
        Assert.Equal(new NdpMessage(IcmpV6Type.NeighborSolicitation, EthernetRig.Peer6, SourceLinkAddress: EthernetRig.OurMac), ns);

        rig.InjectNdp(EthernetRig.Peer6, EthernetRig.Our6,
            new NdpMessage(IcmpV6Type.NeighborAdvertisement, EthernetRig.Peer6, TargetLinkAddress: EthernetRig.PeerMac, Solicited: true, Override: true), EthernetRig.PeerMac);
        var udp = Assert.Single(rig.TakeSent());
        Assert.Equal(new EthernetHeader(EthernetRig.PeerMac, EthernetRig.OurMac, EtherType.Ipv6), udp.Header);
        Assert.Equal(NeighborState.Reachable, rig.Neighbor(EthernetRig.Peer6)!.Value.State);
    }

    [Fact]
    public void An_unsolicited_advertisement_without_override_does_not_replace_a_known_mac()
    {
        using var rig = ReadyV6Rig();
        rig.SendUdp(EthernetRig.Peer6);
        rig.InjectNdp(EthernetRig.Peer6, EthernetRig.Our6,
            new NdpMessage(IcmpV6Type.NeighborAdvertisement, EthernetRig.Peer6, TargetLinkAddress: EthernetRig.PeerMac, Solicited: true, Override: true), EthernetRig.PeerMac);
        var other = MacAddress.Parse("02:00:00:00:00:66");
        rig.InjectNdp(EthernetRig.Peer6, NetAddress.Parse("ff02::1"),
            new NdpMessage(IcmpV6Type.NeighborAdvertisement, EthernetRig.Peer6, TargetLinkAddress: other), other);
        // RFC 4861 §7.2.5: REACHABLE becomes STALE, the cached address stays.
        Assert.Equal(new NeighborInfo(EthernetRig.Peer6, EthernetRig.PeerMac, NeighborState.Stale, false), rig.Neighbor(EthernetRig.Peer6));
    }

    [Fact]
    public void Stale_neighbours_are_probed_with_unicast_solicitations_after_the_delay()
    {
        using var rig = ReadyV6Rig();
        rig.SendUdp(EthernetRig.Peer6);
        rig.InjectNdp(EthernetRig.Peer6, EthernetRig.Our6,
            new NdpMessage(IcmpV6Type.NeighborAdvertisement, EthernetRig.Peer6, TargetLinkAddress: EthernetRig.PeerMac, Solicited: true, Override: true), EthernetRig.PeerMac);
        rig.TakeSent();
        rig.At(60_000);
        rig.SendUdp(EthernetRig.Peer6);
        rig.TakeSent();
        rig.At(60_000 + 5000 + 10);
        var frame = Assert.Single(rig.TakeSent());
        Assert.Equal(EthernetRig.PeerMac, frame.Header.Destination);
        var (ip, ns) = EthernetRig.ParseNdp(frame);
        Assert.Equal(EthernetRig.Peer6, ip.Destination); // unicast to the neighbour itself (RFC 4861 §7.3.3)
        Assert.Equal(EthernetRig.Peer6, ns.Target);
        Assert.Equal(NeighborState.Probe, rig.Neighbor(EthernetRig.Peer6)!.Value.State);
    }

    [Fact]
    public void Messages_with_a_hop_limit_below_255_or_bad_options_are_counted_and_ignored()
    {
        using var rig = ReadyV6Rig();
        rig.InjectNdp(EthernetRig.Peer6, SolicitedOur6, new NdpMessage(IcmpV6Type.NeighborSolicitation, EthernetRig.Our6, SourceLinkAddress: EthernetRig.PeerMac), EthernetRig.PeerMac, hopLimit: 254);
        // A DAD probe must not carry a link-layer address (RFC 4861 §7.1.1).
        rig.InjectNdp(NetAddress.AnyV6, SolicitedOur6, new NdpMessage(IcmpV6Type.NeighborSolicitation, EthernetRig.Our6, SourceLinkAddress: EthernetRig.PeerMac), EthernetRig.PeerMac);
        Assert.Empty(rig.TakeSent());
        Assert.Equal(2, rig.Drops(DropReason.NdpMalformed));
        Assert.Null(rig.Neighbor(EthernetRig.Peer6));
    }

    [Fact]
    public void A_router_advertisement_gives_a_default_router_and_a_slaac_address()
    {
        using var rig = new EthernetRig(o => o with { Ethernet = o.Ethernet with { Ipv6LinkLocal = true, RouterDiscovery = true } });
        MacAddress mac = EthernetRig.OurMac;
        var linkLocal = NetAddress.V6(0xFE80UL << 48, mac.InterfaceIdentifier);
        rig.TakeSent();
        rig.At(1001); // link-local DAD done: the first router solicitation goes
        var rsFrame = Assert.Single(rig.TakeSent());
        var (rsIp, rs) = EthernetRig.ParseNdp(rsFrame);
        Assert.Equal((linkLocal, NetAddress.Parse("ff02::2")), (rsIp.Source, rsIp.Destination));
        Assert.Equal(new NdpMessage(IcmpV6Type.RouterSolicitation, NetAddress.AnyV6, SourceLinkAddress: mac), rs);

        var prefix = new NdpPrefixInformation(NetAddress.Parse("2001:db8:1::"), 64, OnLink: true, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 14400);
        rig.InjectNdp(RouterLinkLocal, NetAddress.Parse("ff02::1"), new NdpMessage(IcmpV6Type.RouterAdvertisement, NetAddress.AnyV6,
            SourceLinkAddress: RouterMac, RouterLifetime: 1800, Prefixes: [prefix]), RouterMac);
        var slaac = NetAddress.V6(0x2001_0db8_0001_0000UL, mac.InterfaceIdentifier);
        Assert.Contains(new InterfaceAddress(slaac, 64), rig.Stack.Addresses);
        Assert.Equal(Route.Default(RouterLinkLocal), Assert.Single(rig.Stack.GetRoutes()));
        Assert.True(rig.Neighbor(RouterLinkLocal)!.Value.IsRouter);
        var dad = EthernetRig.ParseNdp(Assert.Single(rig.TakeSent())); // the SLAAC address goes through DAD
        Assert.Equal(slaac, dad.Ndp.Target);

        rig.At(rig.NowMs + 1001);
        rig.TakeSent();
        rig.SendUdp(NetAddress.Parse("2001:db8:99::5")); // off-link: to the router, whose MAC the advertisement gave
        var frame = Assert.Single(rig.TakeSent());
        Assert.Equal(RouterMac, frame.Header.Destination);
        Assert.Equal(WireError.None, Ipv6Header.TryParse(frame.Payload, out Ipv6Header ip, out _, out _, out _));
        Assert.Equal(slaac, ip.Source);

        rig.At(rig.NowMs + 1800_000 + 10); // the router lifetime ends
        Assert.Empty(rig.Stack.GetRoutes());
    }

    [Fact]
    public void Without_an_advertisement_three_router_solicitations_go_four_seconds_apart()
    {
        using var rig = new EthernetRig(o => o with { Ethernet = o.Ethernet with { Ipv6LinkLocal = true, RouterDiscovery = true } });
        rig.TakeSent();
        var times = new List<long>();
        for (int ms = 1; ms < 20_000; ms += 250)
        {
            rig.At(ms);
            foreach (var f in rig.TakeSent())
                if (EthernetRig.ParseNdp(f).Ndp.Type == IcmpV6Type.RouterSolicitation) times.Add((long)Math.Round(rig.NowMs / 250) * 250);
        }
        Assert.Equal([1000L, 5000L, 9000L], times); // after the 1 s DAD, then RTR_SOLICITATION_INTERVAL 4 s, MAX_RTR_SOLICITATIONS 3
    }
}
