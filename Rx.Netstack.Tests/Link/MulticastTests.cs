using System.Buffers.Binary;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Link;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>
/// Multicast on one stack under virtual time, the test playing the LAN (querier, senders): joins and leaves as IGMPv3 / MLDv2
/// state-change reports and their repetitions, queries answered after a random delay within Max Resp Time, the fall back to
/// IGMPv2 when a v2 querier is heard, per-socket delivery, and what a multicast send looks like on the wire.
/// </summary>
public sealed class MulticastTests
{
    private static readonly NetAddress Group = NetAddress.Parse("239.1.2.3"), Other = NetAddress.Parse("239.9.9.9");
    private static readonly NetAddress Group6 = NetAddress.Parse("ff05::1:3");
    private static readonly NetAddress Querier = NetAddress.Parse("10.0.0.254"), Querier6 = NetAddress.Parse("fe80::fe");
    private static readonly MacAddress QuerierMac = MacAddress.Parse("02:00:00:00:00:fe");

    private static EthernetRig Rig()
    {
        var rig = new EthernetRig();
        rig.TakeSent(); // the gratuitous ARP of the address
        return rig;
    }

    /// <summary>An IPv6 rig with a link-local address and no DAD (MLD reports come from the link-local address).</summary>
    private static EthernetRig Rig6()
    {
        var rig = new EthernetRig(o => o with
        {
            Addresses = [new(EthernetRig.Our6, 64)],
            Ethernet = o.Ethernet with { Ipv6LinkLocal = true, DupAddrDetectTransmits = 0 },
        });
        rig.TakeSent();
        return rig;
    }

    private static UdpSocket Bind(EthernetRig rig, NetEndpoint local) => rig.Scheduler.Await(UdpSocket.BindAsync(rig.Stack, local));

    private static UdpSocket Joined(EthernetRig rig, NetAddress group, ushort port = 5000)
    {
        UdpSocket socket = Bind(rig, new NetEndpoint(group.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, port));
        rig.Scheduler.Await(socket.JoinGroupAsync(group));
        return socket;
    }

    /// <summary>An IGMP frame the stack sent: TTL 1, the Router Alert option, to the MAC its destination maps to.</summary>
    private static (Ipv4Header Ip, byte[] Igmp) ParseIgmp((EthernetHeader Header, byte[] Payload) frame)
    {
        Assert.Equal(EtherType.Ipv4, frame.Header.EtherType);
        Assert.Equal(WireError.None, Ipv4Header.TryParse(frame.Payload, out Ipv4Header ip, out int headerLength, out ReadOnlySpan<byte> igmp));
        Assert.Equal(IpProtocol.Igmp, ip.Protocol);
        Assert.Equal(1, ip.TimeToLive);
        Assert.Equal(24, headerLength);
        Assert.Equal(new byte[] { 0x94, 4, 0, 0 }, frame.Payload[20..24]); // RFC 2113 Router Alert
        Assert.Equal(MacAddress.ForMulticast(ip.Destination), frame.Header.Destination);
        Assert.True(Checksum.Verify(igmp));
        return (ip, igmp.ToArray());
    }

    /// <summary>The group records of an IGMPv3 report to 224.0.0.22: (record type, group) each.</summary>
    private static List<(int Type, NetAddress Group)> V3Records((EthernetHeader, byte[]) frame)
    {
        var (ip, igmp) = ParseIgmp(frame);
        Assert.Equal(NetAddress.Parse("224.0.0.22"), ip.Destination);
        Assert.Equal(EthernetRig.Our4, ip.Source);
        Assert.Equal((byte)IgmpType.V3Report, igmp[0]);
        int count = BinaryPrimitives.ReadUInt16BigEndian(igmp.AsSpan(6));
        Assert.Equal(8 + 8 * count, igmp.Length);
        return [.. Enumerable.Range(0, count).Select(i => ((int)igmp[8 + 8 * i], NetAddress.ReadV4(igmp.AsSpan(12 + 8 * i))))];
    }

    /// <summary>A membership query from the querier: 8 bytes (v1/v2) or 12 (v3), Max Resp code <paramref name="code"/>.</summary>
    private static void InjectQuery(EthernetRig rig, NetAddress group, byte code, bool v3 = true, NetAddress? destination = null, bool corrupt = false)
    {
        byte[] igmp = new byte[v3 ? 12 : 8];
        igmp[0] = (byte)IgmpType.MembershipQuery;
        igmp[1] = code;
        group.WriteTo(igmp.AsSpan(4));
        BinaryPrimitives.WriteUInt16BigEndian(igmp.AsSpan(2), Checksum.Compute(igmp));
        if (corrupt) igmp[5] ^= 1;
        NetAddress to = destination ?? (group.IsUnspecified ? NetAddress.Parse("224.0.0.1") : group);
        rig.Inject(new EthernetHeader(MacAddress.ForMulticast(to), QuerierMac, EtherType.Ipv4), Forge.Ip(Querier, to, IpProtocol.Igmp, igmp));
    }

    [Fact]
    public void Joining_sends_an_igmpv3_report_at_once_and_one_repetition_within_the_unsolicited_report_interval()
    {
        using var rig = Rig();
        UdpSocket socket = Joined(rig, Group);
        Assert.Equal([(4, Group)], V3Records(Assert.Single(rig.TakeSent()))); // CHANGE_TO_EXCLUDE_MODE {}: joined
        Assert.Equal([Group], rig.Stack.GetMulticastGroups());

        rig.At(rig.NowMs + 1000); // Robustness 2: one more, at a random time within 1 s (RFC 3376 §5.1, §8.11)
        Assert.Equal([(4, Group)], V3Records(Assert.Single(rig.TakeSent())));
        rig.At(rig.NowMs + 60_000);
        Assert.Empty(rig.TakeSent());
        Assert.Equal(2, rig.Stack.GetStats().MembershipOut);
        GC.KeepAlive(socket);
    }

    [Fact]
    public void Two_sockets_on_one_group_are_one_membership_and_the_last_to_close_leaves()
    {
        using var rig = Rig();
        UdpSocket first = Joined(rig, Group, 5000);
        UdpSocket second = Joined(rig, Group, 5001);
        rig.At(rig.NowMs + 2000);
        Assert.Equal(2, rig.TakeSent().Count); // the first join's report and its repetition; the second join sent nothing
        Assert.Equal([Group], rig.Stack.GetMulticastGroups());

        rig.Scheduler.Await(first.DisposeAsync().AsTask());
        rig.At(rig.NowMs + 2000);
        Assert.Empty(rig.TakeSent());
        Assert.Equal([Group], rig.Stack.GetMulticastGroups());

        rig.Scheduler.Await(second.DisposeAsync().AsTask()); // closing leaves: CHANGE_TO_INCLUDE_MODE {}, repeated
        Assert.Equal([(3, Group)], V3Records(Assert.Single(rig.TakeSent())));
        Assert.Empty(rig.Stack.GetMulticastGroups());
        rig.At(rig.NowMs + 1000);
        Assert.Equal([(3, Group)], V3Records(Assert.Single(rig.TakeSent())));
        rig.At(rig.NowMs + 60_000);
        Assert.Empty(rig.TakeSent());
    }

    [Fact]
    public void A_general_query_is_answered_with_one_report_of_every_group_after_a_random_delay_within_max_resp_time()
    {
        using var rig = Rig();
        UdpSocket a = Joined(rig, Group), b = Joined(rig, Other, 5001);
        rig.At(rig.NowMs + 2000);
        rig.TakeSent();

        double queried = rig.NowMs;
        InjectQuery(rig, NetAddress.AnyV4, code: 100); // Max Resp Time 10 s
        Assert.Empty(rig.TakeSent());
        double answered = -1;
        for (int ms = 100; ms <= 10_000 && answered < 0; ms += 100)
        {
            rig.At(queried + ms);
            if (rig.TakeSent() is [var frame])
            {
                Assert.Equal([(2, Group), (2, Other)], V3Records(frame).OrderBy(r => r.Group)); // MODE_IS_EXCLUDE {}
                answered = rig.NowMs;
            }
        }
        Assert.InRange(answered - queried, 0, 10_000);
        rig.At(queried + 30_000);
        Assert.Empty(rig.TakeSent());

        InjectQuery(rig, Group, code: 10); // group-specific, 1 s: that group only
        rig.At(rig.NowMs + 1000);
        Assert.Equal([(2, Group)], V3Records(Assert.Single(rig.TakeSent())));
        InjectQuery(rig, NetAddress.Parse("239.7.7.7"), code: 10); // a group we are not in: not even taken in (RFC 3376 §5.2)
        rig.At(rig.NowMs + 5000);
        Assert.Empty(rig.TakeSent());
        Assert.Equal(2, rig.Stack.GetStats().MembershipIn);
        Assert.Equal(1, rig.Drops(DropReason.MulticastNotJoined));
        GC.KeepAlive((a, b));
    }

    [Fact]
    public void An_igmpv2_querier_turns_reports_into_igmpv2_and_leaving_sends_a_leave_to_all_routers()
    {
        using var rig = Rig();
        UdpSocket socket = Joined(rig, Group);
        rig.TakeSent(); // the v3 report; its repetition is cancelled by the change of version (RFC 3376 §7.2.1)
        InjectQuery(rig, NetAddress.AnyV4, code: 20, v3: false); // IGMPv2 general query, 2 s
        rig.At(rig.NowMs + 2000);
        var (ip, igmp) = ParseIgmp(Assert.Single(rig.TakeSent()));
        Assert.Equal(((byte)IgmpType.V2Report, Group, Group), (igmp[0], ip.Destination, NetAddress.ReadV4(igmp.AsSpan(4))));

        rig.Scheduler.Await(socket.LeaveGroupAsync(Group));
        (ip, igmp) = ParseIgmp(Assert.Single(rig.TakeSent()));
        Assert.Equal(((byte)IgmpType.LeaveGroup, NetAddress.Parse("224.0.0.2"), Group), (igmp[0], ip.Destination, NetAddress.ReadV4(igmp.AsSpan(4))));
        rig.At(rig.NowMs + 20_000);
        Assert.Empty(rig.TakeSent());

        // 260 s after the last v2 query (RFC 3376 §8.12) the stack speaks IGMPv3 again.
        rig.At(rig.NowMs + 260_000);
        rig.Scheduler.Await(socket.JoinGroupAsync(Group));
        Assert.Equal([(4, Group)], V3Records(rig.TakeSent()[0]));
    }

    [Fact]
    public void Malformed_igmp_and_queries_to_the_wrong_address_are_counted_drops()
    {
        using var rig = Rig();
        UdpSocket socket = Joined(rig, Group);
        rig.At(rig.NowMs + 2000);
        rig.TakeSent();
        InjectQuery(rig, NetAddress.AnyV4, code: 10, corrupt: true); // bad checksum
        InjectQuery(rig, NetAddress.AnyV4, code: 10, destination: Group); // a general query must go to 224.0.0.1
        rig.Inject(new EthernetHeader(MacAddress.ForMulticast(Group), QuerierMac, EtherType.Ipv4), Forge.Ip(Querier, Group, IpProtocol.Igmp, new byte[5]));
        rig.At(rig.NowMs + 5000);
        Assert.Empty(rig.TakeSent());
        Assert.Equal(3, rig.Drops(DropReason.IgmpMalformed));
        GC.KeepAlive(socket);
    }

    [Fact]
    public void Datagrams_to_a_group_reach_the_sockets_that_joined_it_and_others_are_counted_drops()
    {
        using var rig = Rig();
        UdpSocket joined = Joined(rig, Group, 5000);
        UdpSocket onGroup = Bind(rig, new NetEndpoint(Group, 5001)); // bound to the group's address: joins too
        rig.Scheduler.Await(onGroup.JoinGroupAsync(Group));
        UdpSocket notJoined = Bind(rig, new NetEndpoint(NetAddress.AnyV4, 5002));
        void Send(NetAddress to, ushort port, string text) =>
            rig.Inject(new EthernetHeader(MacAddress.ForMulticast(to), QuerierMac, EtherType.Ipv4),
                Forge.Udp(Querier, to, 9, port, System.Text.Encoding.ASCII.GetBytes(text)));

        Send(Group, 5000, "one");
        Send(Group, 5001, "two");
        Send(Group, 5002, "not joined by this socket");
        Send(Other, 5000, "a group nobody joined");
        Datagram one = rig.Scheduler.Await(joined.ReceiveAsync());
        Assert.Equal(("one", new NetEndpoint(Group, 5000)), (System.Text.Encoding.ASCII.GetString(one.Data.Span), one.Destination));
        Assert.Equal("two", System.Text.Encoding.ASCII.GetString(rig.Scheduler.Await(onGroup.ReceiveAsync()).Data.Span));
        Assert.Equal(2, rig.Drops(DropReason.MulticastNotJoined));
        Assert.Equal(0, rig.Drops(DropReason.UdpNoSocket));

        rig.Scheduler.Await(joined.LeaveGroupAsync(Group));
        Send(Group, 5000, "after leaving");
        Assert.Equal(3, rig.Drops(DropReason.MulticastNotJoined));
        GC.KeepAlive(notJoined);
    }

    [Fact]
    public void A_datagram_to_a_group_goes_to_the_mapped_mac_with_ttl_1_or_the_hop_limit_set()
    {
        using var rig = Rig();
        UdpSocket socket = Bind(rig, new NetEndpoint(NetAddress.AnyV4, 1000));
        rig.Scheduler.Await(socket.SendAsync(new byte[] { 1 }, new NetEndpoint(Group, 2000)));
        var frame = Assert.Single(rig.TakeSent()); // no ARP: the MAC is the group's (RFC 1112 §6.4)
        Assert.Equal(MacAddress.Parse("01:00:5e:01:02:03"), frame.Header.Destination);
        Assert.Equal(WireError.None, Ipv4Header.TryParse(frame.Payload, out Ipv4Header ip, out _, out _));
        Assert.Equal((Group, (byte)1), (ip.Destination, ip.TimeToLive));

        rig.Scheduler.Await(socket.SetMulticastHopLimitAsync(8));
        rig.Scheduler.Await(socket.SendAsync(new byte[] { 1 }, new NetEndpoint(Group, 2000)));
        Assert.Equal(WireError.None, Ipv4Header.TryParse(Assert.Single(rig.TakeSent()).Payload, out ip, out _, out _));
        Assert.Equal(8, ip.TimeToLive);
        rig.Scheduler.Await(socket.SendAsync(new byte[] { 1 }, new NetEndpoint(EthernetRig.Peer4, 2000))); // unicast: the default TTL
        rig.ReplyArp(EthernetRig.Peer4, EthernetRig.PeerMac);
        Assert.Equal(WireError.None, Ipv4Header.TryParse(rig.TakeSent().Last().Payload, out ip, out _, out _));
        Assert.Equal(64, ip.TimeToLive);
        var error = Assert.Throws<NetstackException>(() => rig.Scheduler.Await(socket.SetMulticastHopLimitAsync(0)));
        Assert.Equal(BadRequestReason.InvalidArgument, error.Error.Reason);
    }

    [Fact]
    public void Joining_and_leaving_wrong_groups_are_typed_errors()
    {
        using var rig = Rig();
        UdpSocket socket = Joined(rig, Group);
        BadRequestReason Fails(Task task) => Assert.Throws<NetstackException>(() => rig.Scheduler.Await(task)).Error.Reason;
        Assert.Equal(BadRequestReason.NotMulticast, Fails(socket.JoinGroupAsync(EthernetRig.Peer4)));
        Assert.Equal(BadRequestReason.AlreadyJoined, Fails(socket.JoinGroupAsync(Group)));
        Assert.Equal(BadRequestReason.NotJoined, Fails(socket.LeaveGroupAsync(Other)));
        Assert.Equal(BadRequestReason.WrongIpVersion, Fails(socket.JoinGroupAsync(Group6)));
        rig.Scheduler.Await(socket.DisposeAsync().AsTask());
        var stale = Assert.Throws<NetstackException>(() => rig.Scheduler.Await(socket.JoinGroupAsync(Other)));
        Assert.Equal(NetstackErrorKind.StaleHandle, stale.Kind);
        Assert.Empty(rig.Stack.GetMulticastGroups());
    }

    // ---------------------------------------------------------------- MLDv2

    /// <summary>An MLD frame the stack sent: hop limit 1, a hop-by-hop Router Alert (MLD), from the link-local address.</summary>
    private static (Ipv6Header Ip, byte[] Mld) ParseMld((EthernetHeader Header, byte[] Payload) frame)
    {
        Assert.Equal(EtherType.Ipv6, frame.Header.EtherType);
        Assert.Equal((byte)IpProtocol.HopByHop, frame.Payload[6]);
        Assert.Equal(new byte[] { 58, 0, 5, 2, 0, 0, 1, 0 }, frame.Payload[40..48]); // RFC 2711 Router Alert, value 0 (MLD)
        Assert.Equal(WireError.None, Ipv6Header.TryParse(frame.Payload, out Ipv6Header ip, out _, out ReadOnlySpan<byte> mld, out _));
        Assert.Equal((IpProtocol.IcmpV6, (byte)1), (ip.Protocol, ip.HopLimit));
        Assert.True(RouteTable.IsLinkLocal(ip.Source));
        Assert.Equal(WireError.None, IcmpHeader.TryParseV6(mld, ip.Source, ip.Destination, out _, out _));
        Assert.Equal(MacAddress.ForMulticast(ip.Destination), frame.Header.Destination);
        return (ip, mld.ToArray());
    }

    private static List<(int Type, NetAddress Group)> V2Records((EthernetHeader, byte[]) frame)
    {
        var (ip, mld) = ParseMld(frame);
        Assert.Equal(NetAddress.Parse("ff02::16"), ip.Destination);
        Assert.Equal((byte)MldType.V2Report, mld[0]);
        int count = BinaryPrimitives.ReadUInt16BigEndian(mld.AsSpan(6));
        return [.. Enumerable.Range(0, count).Select(i => ((int)mld[8 + 20 * i], NetAddress.ReadV6(mld.AsSpan(12 + 20 * i))))];
    }

    private static void InjectMldQuery(EthernetRig rig, NetAddress group, ushort maxResponseMs, byte hopLimit = 1)
    {
        NetAddress to = group.IsUnspecified ? NetAddress.Parse("ff02::1") : group;
        byte[] packet = new byte[40 + 28];
        Span<byte> mld = packet.AsSpan(40);
        mld[0] = (byte)MldType.Query;
        BinaryPrimitives.WriteUInt16BigEndian(mld[4..], maxResponseMs);
        group.WriteTo(mld[8..]);
        BinaryPrimitives.WriteUInt16BigEndian(mld[2..], Checksum.Finish(Checksum.Accumulate(mld, Checksum.PseudoHeader(Querier6, to, IpProtocol.IcmpV6, 28))));
        Ipv6Header.Emit(packet, new Ipv6Header(Querier6, to, IpProtocol.IcmpV6, hopLimit), 28);
        rig.Inject(new EthernetHeader(MacAddress.ForMulticast(to), QuerierMac, EtherType.Ipv6), packet);
    }

    [Fact]
    public void Mldv2_reports_a_join_and_a_leave_and_answers_queries_from_a_link_local_querier()
    {
        using var rig = Rig6();
        UdpSocket socket = Joined(rig, Group6);
        var sent = rig.TakeSent();
        var frame = Assert.Single(sent);
        Assert.Equal(MacAddress.Parse("33:33:00:00:00:16"), frame.Header.Destination);
        Assert.Equal([(4, Group6)], V2Records(frame));
        rig.At(rig.NowMs + 1000);
        Assert.Equal([(4, Group6)], V2Records(Assert.Single(rig.TakeSent())));

        InjectMldQuery(rig, NetAddress.AnyV6, 1000);
        InjectMldQuery(rig, NetAddress.AnyV6, 1000, hopLimit: 64); // RFC 3810 §5.1.14: only with hop limit 1
        rig.At(rig.NowMs + 1000);
        Assert.Equal([(2, Group6)], V2Records(Assert.Single(rig.TakeSent())));
        Assert.Equal(1, rig.Drops(DropReason.MldMalformed));

        rig.Inject(new EthernetHeader(MacAddress.ForMulticast(Group6), QuerierMac, EtherType.Ipv6),
            Forge.Udp(Querier6, Group6, 9, 5000, "six"u8));
        Assert.Equal("six"u8.ToArray(), rig.Scheduler.Await(socket.ReceiveAsync()).Data.ToArray());

        rig.Scheduler.Await(socket.DisposeAsync().AsTask());
        Assert.Equal([(3, Group6)], V2Records(Assert.Single(rig.TakeSent())));
    }

    // ---------------------------------------------------------------- two stacks

    [Theory]
    [InlineData(LinkMedium.Ethernet, false)]
    [InlineData(LinkMedium.Ethernet, true)]
    [InlineData(LinkMedium.Ip, false)]
    [InlineData(LinkMedium.Ip, true)]
    public void A_group_joined_on_one_stack_receives_what_the_other_sends_to_it(LinkMedium medium, bool v6)
    {
        using var pair = new StackPair(medium: medium);
        var s = pair.Scheduler;
        s.AdvanceBy(TimeSpan.FromMilliseconds(1100).Ticks); // past DAD
        NetAddress group = v6 ? Group6 : Group;
        NetAddress any = v6 ? NetAddress.AnyV6 : NetAddress.AnyV4;
        var receiver = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(any, 5000)));
        var sender = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(any, 0)));
        long notJoined = pair.B.GetStats().Drops.GetValueOrDefault(DropReason.MulticastNotJoined);
        s.Await(sender.SendAsync("before"u8.ToArray(), new NetEndpoint(group, 5000)));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(notJoined + 1, pair.B.GetStats().Drops.GetValueOrDefault(DropReason.MulticastNotJoined));

        s.Await(receiver.JoinGroupAsync(group));
        s.Await(sender.SendAsync("after"u8.ToArray(), new NetEndpoint(group, 5000)));
        Datagram d = s.Await(receiver.ReceiveAsync());
        Assert.Equal("after"u8.ToArray(), d.Data.ToArray());
        Assert.Equal(new NetEndpoint(group, 5000), d.Destination);
        Assert.Equal(v6 ? StackPair.A6 : StackPair.A4, d.Source.Address);
        Assert.True(pair.B.GetStats().MembershipOut >= 1);
    }
}
