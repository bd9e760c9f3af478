using Rx.Netstack.Link;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>The DHCPv4 client (RFC 2131) against a server the test plays, in virtual time: discover, offer, request, ack,
/// renewal at T1, rebinding at T2, expiry.</summary>
public sealed class DhcpTests
{
    private static readonly NetAddress Server = NetAddress.Parse("10.0.0.1"), Leased = NetAddress.Parse("10.0.0.50");
    private static readonly NetAddress Broadcast = NetAddress.Parse("255.255.255.255");
    private static readonly MacAddress ServerMac = MacAddress.Parse("02:00:00:00:00:53");

    private static EthernetRig DhcpRig() =>
        new(o => o with { Addresses = [], Ethernet = o.Ethernet with { Dhcp = true } });

    /// <summary>The DHCP messages among the frames sent since the last call, with their IP and UDP headers.</summary>
    private static List<(Ipv4Header Ip, MacAddress To, DhcpMessage Dhcp)> TakeDhcp(EthernetRig rig) =>
        [.. rig.TakeSent().Where(f => f.Header.EtherType == EtherType.Ipv4).Select(f =>
        {
            Assert.Equal(WireError.None, Ipv4Header.TryParse(f.Payload, out Ipv4Header ip, out _, out ReadOnlySpan<byte> udp));
            Assert.Equal(WireError.None, UdpHeader.TryParse(udp, ip.Source, ip.Destination, out UdpHeader ports, out ReadOnlySpan<byte> payload));
            Assert.Equal(new UdpHeader(68, 67), ports);
            Assert.Equal(WireError.None, DhcpMessage.TryParse(payload, out DhcpMessage dhcp));
            return (ip, f.Header.Destination, dhcp);
        })];

    private static void Reply(EthernetRig rig, DhcpMessage message)
    {
        byte[] packet = new byte[Ipv4Header.HeaderLength + UdpHeader.HeaderLength + message.Length];
        int length = DhcpMessage.Emit(packet.AsSpan(Ipv4Header.HeaderLength + UdpHeader.HeaderLength), message);
        int udp = UdpHeader.Emit(packet.AsSpan(Ipv4Header.HeaderLength), new UdpHeader(67, 68), length, Server, Broadcast);
        Ipv4Header.Emit(packet, new Ipv4Header(Server, Broadcast, IpProtocol.Udp), udp);
        rig.Inject(new EthernetHeader(MacAddress.Broadcast, ServerMac, EtherType.Ipv4), packet);
    }

    private static DhcpMessage Ack(uint xid, uint lease = 100) => new(DhcpMessageType.Ack, xid, EthernetRig.OurMac, Reply: true,
        YourAddress: Leased, ServerIdentifier: Server, SubnetMaskLength: 24, Router: Server, DnsServers: [NetAddress.Parse("10.0.0.53")], LeaseTime: lease);

    [Fact]
    public void The_client_discovers_requests_binds_renews_rebinds_and_loses_the_lease_on_the_clock()
    {
        using var rig = DhcpRig();
        var events = new List<DhcpLeaseEvent>();
        using var subscription = rig.Stack.DhcpLeases.Subscribe(events.Add);

        // DISCOVER at once, broadcast from 0.0.0.0, retransmitted after 4 s then 8 s (RFC 2131 §4.1).
        var discover = Assert.Single(TakeDhcp(rig));
        Assert.Equal((NetAddress.AnyV4, Broadcast, MacAddress.Broadcast), (discover.Ip.Source, discover.Ip.Destination, discover.To));
        Assert.Equal(DhcpMessageType.Discover, discover.Dhcp.Type);
        Assert.True(discover.Dhcp.Broadcast);
        uint xid = discover.Dhcp.TransactionId;
        rig.At(3999);
        Assert.Empty(TakeDhcp(rig));
        rig.At(4001);
        Assert.Equal(DhcpMessageType.Discover, Assert.Single(TakeDhcp(rig)).Dhcp.Type);
        rig.At(12_001);
        Assert.Single(TakeDhcp(rig));

        // An offer for another exchange is ignored; ours is requested by broadcast with the server's identifier.
        Reply(rig, new DhcpMessage(DhcpMessageType.Offer, xid + 1, EthernetRig.OurMac, Reply: true, YourAddress: Leased, ServerIdentifier: Server));
        Assert.Empty(TakeDhcp(rig));
        Reply(rig, new DhcpMessage(DhcpMessageType.Offer, xid, EthernetRig.OurMac, Reply: true, YourAddress: Leased, ServerIdentifier: Server));
        var request = Assert.Single(TakeDhcp(rig)).Dhcp;
        Assert.Equal((DhcpMessageType.Request, Leased, Server), (request.Type, request.RequestedAddress, request.ServerIdentifier));

        // ACK: the address is probed (RFC 5227 §2.1.1: from 0.0.0.0), then, unclaimed after 1 s, the address, prefix and
        // default route are applied and published.
        Reply(rig, Ack(xid));
        var probe = rig.TakeArp().Arp;
        Assert.Equal((NetAddress.AnyV4, Leased), (probe.SenderProtocol, probe.TargetProtocol));
        Assert.Empty(events);
        Assert.DoesNotContain(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        rig.At(rig.NowMs + 1000);
        double bound = rig.NowMs;
        Assert.Contains(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        Assert.Equal(Route.Default(Server), Assert.Single(rig.Stack.GetRoutes()));
        var first = Assert.Single(events);
        Assert.Equal(DhcpLeaseChange.Bound, first.Change);
        Assert.Equal([NetAddress.Parse("10.0.0.53")], first.Lease.DnsServers);
        Assert.Equal(TimeSpan.FromSeconds(100), first.Lease.LeaseTime);
        rig.TakeSent(); // the gratuitous ARP announcing the new address

        // T1 = 50 s: a unicast REQUEST to the server (after resolving it), ciaddr set, no server identifier (§4.3.2).
        rig.At(bound + 50_000 - 1);
        Assert.Empty(rig.TakeSent());
        rig.At(bound + 50_000 + 1);
        Assert.Equal(Server, rig.TakeArp().Arp.TargetProtocol);
        rig.ReplyArp(Server, ServerMac);
        var renew = Assert.Single(TakeDhcp(rig));
        Assert.Equal((Leased, Server, ServerMac), (renew.Ip.Source, renew.Ip.Destination, renew.To));
        Assert.Equal((Leased, NetAddress.AnyV4), (renew.Dhcp.ClientAddress, renew.Dhcp.ServerIdentifier));
        Reply(rig, Ack(renew.Dhcp.TransactionId));
        double renewed = rig.NowMs;
        Assert.Equal(DhcpLeaseChange.Renewed, events[^1].Change);

        // Nobody answers any more: renewing at T1, rebinding by broadcast at T2 = 87.5 s, lost at 100 s, then discovering again.
        rig.At(renewed + 50_000 + 1);
        Assert.All(TakeDhcp(rig), m => Assert.Equal(Server, m.Ip.Destination));
        rig.At(renewed + 87_500 + 1);
        var rebind = Assert.Single(TakeDhcp(rig));
        Assert.Equal((Leased, Broadcast), (rebind.Ip.Source, rebind.Ip.Destination));
        Assert.Contains(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        rig.At(renewed + 100_000 + 1);
        Assert.Equal(DhcpLeaseChange.Lost, events[^1].Change);
        Assert.DoesNotContain(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        Assert.Empty(rig.Stack.GetRoutes());
        Assert.Contains(TakeDhcp(rig), m => m.Dhcp.Type == DhcpMessageType.Discover);
        Assert.Null(rig.Stack.DhcpLease);
    }

    [Fact]
    public void A_nak_while_requesting_starts_over_with_a_discover()
    {
        using var rig = DhcpRig();
        uint xid = Assert.Single(TakeDhcp(rig)).Dhcp.TransactionId;
        Reply(rig, new DhcpMessage(DhcpMessageType.Offer, xid, EthernetRig.OurMac, Reply: true, YourAddress: Leased, ServerIdentifier: Server));
        TakeDhcp(rig);
        Reply(rig, new DhcpMessage(DhcpMessageType.Nak, xid, EthernetRig.OurMac, Reply: true, ServerIdentifier: Server));
        rig.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(DhcpMessageType.Discover, Assert.Single(TakeDhcp(rig)).Dhcp.Type);
        Assert.Empty(rig.Stack.Addresses);
    }

    /// <summary>Offer and ACK for the first DISCOVER: the stack is bound to <see cref="Leased"/>.</summary>
    private static void Bind(EthernetRig rig)
    {
        uint xid = Assert.Single(TakeDhcp(rig)).Dhcp.TransactionId;
        Reply(rig, new DhcpMessage(DhcpMessageType.Offer, xid, EthernetRig.OurMac, Reply: true, YourAddress: Leased, ServerIdentifier: Server));
        Reply(rig, Ack(xid));
        rig.At(rig.NowMs + 1000); // past the ARP probe of the address
        Assert.Contains(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        rig.TakeSent();
    }

    [Fact]
    public void Disposing_the_stack_releases_the_lease_to_its_server()
    {
        using var rig = DhcpRig();
        var events = new List<DhcpLeaseEvent>();
        using var subscription = rig.Stack.DhcpLeases.Subscribe(events.Add);
        Bind(rig);
        rig.Stack.Dispose();
        // RFC 2131 §4.4.6: DHCPRELEASE, unicast to the server from the leased address, ciaddr and server identifier set.
        var release = Assert.Single(TakeDhcp(rig));
        Assert.Equal(DhcpMessageType.Release, release.Dhcp.Type);
        Assert.Equal((Leased, Server), (release.Ip.Source, release.Ip.Destination));
        Assert.Equal((Leased, Server, NetAddress.AnyV4), (release.Dhcp.ClientAddress, release.Dhcp.ServerIdentifier, release.Dhcp.RequestedAddress));
        Assert.Equal(MacAddress.Broadcast, release.To); // the server's MAC was never resolved, and there is no later to resolve it
        Assert.Equal([DhcpLeaseChange.Bound, DhcpLeaseChange.Released], events.Select(e => e.Change));
    }

    [Fact]
    public void A_release_goes_to_the_servers_mac_when_it_is_known_and_nothing_is_released_without_a_lease()
    {
        using (var rig = DhcpRig())
        {
            Bind(rig);
            rig.InjectArp(new ArpPacket(ArpOperation.Request, ServerMac, Server, default, Leased)); // the server asks for us: learned
            rig.TakeSent();
            rig.Stack.Dispose();
            var release = Assert.Single(TakeDhcp(rig));
            Assert.Equal((DhcpMessageType.Release, ServerMac), (release.Dhcp.Type, release.To));
        }
        using (var rig = DhcpRig())
        {
            rig.TakeSent(); // the DISCOVER
            rig.Stack.Dispose();
            Assert.Empty(TakeDhcp(rig));
        }
    }

    [Fact]
    public void Without_configured_dns_servers_the_name_resolver_asks_those_of_the_lease()
    {
        using var rig = DhcpRig();
        Assert.Null(rig.Stack.NameResolver);
        Bind(rig);
        var resolver = Assert.IsType<Rx.Netstack.Sockets.DnsNameResolver>(rig.Stack.NameResolver);
        Assert.Equal([new NetEndpoint(NetAddress.Parse("10.0.0.53"), 53)], resolver.Servers);
        Assert.Same(resolver, rig.Stack.NameResolver);
        _ = resolver.ResolveAsync("printer.lan").AsTask();
        rig.At(rig.NowMs + 1);
        var arp = rig.TakeArp(); // the query goes to the lease's server (on the link: resolved first)
        Assert.Equal(NetAddress.Parse("10.0.0.53"), arp.Arp.TargetProtocol);
    }

    [Fact]
    public void After_the_device_comes_back_the_client_asks_for_its_previous_address_first()
    {
        using var rig = DhcpRig();
        Bind(rig);
        rig.Attach(); // the device is replaced: the lease goes with the old one, the address is remembered
        Assert.DoesNotContain(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        // INIT-REBOOT (RFC 2131 §4.4.2): a broadcast REQUEST for the previous address, no server identifier, no ciaddr.
        var request = Assert.Single(TakeDhcp(rig));
        Assert.Equal((DhcpMessageType.Request, Leased, NetAddress.AnyV4, NetAddress.AnyV4, Broadcast),
            (request.Dhcp.Type, request.Dhcp.RequestedAddress, request.Dhcp.ServerIdentifier, request.Dhcp.ClientAddress, request.Ip.Destination));
        Reply(rig, Ack(request.Dhcp.TransactionId));
        Assert.Contains(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        Assert.Equal(Leased, rig.Stack.DhcpLease?.Address.Address);
    }

    [Fact]
    public void A_previous_address_from_the_settings_is_asked_for_and_a_nak_or_silence_leads_to_discovery()
    {
        NetAddress previous = NetAddress.Parse("10.0.0.77");
        EthernetRig Rebooting() => new(o => o with { Addresses = [], Ethernet = o.Ethernet with { Dhcp = true, DhcpPreviousAddress = previous } });
        using (var rig = Rebooting())
        {
            var request = Assert.Single(TakeDhcp(rig)).Dhcp;
            Assert.Equal((DhcpMessageType.Request, previous), (request.Type, request.RequestedAddress));
            Reply(rig, new DhcpMessage(DhcpMessageType.Nak, request.TransactionId, EthernetRig.OurMac, Reply: true, ServerIdentifier: Server));
            Assert.Equal(DhcpMessageType.Discover, Assert.Single(TakeDhcp(rig)).Dhcp.Type);
        }
        using (var rig = Rebooting())
        {
            Assert.Equal(DhcpMessageType.Request, Assert.Single(TakeDhcp(rig)).Dhcp.Type);
            rig.At(4001);
            Assert.Equal(DhcpMessageType.Request, Assert.Single(TakeDhcp(rig)).Dhcp.Type); // retransmitted after 4 s
            rig.At(12_001);
            Assert.Equal(DhcpMessageType.Discover, Assert.Single(TakeDhcp(rig)).Dhcp.Type); // unanswered twice: discover
        }
        Assert.Throws<ArgumentException>(() => new Netstack(new NetstackOptions
        {
            Ethernet = new EthernetSettings { Dhcp = true, DhcpPreviousAddress = NetAddress.Parse("fd00::1") },
        }));
    }

    [Theory]
    [InlineData(false)] // another host uses the address: it answers our probe
    [InlineData(true)]  // another host probes for the same address at the same time (RFC 5227 §2.1.1)
    public void An_acknowledged_address_in_use_is_declined_and_discovery_starts_again_after_ten_seconds(bool otherProbe)
    {
        using var rig = DhcpRig();
        var events = new List<DhcpLeaseEvent>();
        using var subscription = rig.Stack.DhcpLeases.Subscribe(events.Add);
        uint xid = Assert.Single(TakeDhcp(rig)).Dhcp.TransactionId;
        Reply(rig, new DhcpMessage(DhcpMessageType.Offer, xid, EthernetRig.OurMac, Reply: true, YourAddress: Leased, ServerIdentifier: Server));
        Assert.Equal(DhcpMessageType.Request, Assert.Single(TakeDhcp(rig)).Dhcp.Type);
        Reply(rig, Ack(xid));
        Assert.Equal(Leased, rig.TakeArp().Arp.TargetProtocol);
        var squatter = MacAddress.Parse("02:00:00:00:00:99");
        rig.InjectArp(otherProbe
            ? new ArpPacket(ArpOperation.Request, squatter, NetAddress.AnyV4, default, Leased)
            : new ArpPacket(ArpOperation.Reply, squatter, Leased, EthernetRig.OurMac, NetAddress.AnyV4), otherProbe ? null : EthernetRig.OurMac);
        var decline = Assert.Single(TakeDhcp(rig));
        Assert.Equal((DhcpMessageType.Decline, Leased, Server, Broadcast), (decline.Dhcp.Type, decline.Dhcp.RequestedAddress, decline.Dhcp.ServerIdentifier, decline.Ip.Destination));
        Assert.Equal(1, rig.Stack.GetStats().AddressConflicts);
        double declined = rig.NowMs;
        rig.At(declined + 9_999);
        Assert.Empty(TakeDhcp(rig));
        Assert.DoesNotContain(new InterfaceAddress(Leased, 24), rig.Stack.Addresses);
        rig.At(declined + 10_001);
        Assert.Equal(DhcpMessageType.Discover, Assert.Single(TakeDhcp(rig)).Dhcp.Type);
        Assert.Empty(events);
    }
}
