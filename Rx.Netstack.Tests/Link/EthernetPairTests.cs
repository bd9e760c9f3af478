using Rx.Netstack.Diagnostics;
using Rx.Netstack.Link;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Link;

/// <summary>Two stacks on an Ethernet crossover (an Ethernet <c>PipeDevice</c>): ARP and neighbour discovery find each other,
/// then ping, TCP and UDP work as over an IP pipe.</summary>
public sealed class EthernetPairTests
{
    private static StackPair EthernetPair() => new(medium: LinkMedium.Ethernet);

    /// <summary>Past duplicate address detection of the IPv6 addresses (one probe, one second).</summary>
    private static void PastDad(StackPair pair) => pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1100).Ticks);

    [Theory]
    [InlineData(false, 56)]
    [InlineData(true, 56)]
    [InlineData(false, 4000)] // fragments, each resolved and framed
    [InlineData(true, 4000)]
    public void Ping_resolves_the_neighbour_then_gets_a_reply(bool v6, int size)
    {
        using var pair = EthernetPair();
        PastDad(pair);
        var reply = pair.Scheduler.Await(pair.A.Ping(v6 ? StackPair.B6 : StackPair.B4, size));
        Assert.Equal(size, reply.PayloadSize);
        NeighborInfo b = Assert.Single(pair.A.GetNeighbors(), n => n.Address == (v6 ? StackPair.B6 : StackPair.B4));
        Assert.Equal(pair.B.MacAddress, b.LinkAddress);
        Assert.Equal(NeighborState.Reachable, b.State);
        var stats = pair.A.GetStats();
        Assert.True(v6 ? stats.NdpOut > 0 : stats.ArpOut > 0);
        Assert.Equal(0, stats.Drops.GetValueOrDefault(DropReason.NeighborUnreachable));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tcp_transfers_a_megabyte_both_ways(bool v6)
    {
        using var pair = EthernetPair();
        PastDad(pair);
        var (client, server) = pair.ConnectTcp(v6: v6);
        byte[] data = Enumerable.Range(0, 1 << 20).Select(i => (byte)(i * 31)).ToArray();
        Task write = pair.Scheduler.StartInVirtualTime(() => client.SendAsync(data));
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Scheduler.Await(write);
        Task back = pair.Scheduler.StartInVirtualTime(() => server.SendAsync(data.AsMemory(0, 100_000)));
        Assert.Equal(data.AsSpan(0, 100_000).ToArray(), pair.ReadExactly(client, 100_000));
        pair.Scheduler.Await(back);
        Assert.True(pair.A.GetStats().TcpRetransmissions == 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Udp_datagrams_cross(bool v6)
    {
        using var pair = EthernetPair();
        PastDad(pair);
        var s = pair.Scheduler;
        var a = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(v6 ? StackPair.A6 : StackPair.A4, 1)));
        var b = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, 2)));
        s.Await(a.SendAsync(new byte[] { 1, 2, 3 }, b.Local));
        Assert.Equal(new byte[] { 1, 2, 3 }, s.Await(b.ReceiveAsync()).Data.ToArray());
    }

    [Fact]
    public void Each_stack_has_a_link_local_address_from_its_mac()
    {
        using var pair = EthernetPair();
        PastDad(pair);
        MacAddress mac = pair.A.MacAddress!.Value;
        var linkLocal = NetAddress.V6(0xFE80UL << 48, mac.InterfaceIdentifier);
        Assert.Contains(new InterfaceAddress(linkLocal, 64), pair.A.Addresses);
        var reply = pair.Scheduler.Await(pair.B.Ping(linkLocal));
        Assert.Equal(linkLocal, reply.From);
    }

    [Fact]
    public void An_ip_pipe_is_unchanged_no_mac_and_no_neighbours()
    {
        using var pair = new StackPair();
        pair.Scheduler.Await(pair.A.Ping(StackPair.B4));
        Assert.Null(pair.A.MacAddress);
        Assert.Empty(pair.A.GetNeighbors());
        Assert.Equal(0, pair.A.GetStats().ArpOut);
    }
}
