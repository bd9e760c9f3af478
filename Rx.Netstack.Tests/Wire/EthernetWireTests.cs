using System.Net;
using System.Net.NetworkInformation;
using PacketDotNet;
using PacketDotNet.Utils;
using Rx.Netstack.Wire;
using ArpOperation = Rx.Netstack.Wire.ArpOperation;
using ArpPacket = Rx.Netstack.Wire.ArpPacket;
using IcmpV6Type = Rx.Netstack.Wire.IcmpV6Type;

namespace Rx.Netstack.Tests.Wire;

/// <summary>Ethernet, ARP and NDP: round trips, an independent reader (PacketDotNet), and the parsers' rejections.</summary>
public sealed class EthernetWireTests
{
    private static readonly MacAddress A = MacAddress.Parse("02:00:00:00:00:0a"), B = MacAddress.Parse("02:00:00:00:00:0b");

    [Theory]
    [InlineData(null)]
    [InlineData(42)]
    public void Ethernet_header_round_trips_with_and_without_a_vlan_tag(int? vlan)
    {
        var header = new EthernetHeader(B, A, EtherType.Ipv6, vlan, Priority: (byte)(vlan is null ? 0 : 5));
        byte[] frame = new byte[header.Length + 3];
        Assert.Equal(header.Length, EthernetHeader.Emit(frame, header));
        frame[^1] = 9;
        Assert.Equal(WireError.None, EthernetHeader.TryParse(frame, out EthernetHeader parsed, out ReadOnlySpan<byte> payload));
        Assert.Equal(header, parsed);
        Assert.Equal(3, payload.Length);
        Assert.Equal(9, payload[2]);
    }

    [Fact]
    public void PacketDotNet_reads_our_arp_in_our_ethernet_frame()
    {
        var arp = new ArpPacket(ArpOperation.Reply, A, NetAddress.Parse("10.0.0.1"), B, NetAddress.Parse("10.0.0.2"));
        byte[] frame = new byte[EthernetHeader.HeaderLength + ArpPacket.PacketLength];
        EthernetHeader.Emit(frame, new EthernetHeader(B, A, EtherType.Arp));
        ArpPacket.Emit(frame.AsSpan(EthernetHeader.HeaderLength), arp);
        var theirs = new EthernetPacket(new ByteArraySegment(frame));
        Assert.Equal(EthernetType.Arp, theirs.Type);
        Assert.Equal(PhysicalAddress.Parse("02-00-00-00-00-0B"), theirs.DestinationHardwareAddress);
        var theirArp = Assert.IsType<PacketDotNet.ArpPacket>(theirs.PayloadPacket);
        Assert.Equal(PacketDotNet.ArpOperation.Response, theirArp.Operation);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), theirArp.SenderProtocolAddress);
        Assert.Equal(IPAddress.Parse("10.0.0.2"), theirArp.TargetProtocolAddress);
        Assert.Equal(PhysicalAddress.Parse("02-00-00-00-00-0A"), theirArp.SenderHardwareAddress);
        Assert.Equal(WireError.None, ArpPacket.TryParse(frame.AsSpan(EthernetHeader.HeaderLength), out ArpPacket back));
        Assert.Equal(arp, back);
    }

    [Fact]
    public void Ndp_messages_round_trip_with_their_options_and_a_valid_checksum()
    {
        NetAddress source = NetAddress.Parse("fe80::1"), destination = NetAddress.Parse("ff02::1");
        NdpMessage[] messages =
        [
            new(IcmpV6Type.NeighborSolicitation, NetAddress.Parse("fd00::2"), SourceLinkAddress: A),
            new(IcmpV6Type.NeighborAdvertisement, NetAddress.Parse("fd00::2"), TargetLinkAddress: B, Router: true, Override: true),
            new(IcmpV6Type.RouterSolicitation, NetAddress.AnyV6, SourceLinkAddress: A),
            new(IcmpV6Type.RouterAdvertisement, NetAddress.AnyV6, SourceLinkAddress: B, CurrentHopLimit: 64, Managed: true, RouterLifetime: 1800,
                ReachableTime: 30000, RetransmitTimer: 1000, Mtu: 1500),
        ];
        foreach (NdpMessage message in messages)
        {
            byte[] bytes = new byte[message.Length];
            Assert.Equal(bytes.Length, NdpMessage.Emit(bytes, message, source, destination));
            Assert.Equal(WireError.None, IcmpHeader.TryParseV6(bytes, source, destination, out _, out _));
            Assert.Equal(WireError.None, NdpMessage.TryParse(bytes, out NdpMessage parsed));
            Assert.Equal(message, parsed);
        }
        var prefix = new NdpPrefixInformation(NetAddress.Parse("2001:db8::"), 64, true, true, 86400, 14400);
        var ra = new NdpMessage(IcmpV6Type.RouterAdvertisement, NetAddress.AnyV6, Prefixes: [prefix]);
        byte[] raBytes = new byte[ra.Length];
        NdpMessage.Emit(raBytes, ra, source, destination);
        Assert.Equal(WireError.None, NdpMessage.TryParse(raBytes, out NdpMessage raParsed));
        Assert.Equal(prefix, Assert.Single(raParsed.Prefixes!));
    }

    [Fact]
    public void Parsers_reject_what_the_rfcs_reject()
    {
        // Ethernet: short, an 802.3 length field, a multicast source, a tag cut off.
        Assert.Equal(WireError.Truncated, EthernetHeader.TryParse(new byte[13], out _, out _));
        byte[] frame = new byte[EthernetHeader.HeaderLength];
        EthernetHeader.Emit(frame, new EthernetHeader(B, A, (EtherType)0x05DC));
        Assert.Equal(WireError.BadField, EthernetHeader.TryParse(frame, out _, out _));
        EthernetHeader.Emit(frame, new EthernetHeader(B, MacAddress.Broadcast, EtherType.Ipv4));
        Assert.Equal(WireError.BadField, EthernetHeader.TryParse(frame, out _, out _));
        EthernetHeader.Emit(frame, new EthernetHeader(B, A, EtherType.Vlan));
        Assert.Equal(WireError.Truncated, EthernetHeader.TryParse(frame, out _, out _));

        // ARP: not Ethernet/IPv4, an unknown operation, a broadcast sender.
        byte[] arp = new byte[ArpPacket.PacketLength];
        ArpPacket.Emit(arp, new ArpPacket(ArpOperation.Request, A, NetAddress.Parse("10.0.0.1"), default, NetAddress.Parse("10.0.0.2")));
        byte[] bad = (byte[])arp.Clone();
        bad[1] = 6; // hardware type 6 (IEEE 802)
        Assert.Equal(WireError.BadField, ArpPacket.TryParse(bad, out _));
        bad = (byte[])arp.Clone();
        bad[7] = 3;
        Assert.Equal(WireError.BadField, ArpPacket.TryParse(bad, out _));
        bad = (byte[])arp.Clone();
        NetAddress.Parse("255.255.255.255").WriteTo(bad.AsSpan(14));
        Assert.Equal(WireError.BadField, ArpPacket.TryParse(bad, out _));
        Assert.Equal(WireError.Truncated, ArpPacket.TryParse(arp.AsSpan(0, 27), out _));

        // NDP: a zero-length option (RFC 4861 §4.6), a multicast target, a non-zero code.
        var ns = new NdpMessage(IcmpV6Type.NeighborSolicitation, NetAddress.Parse("fd00::2"), SourceLinkAddress: A);
        byte[] message = new byte[ns.Length];
        NdpMessage.Emit(message, ns, NetAddress.Parse("fd00::1"), NetAddress.Parse("ff02::1:ff00:2"));
        bad = (byte[])message.Clone();
        bad[25] = 0;
        Assert.Equal(WireError.BadOption, NdpMessage.TryParse(bad, out _));
        bad = (byte[])message.Clone();
        NetAddress.Parse("ff02::1").WriteTo(bad.AsSpan(8));
        Assert.Equal(WireError.BadField, NdpMessage.TryParse(bad, out _));
        bad = (byte[])message.Clone();
        bad[1] = 1;
        Assert.Equal(WireError.BadField, NdpMessage.TryParse(bad, out _));
    }

    [Fact]
    public void Mac_addresses_parse_print_and_map_multicast_groups()
    {
        Assert.Equal("02:00:5e:10:00:01", MacAddress.Parse("02-00-5E-10-00-01").ToString());
        Assert.False(MacAddress.TryParse("02:00:5e:10:00", out _));
        Assert.False(MacAddress.TryParse("02:00:5e:10:00:zz", out _));
        Assert.Equal("01:00:5e:7f:00:01", MacAddress.ForMulticast(NetAddress.Parse("239.255.0.1")).ToString()); // low 23 bits (RFC 1112 §6.4)
        Assert.Equal("33:33:ff:00:00:02", MacAddress.ForMulticast(NetAddress.Parse("ff02::1:ff00:2")).ToString()); // RFC 2464 §7
        Assert.Throws<ArgumentException>(() => MacAddress.ForMulticast(NetAddress.Parse("10.0.0.1")));
        // RFC 4291 appendix A: 00-1b-21-aa-bb-cc → 021b:21ff:feaa:bbcc.
        Assert.Equal(0x021b_21ff_feaa_bbccUL, MacAddress.Parse("00:1b:21:aa:bb:cc").InterfaceIdentifier);
        Assert.True(MacAddress.Broadcast.IsMulticast && MacAddress.Broadcast.IsBroadcast);
        Assert.Equal(Route.Default(NetAddress.Parse("10.0.0.1")), Route.Parse("default via 10.0.0.1"));
        Assert.Equal(new Route(NetAddress.Parse("10.9.0.0"), 16, NetAddress.Parse("10.0.0.254")), Route.Parse("10.9.0.0/16 via 10.0.0.254"));
        Assert.Throws<FormatException>(() => Route.Parse("10.9.0.0/16 via fd00::1"));
    }
}
