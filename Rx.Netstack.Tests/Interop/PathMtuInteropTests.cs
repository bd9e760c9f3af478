using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Devices;
using Xunit.Abstractions;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// Path MTU discovery against real Linux routing: our stack on a TUN device in the rig's namespace, which routes (IP
/// forwarding on) over a veth hop of MTU 1280 to a kernel peer in a second namespace. The peer announces an MSS of a
/// 1500-byte path (<c>ip route … advmss</c>), so our first full segments are too big for the hop: the router answers with
/// ICMP fragmentation needed / packet too big — or, with nftables dropping those in the router, says nothing (a PMTU black
/// hole). Bulk data goes both ways at once, byte-exact, over IPv4 and IPv6.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class PathMtuInteropTests(ITestOutputHelper output)
{
    private const int HopMtu = 1280;
    private const int Size = 4_000_000;
    private static readonly IPAddress RouterV4 = IPAddress.Parse("10.78.0.1"), RouterV6 = IPAddress.Parse("fd78::1");
    private static readonly IPAddress PeerV4 = IPAddress.Parse("10.78.0.2"), PeerV6 = IPAddress.Parse("fd78::2");

    [NamespaceFact("nft", "sysctl")]
    public Task Ipv4_bulk_both_ways_learns_the_hop_from_icmp_fragmentation_needed() => RunAsync(v6: false, filterIcmp: false);

    [NamespaceFact("nft", "sysctl")]
    public Task Ipv6_bulk_both_ways_learns_the_hop_from_icmp_packet_too_big() => RunAsync(v6: true, filterIcmp: false);

    [NamespaceFact("nft", "sysctl")]
    public Task Ipv4_bulk_both_ways_gets_through_a_black_hole_with_icmp_filtered() => RunAsync(v6: false, filterIcmp: true);

    [NamespaceFact("nft", "sysctl")]
    public Task Ipv6_bulk_both_ways_gets_through_a_black_hole_with_icmp_filtered() => RunAsync(v6: true, filterIcmp: true);

    /// <summary>
    /// Pings the peer through the router until it answers: the router's first IPv6 packets wait for neighbour discovery on
    /// the new veth, and a SYN lost to that would make the connection start with a 3 s RTO (RFC 6298 §5.7), stretching
    /// black-hole detection to tens of seconds.
    /// </summary>
    private static async Task WarmUpAsync(Netstack stack, IPAddress peer, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await stack.PingAsync(NetAddress.FromIPAddress(peer), timeout: TimeSpan.FromSeconds(1), cancellationToken: cancellationToken);
                return;
            }
            catch (Commands.NetstackException) when (attempt < 10)
            {
                // not yet: ask again
            }
        }
    }

    private async Task RunAsync(bool v6, bool filterIcmp)
    {
        await using InteropRig rig = await InteropRig.StartAsync(serve: false);
        using NetworkNamespace peer = NetworkNamespace.Create("rxpeer");
        NetworkNamespace router = rig.Namespace;
        router.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
        router.Exec("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
        router.Exec("ip", "link", "add", "rxr0", "mtu", $"{HopMtu}", "type", "veth", "peer", "name", "rxp0", "mtu", $"{HopMtu}", "netns", peer.Name);
        router.Exec("ip", "addr", "add", $"{RouterV4}/24", "dev", "rxr0");
        router.Exec("ip", "-6", "addr", "add", $"{RouterV6}/64", "dev", "rxr0", "nodad");
        router.Exec("ip", "link", "set", "rxr0", "up");
        peer.Exec("ip", "addr", "add", $"{PeerV4}/24", "dev", "rxp0");
        peer.Exec("ip", "-6", "addr", "add", $"{PeerV6}/64", "dev", "rxp0", "nodad");
        peer.Exec("ip", "link", "set", "rxp0", "up");
        // The peer announces the MSS of a 1500-byte path, so only path MTU discovery keeps our segments within the hop.
        peer.Exec("ip", "route", "add", "default", "via", $"{RouterV4}", "advmss", "1460");
        peer.Exec("ip", "-6", "route", "add", "default", "via", $"{RouterV6}", "advmss", "1440");
        if (filterIcmp)
        {
            router.Exec("nft", "add", "table", "inet", "rxpmtu");
            router.Exec("nft", "add", "chain", "inet", "rxpmtu", "out", "{ type filter hook output priority 0 ; }");
            router.Exec("nft", "add", "rule", "inet", "rxpmtu", "out", "icmp", "type", "destination-unreachable", "counter", "drop");
            router.Exec("nft", "add", "rule", "inet", "rxpmtu", "out", "icmpv6", "type", "packet-too-big", "counter", "drop");
        }

        var remote = new IPEndPoint(v6 ? PeerV6 : PeerV4, 5100);
        Socket listener = rig.Own(peer.Run(() => new Socket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp)));
        listener.Bind(remote);
        listener.Listen(4);

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await WarmUpAsync(rig.Stack, remote.Address, deadline.Token);
        TcpConnectionInfo info = await TwoWayTransfer.RunAsync(rig.Stack, listener, remote, Size, deadline.Token);

        TcpCounters counters = rig.Stack.TcpCounters;
        output.WriteLine($"MSS {info.MaxSegmentSize}, retransmitted {info.SegmentsRetransmitted}; ICMP errors accepted {counters.IcmpErrorsAccepted}, " +
            $"path MTU reductions {counters.PathMtuReductions}, black holes {counters.PathMtuBlackHoles}, timeouts {counters.Timeouts}");
        if (filterIcmp) output.WriteLine(router.Exec("nft", "list", "table", "inet", "rxpmtu"));
        int ipAndTcp = (v6 ? 40 : 20) + 20;
        Assert.InRange(info.MaxSegmentSize, 500, HopMtu - ipAndTcp);
        if (filterIcmp)
        {
            Assert.Equal(0, counters.IcmpErrorsAccepted);
            Assert.Equal(1, counters.PathMtuBlackHoles);
        }
        else
        {
            Assert.True(counters.IcmpErrorsAccepted >= 1, "no fragmentation-needed / packet-too-big was accepted");
            Assert.Equal(0, counters.PathMtuBlackHoles);
            Assert.Equal(HopMtu - ipAndTcp - 12, info.MaxSegmentSize); // the hop's size exactly, timestamps taken out
        }
    }
}
