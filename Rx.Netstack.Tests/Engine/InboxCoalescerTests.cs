using PacketDotNet;
using Rx.Netstack.Devices;
using Rx.Netstack.Engine;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// Receive coalescing in the round (<see cref="InboxCoalescer"/>, <see cref="NetstackOptions.CoalesceReceivedSegments"/>):
/// in-order data segments of one flow become one segment with the payloads in order, right lengths and a right IPv4 header
/// checksum (PacketDotNet checks it); what Linux's GRO must not merge is never merged; and two stacks with it on move data
/// intact, with fewer frames and the ACK a merged run of full segments calls for.
/// </summary>
public sealed class InboxCoalescerTests
{
    private static readonly NetAddress Peer = NetAddress.Parse("10.0.0.1"), Us = NetAddress.Parse("10.0.0.2");
    private static readonly NetAddress Peer6 = NetAddress.Parse("fd00::1"), Us6 = NetAddress.Parse("fd00::2");

    /// <summary>A TCP segment from the peer: sequence <paramref name="seq"/>, <paramref name="payload"/>, checksums right.</summary>
    private static byte[] Segment(uint seq, byte[] payload, TcpFlags flags = TcpFlags.Ack, ushort sourcePort = 5000, bool v6 = false,
        uint ack = 777, ushort window = 500, uint? timestamp = 42, byte tos = 0, ushort urgent = 0)
    {
        NetAddress source = v6 ? Peer6 : Peer, destination = v6 ? Us6 : Us;
        var header = new TcpHeader(sourcePort, 80, flags)
        {
            Sequence = new SeqNumber(seq), Acknowledgment = new SeqNumber(ack), Window = window, UrgentPointer = urgent,
            HasTimestamps = timestamp is not null, TimestampValue = timestamp ?? 0, TimestampEcho = 9,
        };
        int ip = v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        var packet = new byte[ip + header.Length + payload.Length];
        payload.CopyTo(packet.AsSpan(ip + header.Length));
        int length = TcpHeader.Emit(packet.AsSpan(ip), header, payload.Length, source, destination);
        if (v6) Ipv6Header.Emit(packet, new Ipv6Header(source, destination, IpProtocol.Tcp), length);
        else Ipv4Header.Emit(packet, new Ipv4Header(source, destination, IpProtocol.Tcp, TypeOfService: tos, DontFragment: true), length);
        return packet;
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static InboxFrame Frame(byte[] packet, bool trusted = false) => new(packet, 0, packet.Length, FromLoopback: false, trusted);

    /// <summary>Runs the packets through the coalescer as the round does; each entry is what the stack got, with its run.</summary>
    private static List<(byte[] Packet, CoalescedRun Run)> Coalesce(bool trusted, params byte[][] packets)
    {
        var coalescer = new InboxCoalescer();
        var delivered = new List<(byte[], CoalescedRun)>();
        int i = 0;
        while (i < packets.Length)
        {
            InboxFrame lead = Frame(packets[i++], trusted);
            if (!coalescer.TryStart(lead))
            {
                delivered.Add((lead.Bytes.ToArray(), lead.Coalesced));
                continue;
            }
            while (i < packets.Length && coalescer.TryJoin(Frame(packets[i], trusted))) i++;
            InboxFrame handed = coalescer.Finish();
            delivered.Add((handed.Bytes.ToArray(), handed.Coalesced));
        }
        return delivered;
    }

    [Theory]
    [InlineData(false, false, 1448)]
    [InlineData(true, false, 1428)]
    [InlineData(false, true, 1448)]
    [InlineData(false, false, 1447)] // odd: every other payload lands at an odd offset of the merged one
    public void In_order_segments_of_one_flow_become_one_segment_with_the_payloads_in_order(bool v6, bool trusted, int mss)
    {
        byte[][] payloads = [Bytes(mss, 1), Bytes(mss, 2), Bytes(mss, 3), Bytes(700, 4)];
        var packets = new byte[4][];
        uint seq = 1000;
        for (int k = 0; k < 4; k++)
        {
            packets[k] = Segment(seq, payloads[k], k == 3 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack, v6: v6);
            seq += (uint)payloads[k].Length;
        }

        var (merged, run) = Assert.Single(Coalesce(trusted, packets));
        Assert.Equal(new CoalescedRun(4, mss), run);
        IPPacket ip = v6 ? new IPv6Packet(new PacketDotNet.Utils.ByteArraySegment(merged)) : new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(merged));
        if (ip is IPv4Packet v4) Assert.True(v4.ValidChecksum);
        Assert.Equal(merged.Length, ip.TotalLength);
        var tcp = ip.Extract<TcpPacket>();
        Assert.Equal(1000u, tcp.SequenceNumber);
        Assert.True(tcp.Push); // the last segment's PSH
        Assert.Equal(payloads.SelectMany(p => p).ToArray(), tcp.PayloadData);
    }

    [Fact]
    public void What_GRO_must_not_merge_goes_through_as_it_came_in_its_place()
    {
        byte[] p = Bytes(1000, 5);
        (string Why, byte[] Second)[] cases =
        [
            ("a gap (out of order)", Segment(2100, p)),
            ("another flow", Segment(2000, p, sourcePort: 5001)),
            ("FIN", Segment(2000, p, TcpFlags.Ack | TcpFlags.Fin)),
            ("RST", Segment(2000, p, TcpFlags.Ack | TcpFlags.Rst)),
            ("URG", Segment(2000, p, TcpFlags.Ack | TcpFlags.Urg, urgent: 10)),
            ("ECE", Segment(2000, p, TcpFlags.Ack | TcpFlags.Ece)),
            ("CWR", Segment(2000, p, TcpFlags.Ack | TcpFlags.Cwr)),
            ("another ACK number", Segment(2000, p, ack: 778)),
            ("another window", Segment(2000, p, window: 501)),
            ("another timestamp (options differ)", Segment(2000, p, timestamp: 43)),
            ("no timestamp (option length differs)", Segment(2000, p, timestamp: null)),
            ("a CE mark (TOS differs)", Segment(2000, p, tos: 3)),
            ("a pure ACK", Segment(2000, [])),
        ];
        foreach (var (why, second) in cases)
        {
            byte[] first = Segment(1000, p);
            var delivered = Coalesce(trusted: true, first, second);
            Assert.True(delivered.Count == 2, why);
            Assert.Equal(first, delivered[0].Packet);
            Assert.Equal(second, delivered[1].Packet);
            Assert.Equal(default, delivered[0].Run);
        }
        // A SYN, a FIN or a pushed segment does not start a run either.
        foreach (TcpFlags flags in new[] { TcpFlags.Syn, TcpFlags.Ack | TcpFlags.Fin, TcpFlags.Ack | TcpFlags.Psh })
            Assert.Equal(2, Coalesce(true, Segment(1000, p, flags), Segment(2000, p)).Count);
    }

    [Fact]
    public void A_pushed_segment_ends_the_run_it_joined()
    {
        byte[] a = Segment(1000, Bytes(500, 1)), pushed = Segment(1500, Bytes(500, 2), TcpFlags.Ack | TcpFlags.Psh), after = Segment(2000, Bytes(500, 3));
        var delivered = Coalesce(true, a, pushed, after);
        Assert.Equal(2, delivered.Count);
        Assert.Equal(new CoalescedRun(2, 500), delivered[0].Run);
        Assert.Equal(after, delivered[1].Packet);
    }

    [Fact]
    public void Two_flows_interleaved_in_runs_have_each_run_merged_and_the_order_within_a_flow_kept()
    {
        byte[] a1 = Segment(1000, Bytes(1000, 1)), a2 = Segment(2000, Bytes(1000, 2));
        byte[] b1 = Segment(50, Bytes(1000, 3), sourcePort: 6000), b2 = Segment(1050, Bytes(1000, 4), sourcePort: 6000);
        byte[] a3 = Segment(3000, Bytes(1000, 5)), a4 = Segment(4000, Bytes(1000, 6));
        var delivered = Coalesce(true, a1, a2, b1, b2, a3, a4);
        Assert.Equal(3, delivered.Count);
        Assert.All(delivered, d => Assert.Equal(new CoalescedRun(2, 1000), d.Run));
        var tcp = delivered.Select(d => new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(d.Packet)).Extract<TcpPacket>()).ToList();
        Assert.Equal([1000u, 50u, 3000u], tcp.Select(t => t.SequenceNumber));
        Assert.Equal([5000, 6000, 5000], tcp.Select(t => (int)t.SourcePort));
        Assert.Equal([.. Bytes(1000, 1), .. Bytes(1000, 2)], tcp[0].PayloadData);
    }

    [Fact]
    public void A_short_segment_ends_the_run()
    {
        byte[] a = Segment(1000, Bytes(1000, 1)), b = Segment(2000, Bytes(500, 2)), c = Segment(2500, Bytes(1000, 3));
        var delivered = Coalesce(true, a, b, c);
        Assert.Equal(2, delivered.Count);
        Assert.Equal(new CoalescedRun(2, 1000), delivered[0].Run);
        Assert.Equal(c, delivered[1].Packet);
    }

    [Fact]
    public void A_segment_with_a_bad_checksum_is_never_merged_and_reaches_the_stack_to_be_counted()
    {
        byte[] good = Segment(1000, Bytes(1000, 1)), bad = Segment(2000, Bytes(1000, 2)), next = Segment(3000, Bytes(1000, 3));
        bad[^1] ^= 0xFF; // payload corrupted: the TCP checksum no longer holds
        var delivered = Coalesce(trusted: false, good, bad, next);
        Assert.Equal(3, delivered.Count);
        Assert.Equal(bad, delivered[1].Packet);

        // On a link that vouches for TCP checksums the IPv4 header checksum is still checked: only the first header is kept.
        byte[] badHeader = Segment(2000, Bytes(1000, 2));
        badHeader[8] ^= 0x01; // TTL, without fixing the header checksum
        Assert.Equal(2, Coalesce(trusted: true, good, badHeader).Count);
        byte[] badLead = Segment(2000, Bytes(1000, 2));
        badLead[10] ^= 0xFF; // the header checksum itself: the run's first header, the one a merged packet would keep
        Assert.Equal(2, Coalesce(trusted: true, badLead, next).Count);
    }

    [Fact]
    public void A_merged_segment_stays_within_64_KiB()
    {
        var packets = new byte[50][];
        for (int k = 0; k < packets.Length; k++) packets[k] = Segment(1000 + (uint)(k * 1448), Bytes(1448, k));
        var delivered = Coalesce(true, packets);
        Assert.Equal(2, delivered.Count);
        Assert.All(delivered, d => Assert.True(d.Packet.Length <= 65535));
        Assert.Equal(50, delivered.Sum(d => d.Run.Count));
    }

    [Fact]
    public void Two_stacks_with_coalescing_move_data_intact_with_fewer_frames_and_ACK_a_run_of_two_full_segments_at_once()
    {
        const int Bytes = 400_000;
        long FramesFor(bool coalesce)
        {
            using var pair = new StackPair(configure: o => o with { CoalesceReceivedSegments = coalesce });
            var settings = new TcpSettings { SendBufferSize = 256 * 1024, ReceiveBufferSize = 256 * 1024 };
            var (client, server) = pair.ConnectTcp(settings: settings);
            byte[] data = InboxCoalescerTests.Bytes(Bytes, 9);
            Task sent = client.SendAsync(data);
            Assert.Equal(data, pair.ReadExactly(server, Bytes));
            pair.Scheduler.Await(sent);
            Assert.Equal(0, pair.A.TcpCounters.Timeouts);
            Assert.Equal(0, pair.A.TcpCounters.SegmentsRetransmitted);
            return pair.A.GetStats().FramesOut + pair.B.GetStats().FramesOut;
        }
        long plain = FramesFor(coalesce: false), coalesced = FramesFor(coalesce: true);
        Assert.True(coalesced < plain, $"{coalesced} frames with coalescing, {plain} without");

        // Two full segments in one round: one merged segment, ACKed at once (the MSS estimate is the segments', not the
        // merged length), not after the delayed-ACK timeout.
        using var two = new StackPair(configure: o => o with { CoalesceReceivedSegments = true });
        var (c, s) = two.ConnectTcp();
        int mss = two.Scheduler.Await(c.GetInfoAsync()).MaxSegmentSize;
        long acksBefore = two.B.GetStats().FramesOut;
        Task sending = c.SendAsync(new byte[2 * mss]);
        two.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(5).Ticks); // far below the delayed-ACK timeout
        Assert.True(sending.IsCompleted);
        Assert.Equal(1, two.B.GetStats().FramesOut - acksBefore);
        Assert.Equal(0, two.Scheduler.Await(c.GetInfoAsync()).BytesInFlight);
        Assert.Equal(2 * mss, two.ReadExactly(s, 2 * mss).Length);
    }
}
