using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// Path MTU discovery end to end in virtual time (RFC 1191, RFC 8201, RFC 4821/8899): two stacks with 1500-byte links and a
/// router whose hop between them is smaller, which answers big packets with ICMP or — behind a filter — drops them silently.
/// </summary>
public sealed class PathMtuTests
{
    private const int Bytes = 300_000;

    private static int IpHeader(bool v6) => v6 ? 40 : 20;

    /// <summary>The payload of a full segment at <paramref name="mtu"/> with timestamps on (what GetInfo reports as the MSS).</summary>
    private static int SmssAt(int mtu, bool v6) => mtu - IpHeader(v6) - 20 - 12;

    [Theory]
    [InlineData(false, 1000)]
    [InlineData(true, 1280)]
    public void Bulk_both_ways_through_a_smaller_hop_learns_the_path_mtu_from_icmp_and_arrives_byte_exact(bool v6, int hop)
    {
        using var pair = new RoutedPair(hop);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, Bytes, seed: 7);

        Assert.True(pair.Router.TooBig > 0 && pair.Router.IcmpSent > 0, "nothing was too big for the hop");
        Assert.InRange(pair.Router.LargestFromA, hop - 100, hop);
        Assert.InRange(pair.Router.LargestFromB, hop - 100, hop);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(server.GetInfoAsync()).MaxSegmentSize);
        foreach (Netstack stack in new[] { pair.A, pair.B })
        {
            Assert.True(stack.TcpCounters.PathMtuReductions >= 1);
            Assert.True(stack.TcpCounters.IcmpErrorsAccepted >= 1);
            // Resent at the new size straight away: the packet too big, not a timeout, repaired the loss.
            Assert.Equal(0, stack.TcpCounters.Timeouts);
            Assert.Equal(0, stack.TcpCounters.PathMtuBlackHoles);
        }
        if (!v6)
        {
            // RFC 1191 §3: every IPv4 TCP packet carries DF, so the router never fragmented one.
            Assert.True(pair.Router.WithDontFragment > 0);
            Assert.Equal(0, pair.Router.WithoutDontFragment);
            Assert.Equal(0, pair.Router.Fragmented);
        }
    }

    [Theory]
    [InlineData(false, 1000)]
    [InlineData(true, 1280)]
    public void A_new_connection_to_the_same_destination_starts_at_the_cached_path_mtu_until_it_expires(bool v6, int hop)
    {
        using var pair = new RoutedPair(hop);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, 50_000, seed: 1);
        int tooBig = pair.Router.TooBig;
        Assert.True(tooBig > 0);

        // The cache (RFC 1191 §5, RFC 8201 §5.2) is per destination: A's next connection to B sends at the learned size at once.
        var (client2, server2) = pair.ConnectTcp(81, v6);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client2.GetInfoAsync()).MaxSegmentSize);
        byte[] data = RoutedPair.Pattern(50_000, 3);
        Task sent = client2.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server2, data.Length));
        Assert.True(sent.IsCompletedSuccessfully);
        Assert.Equal(tooBig, pair.Router.TooBig);

        // After 10 minutes the entry is forgotten (RFC 1191 §6.3): a new connection tries the link's MTU and learns again.
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        var (client3, server3) = pair.ConnectTcp(82, v6);
        Assert.Equal(SmssAt(1500, v6), pair.Scheduler.Await(client3.GetInfoAsync()).MaxSegmentSize);
        sent = client3.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server3, data.Length));
        Assert.True(pair.Router.TooBig > tooBig);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client3.GetInfoAsync()).MaxSegmentSize);
    }

    [Theory]
    [InlineData(false, 1100)]
    [InlineData(true, 1350)]
    public void With_icmp_filtered_black_hole_detection_falls_back_then_probes_up_later(bool v6, int hop)
    {
        using var pair = new RoutedPair(hop, sendsIcmp: false);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, Bytes, seed: 11);

        Assert.Equal(0, pair.Router.IcmpSent);
        Assert.True(pair.Router.TooBig > 0);
        foreach (Netstack stack in new[] { pair.A, pair.B })
        {
            Assert.Equal(1, stack.TcpCounters.PathMtuBlackHoles);
            Assert.True(stack.TcpCounters.Timeouts >= TcpControlBlock.BlackHoleTimeouts);
        }
        int fallback = v6 ? TcpControlBlock.MinimumPathMssV6 : TcpControlBlock.BaseMssV4;
        Assert.Equal(fallback - 12, pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);

        // RFC 8899 §5.1.1 / RFC 4821 §7: ten minutes later probes search up from the fallback: the link's size and those
        // above the hop are lost (no timeout, no second fallback), those below get through and become the estimate.
        // One way, read as it comes (both ways at once, each side's reader waits for the other's data and the windows close).
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        long timeouts = pair.A.TcpCounters.Timeouts;
        byte[] data = RoutedPair.Pattern(3_000_000, 12); // enough for the search's dozen or so probes
        Task sent = client.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Wait(sent);
        TcpCounters a = pair.A.TcpCounters;
        Assert.True(a.PathMtuRaises >= 1, $"{a.PathMtuRaises} raises, {a.PathMtuProbes} probes, {a.PathMtuProbesLost} lost");
        Assert.True(a.PathMtuProbesLost >= TcpControlBlock.MaxProbes, $"{a.PathMtuProbesLost} probes lost");
        Assert.Equal(1, a.PathMtuBlackHoles);
        Assert.Equal(timeouts, a.Timeouts);
        Assert.InRange(pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize, SmssAt(hop, v6) - TcpControlBlock.ProbeThreshold, SmssAt(hop, v6));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void After_the_hop_grows_a_probe_raises_the_estimate_back_to_the_link_size(bool v6)
    {
        int hop = v6 ? 1280 : 1000;
        using var pair = new RoutedPair(hop);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, 50_000, seed: 21);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);

        // The route changes to one that carries the links' 1500 bytes. Ten minutes on, the first probe (the link's size)
        // gets through and the estimate is the link's again, on both sides.
        pair.Router.HopMtu = 1500;
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        pair.BulkBothWays(client, server, 100_000, seed: 22);
        Assert.Equal(SmssAt(1500, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(SmssAt(1500, v6), pair.Scheduler.Await(server.GetInfoAsync()).MaxSegmentSize);
        Assert.InRange(pair.Router.LargestFromA, 1400, 1500);
        foreach (Netstack stack in new[] { pair.A, pair.B })
        {
            Assert.Equal(1, stack.TcpCounters.PathMtuProbes);
            Assert.Equal(0, stack.TcpCounters.PathMtuProbesLost);
            Assert.Equal(1, stack.TcpCounters.PathMtuRaises);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_lost_probe_is_resent_at_the_estimate_without_a_congestion_response(bool v6)
    {
        int hop = v6 ? 1280 : 1000;
        using var pair = new RoutedPair(hop);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, 50_000, seed: 31);
        long recoveries = pair.A.TcpCounters.RecoveryEpisodes, timeouts = pair.A.TcpCounters.Timeouts;
        int ssthresh = pair.Scheduler.Await(client.GetInfoAsync()).SlowStartThreshold;

        // The hop stays small and now filters ICMP: every probe is lost silently. Each is resent at the estimate at once;
        // no recovery, no timeout, ssthresh untouched (RFC 4821 §7.6.2), and the data arrives intact.
        pair.Router.SendsIcmp = false;
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        pair.BulkBothWays(client, server, Bytes, seed: 32);
        Assert.True(pair.A.TcpCounters.PathMtuProbesLost >= TcpControlBlock.MaxProbes, $"{pair.A.TcpCounters.PathMtuProbesLost} lost");
        Assert.Equal(0, pair.A.TcpCounters.PathMtuRaises);
        Assert.Equal(recoveries, pair.A.TcpCounters.RecoveryEpisodes);
        Assert.Equal(timeouts, pair.A.TcpCounters.Timeouts);
        Assert.Equal(ssthresh, pair.Scheduler.Await(client.GetInfoAsync()).SlowStartThreshold);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
    }

    [Theory]
    [InlineData(false, 1100)]
    [InlineData(true, 1350)]
    public void After_a_black_hole_search_a_new_connection_starts_at_the_size_the_probes_confirmed(bool v6, int hop)
    {
        using var pair = new RoutedPair(hop, sendsIcmp: false);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, 50_000, seed: 41);
        Assert.Equal(1, pair.A.TcpCounters.PathMtuBlackHoles);
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        byte[] data = RoutedPair.Pattern(3_000_000, 42);
        Task sent = client.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Wait(sent);
        int confirmed = pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize;
        Assert.InRange(confirmed, SmssAt(hop, v6) - TcpControlBlock.ProbeThreshold, SmssAt(hop, v6));

        // The search's result went into the per-destination cache (RFC 4821 §5.2): the next connection starts at it instead of
        // at the link's MTU, so it neither falls into the black hole again nor waits three timeouts to climb out.
        long timeouts = pair.A.TcpCounters.Timeouts;
        var (client2, server2) = pair.ConnectTcp(81, v6);
        Assert.Equal(confirmed, pair.Scheduler.Await(client2.GetInfoAsync()).MaxSegmentSize);
        byte[] more = RoutedPair.Pattern(100_000, 43);
        sent = client2.SendAsync(more);
        Assert.Equal(more, pair.ReadExactly(server2, more.Length));
        pair.Wait(sent);
        Assert.Equal(timeouts, pair.A.TcpCounters.Timeouts);
        Assert.Equal(1, pair.A.TcpCounters.PathMtuBlackHoles);

        // Like any entry it expires (RFC 1191 §6.3): ten minutes on, a new connection tries the link's MTU again.
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        var (client3, _) = pair.ConnectTcp(82, v6);
        Assert.Equal(SmssAt(1500, v6), pair.Scheduler.Await(client3.GetInfoAsync()).MaxSegmentSize);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_probe_that_got_through_overrides_a_lower_icmp_entry_still_valid_for_later_connections(bool v6)
    {
        int hop = v6 ? 1400 : 1000, lower = v6 ? 1300 : 900;
        using var pair = new RoutedPair(hop);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, 50_000, seed: 51); // A learns the hop at about 0 min: it probes again at 10
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);

        // Six minutes on, the hop shrinks for a while; another connection learns that (A's entry holds until 16 min). Data
        // goes one way only, so B learns nothing and keeps advertising its link's MSS.
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(6).Ticks);
        pair.Router.HopMtu = lower;
        var (client2, server2) = pair.ConnectTcp(81, v6);
        byte[] some = RoutedPair.Pattern(50_000, 52);
        Task sent = client2.SendAsync(some);
        Assert.Equal(some, pair.ReadExactly(server2, some.Length));
        pair.Wait(sent);
        Assert.Equal(SmssAt(lower, v6), pair.Scheduler.Await(client2.GetInfoAsync()).MaxSegmentSize);

        // Then the route changes to one that carries the links' 1500 bytes. At 11 minutes the first connection's probe of the
        // link's size gets through: that proves the cached, still valid, lower size wrong, so the entry goes.
        pair.Router.HopMtu = 1500;
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(5).Ticks);
        byte[] data = RoutedPair.Pattern(300_000, 53);
        sent = client.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Wait(sent);
        Assert.Equal(SmssAt(1500, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(1, pair.A.TcpCounters.PathMtuRaises);

        var (client3, _) = pair.ConnectTcp(82, v6);
        Assert.Equal(SmssAt(1500, v6), pair.Scheduler.Await(client3.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(0, pair.A.PathMtuEntries);
    }

    [Theory]
    [InlineData(false, 1000, 1300)]
    [InlineData(true, 1280, 1400)]
    public void A_packet_too_big_for_a_probe_bounds_the_search_and_is_its_next_probe(bool v6, int hop, int grown)
    {
        using var pair = new RoutedPair(hop);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, 50_000, seed: 61);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
        long badMtu = pair.A.GetStats().Drops[DropReason.IcmpBadMtu], timeouts = pair.A.TcpCounters.Timeouts;
        long recoveries = pair.A.TcpCounters.RecoveryEpisodes;
        int icmp = pair.Router.IcmpSent;

        // The hop grows, but not to the link's size. Ten minutes on, the probe of the link's size draws a packet too big that
        // reports a size between the estimate and the probe (RFC 8899 §4.6.2): the probe was too big, but the estimate holds.
        // The reported size becomes the search's upper bound and its next probe, which gets through: two probes in all, not
        // three losses of each size while halving towards it blind.
        pair.Router.HopMtu = grown;
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        byte[] data = RoutedPair.Pattern(300_000, 62);
        Task sent = client.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Wait(sent);

        TcpCounters a = pair.A.TcpCounters;
        Assert.Equal(icmp + 1, pair.Router.IcmpSent);
        Assert.Equal(2, a.PathMtuProbes);
        Assert.Equal(1, a.PathMtuProbesLost);
        Assert.Equal(1, a.PathMtuRaises);
        Assert.Equal(badMtu, pair.A.GetStats().Drops[DropReason.IcmpBadMtu]);
        Assert.Equal(timeouts, a.Timeouts);
        Assert.Equal(recoveries, a.RecoveryEpisodes); // the probe's loss is no congestion (RFC 4821 §7.6.2)
        Assert.Equal(SmssAt(grown, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);

        // The search's result is shared: a new connection to B starts at it.
        var (client2, _) = pair.ConnectTcp(81, v6);
        Assert.Equal(SmssAt(grown, v6), pair.Scheduler.Await(client2.GetInfoAsync()).MaxSegmentSize);
    }

    [Theory]
    [InlineData(false, 1000)]
    [InlineData(true, 1280)]
    public void A_packet_too_big_for_a_probe_reporting_the_estimate_ends_the_search(bool v6, int hop)
    {
        using var pair = new RoutedPair(hop);
        var (client, server) = pair.ConnectTcp(80, v6);
        pair.BulkBothWays(client, server, 50_000, seed: 71);
        long badMtu = pair.A.GetStats().Drops[DropReason.IcmpBadMtu];
        int icmp = pair.Router.IcmpSent;

        // The hop did not change: the first probe draws a packet too big reporting the estimate (RFC 8899 §4.6.2, PL_PTB_SIZE
        // = PLPMTU): the search is over, with no further probe of a size the router would refuse anyway.
        pair.Scheduler.AdvanceBy(TimeSpan.FromMinutes(11).Ticks);
        byte[] data = RoutedPair.Pattern(300_000, 72);
        Task sent = client.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Wait(sent);
        Assert.Equal(1, pair.A.TcpCounters.PathMtuProbes);
        Assert.Equal(1, pair.A.TcpCounters.PathMtuProbesLost);
        Assert.Equal(icmp + 1, pair.Router.IcmpSent);
        Assert.Equal(badMtu, pair.A.GetStats().Drops[DropReason.IcmpBadMtu]);
        Assert.Equal(SmssAt(hop, v6), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
    }

    [Fact]
    public void A_full_sized_segment_that_got_through_proves_the_path_so_later_timeouts_are_losses()
    {
        using var pair = new RoutedPair(hopMtu: 1500, sendsIcmp: false);
        var (client, server) = pair.ConnectTcp(80, v6: false);
        pair.BulkBothWays(client, server, 50_000, seed: 2);

        // The link then loses everything from A for a while: timeouts, but the size was proven, so no fallback.
        pair.Router.DropIf = p => p.Length > 100 && pair.Scheduler.Clock < TimeSpan.FromSeconds(30).Ticks;
        pair.BulkBothWays(client, server, 50_000, seed: 3);
        Assert.True(pair.A.TcpCounters.Timeouts >= TcpControlBlock.BlackHoleTimeouts);
        Assert.Equal(0, pair.A.TcpCounters.PathMtuBlackHoles);
        Assert.Equal(SmssAt(1500, false), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
    }

    [Fact]
    public void A_path_below_576_is_held_at_576_without_DF_and_the_router_fragments()
    {
        // RFC 1191 §3 / RFC 791: 576 always passes; a smaller hop is believed only as far as 576, and DF goes so it may
        // fragment (Linux does the same below its min_pmtu).
        using var pair = new RoutedPair(hopMtu: 500);
        var (client, server) = pair.ConnectTcp(80, v6: false);
        pair.BulkBothWays(client, server, 100_000, seed: 5);
        Assert.True(pair.Router.IcmpSent > 0);
        Assert.True(pair.Router.Fragmented > 0);
        Assert.True(pair.Router.WithoutDontFragment > 0);
        Assert.Equal(SmssAt(576, false), pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
    }

    [Fact]
    public void An_ipv6_udp_datagram_is_fragmented_at_the_source_to_the_learned_path_mtu()
    {
        using var pair = new RoutedPair(hopMtu: 1280);
        UdpSocket receiver = pair.Scheduler.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(StackPair.B6, 5000)));
        UdpSocket sender = pair.Scheduler.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(NetAddress.AnyV6, 0)));
        byte[] data = RoutedPair.Pattern(1400, 9);
        var destination = new NetEndpoint(StackPair.B6, 5000);

        pair.Wait(sender.SendAsync(data, destination));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(5).Ticks);
        Assert.Equal(1, pair.Router.TooBig); // the first one was too big for the hop: packet too big came back
        Assert.Equal(1, pair.A.PathMtuEntries);

        Task<Datagram> received = receiver.ReceiveAsync();
        pair.Wait(sender.SendAsync(data, destination));
        Assert.Equal(data, pair.Scheduler.Await(received).Data.ToArray());
        Assert.Equal(1, pair.Router.TooBig);
        Assert.InRange(pair.Router.LargestFromA, 1200, 1280);
    }

}
