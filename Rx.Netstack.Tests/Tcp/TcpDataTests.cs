using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpHandshakeTests;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

public class TcpDataTests
{
    private static byte[] Bytes(int n, int seed = 0) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 + seed)).ToArray();

    [Fact]
    public void Data_is_sent_at_once_and_the_RTO_is_cancelled_by_the_ACK()
    {
        var c = EstablishedClient();
        TcbState established = c.Snapshot();
        var data = Bytes(100);
        c.Do(20, t => Assert.Equal(100, t.Send(data)));
        c.Expect(20, Check.Flags(TcpFlags.Ack | TcpFlags.Psh), Check.Seq(1001), Check.Ack(3001), Check.Payload(data));
        c.Sanity(established.With(new
        {
            Sender = new
            {
                Nxt = 1101u,
                Max = 1101u,
                ProbeHigh = 1101u,
                ShortEnd = 1101u, // a short segment is in flight: Nagle holds the next short one until it is acknowledged
                Buffer = new { Count = 100, Allocated = true }, // kept until acknowledged
                BytesSent = 100L,
                RttTiming = true, // RFC 6298 §3 without timestamps: this segment is timed
                RttTimedEnd = 1101u,
                RttTimedAt = At(20),
            },
            Timers = new { Retransmit = At(20 + 200) }, // RFC 6298 §5.1: RTO = 200 ms (the MinRto) after a 10 ms SYN sample
        }));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1101));
        c.Sanity(established.With(new
        {
            Sender = new
            {
                Una = 1101u,
                Nxt = 1101u,
                Max = 1101u,
                ProbeHigh = 1101u,
                ShortEnd = 1101u,
                BufferStart = 1101u,
                Wl1 = 3001u,
                Wl2 = 1101u,
                BytesSent = 100L,
                RttTimedEnd = 1101u, // the sample was taken: timing stopped
                RttTimedAt = At(20),
            },
            Receiver = new { LastReceivedAt = At(30) },
            Rtt = new { RttVariance = Ms(3.75) }, // RFC 6298 §2.3: ¾·5 ms + ¼·|10 − 10|
            Recovery = new { LastDelivered = 100L }, // the ACK's DeliveredData (RFC 9937 §6.2), kept for an ECE on it
        }));
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).BytesInFlight);
        Assert.True(c.Tcb.PollAt.IsNever);
        Assert.False(c.Tcb.HoldsBuffers); // drained and idle: the send ring went back to the pool
        c.ExpectNothing(100_000);
    }

    [Fact]
    public void Unacknowledged_data_is_retransmitted_with_exponential_back_off_then_times_out()
    {
        var c = EstablishedClient(settings: PlainSettings with { MaxRetries = 3 });
        var data = Bytes(100);
        c.Do(20, t => t.Send(data));
        c.Expect(20, Check.Seq(1001), Check.Payload(data));
        TcbState sent = c.Snapshot();
        // RTT 10 ms from the handshake gives RTO = max(MinRto 200 ms, 10 + 4·5) = 200 ms, then doubling.
        c.ExpectNothing(219);
        c.Expect(220, Check.Seq(1001), Check.Payload(data));
        TcbState firstTimeout = sent.With(new
        {
            Sender = new
            {
                Retries = 1,
                SegmentsRetransmitted = 1L,
                RttTiming = false, // Karn's rule (RFC 6298 §3): a resent segment gives no sample
            },
            Timers = new { Retransmit = At(220 + 400) },
            Rtt = new { BackoffCount = 1, Rto = Ms(400) }, // RFC 6298 §5.5: back off
            // RFC 5681 §3.1: ssthresh = max(FlightSize / 2, 2·SMSS), cwnd = the loss window, one segment.
            Congestion = new { CongestionWindow = 1460, SlowStartThreshold = 2 * 1460 },
            // RFC 6582 §3.2 step 1: no fast recovery for losses from before the timeout.
            // The timeout also begins an episode that D-SACK or timestamps may later find needless (RFC 3708, RFC 3522).
            Recovery = new
            {
                RecoverPoint = 1101u,
                HighRxt = 1001u,
                Undo = new { Active = true, Marker = 1001u, End = 1101u, Retransmissions = 1, SawRetransmission = true, EifelPending = true },
            },
        });
        c.Sanity(firstTimeout);
        c.ExpectNothing(619);
        c.Expect(620, Check.Seq(1001), Check.Payload(data));
        c.Sanity(firstTimeout.With(new
        {
            Sender = new { Retries = 2, SegmentsRetransmitted = 2L },
            Timers = new { Retransmit = At(620 + 800) },
            Recovery = new { Undo = new { Retransmissions = 2 } },
            Rtt = new { BackoffCount = 2, Rto = Ms(800) }, // the same segment timed out again: ssthresh stays (RFC 5681 §3.1)
        }));
        c.ExpectNothing(1419);
        c.Expect(1420, Check.Seq(1001), Check.Payload(data));
        c.ExpectNothing(3019);
        Assert.Equal(TcpState.Established, c.Tcb.State);
        c.AdvanceTo(At(3020));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
        Assert.Equal(TcpError.TimedOut, c.Tcb.Error);
        Assert.Equal(-1, c.Tcb.Send([1]));
        Assert.Equal(3, c.Context.Counters.SegmentsRetransmitted);
    }

    [Fact]
    public void A_soft_ICMP_error_is_reported_when_the_connection_times_out()
    {
        var c = EstablishedClient(settings: PlainSettings with { MaxRetries = 1 });
        c.Do(20, t => t.Send([1]));
        c.Expect(20, Check.Seq(1001), Check.PayloadLength(1));
        c.Do(21, t => t.OnIcmpError(TcpError.HostUnreachable));
        Assert.Equal(TcpState.Established, c.Tcb.State);
        c.Expect(220, Check.Seq(1001), Check.PayloadLength(1)); // the one retransmission MaxRetries allows
        c.ExpectNothing(10_000);
        Assert.Equal(TcpError.HostUnreachable, c.Tcb.Error);
    }

    [Fact]
    public void An_ICMP_unreachable_fails_a_connection_in_SYN_SENT_at_once_as_Linux_does()
    {
        var c = Client();
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Do(5, t => t.OnIcmpError(TcpError.NetworkUnreachable));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
        Assert.Equal(TcpError.NetworkUnreachable, c.Tcb.Error);
        c.ExpectNothing(10_000); // no SYN retransmission after the abort
    }

    [Fact]
    public void Delayed_ACK_waits_40_ms_but_every_second_full_segment_is_acknowledged_at_once()
    {
        var c = EstablishedClient();
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), Bytes(100));
        c.ExpectNothing(59);
        c.Expect(60, Check.Flags(TcpFlags.Ack), Check.Ack(3101));
        c.Send(100, Seg(TcpFlags.Ack, 3101, 1001), Bytes(1460));
        c.ExpectNothing(100.5);
        c.Send(101, Seg(TcpFlags.Ack, 4561, 1001), Bytes(1460));
        c.Expect(101, Check.Flags(TcpFlags.Ack), Check.Ack(6021));
        c.ExpectNothing(1000);
        var buf = new byte[4000];
        Assert.Equal(3020, c.Tcb.Receive(buf));
    }

    [Fact]
    public void Out_of_order_data_is_acknowledged_at_once_and_joined_when_the_gap_fills()
    {
        var c = EstablishedClient();
        var first = Bytes(500, 1);
        var second = Bytes(500, 2);
        c.Send(20, Seg(TcpFlags.Ack, 3501, 1001), second);
        c.Expect(20, Check.Flags(TcpFlags.Ack), Check.Ack(3001));
        Assert.Equal(0, c.Tcb.ReceiveAvailable);
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1001), first);
        c.Expect(30, Check.Flags(TcpFlags.Ack), Check.Ack(4001));
        var buf = new byte[2000];
        Assert.Equal(1000, c.Tcb.Receive(buf));
        Assert.Equal(first.Concat(second).ToArray(), buf[..1000]);
        Assert.Equal(1, c.Context.Counters.OutOfOrderSegments);
    }

    [Fact]
    public void Old_duplicate_data_is_answered_with_an_ACK_and_not_delivered_twice()
    {
        var c = EstablishedClient();
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), Bytes(100));
        c.Expect(60, Check.Ack(3101));
        c.Send(70, Seg(TcpFlags.Ack, 3001, 1001), Bytes(100));
        c.Expect(70, Check.Flags(TcpFlags.Ack), Check.Ack(3101));
        Assert.Equal(100, c.Tcb.ReceiveAvailable);
    }

    [Fact]
    public void Fast_retransmit_after_three_duplicate_ACKs()
    {
        var c = EstablishedClient();
        var data = Bytes(5 * 1460);
        c.Do(20, t => Assert.Equal(data.Length, t.Send(data)));
        for (int i = 0; i < 5; i++)
            c.Expect(20, Check.Seq((uint)(1001 + i * 1460)), Check.PayloadLength(1460));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1001));
        c.Send(31, Seg(TcpFlags.Ack, 3001, 1001));
        c.ExpectNothing(31);
        c.Send(32, Seg(TcpFlags.Ack, 3001, 1001));
        c.Expect(32, Check.Seq(1001), Check.Payload(data[..1460]));
        Assert.True(c.Tcb.GetInfo(c.Now).InRecovery);
        c.Send(40, Seg(TcpFlags.Ack, 3001, 1001 + 5 * 1460));
        Assert.False(c.Tcb.GetInfo(c.Now).InRecovery);
        Assert.Equal(1, c.Context.Counters.FastRetransmits);
        c.ExpectNothing(10_000);
    }

    [Fact]
    public void NewReno_partial_ACK_retransmits_the_next_hole_at_once()
    {
        var c = EstablishedClient();
        var data = Bytes(6 * 1460);
        c.Do(20, t => t.Send(data));
        Assert.Equal(6, c.TakeAll(20).Count);
        for (int i = 0; i < 3; i++) c.Send(30 + i, Seg(TcpFlags.Ack, 3001, 1001));
        c.Expect(32, Check.Seq(1001));
        // Segments 1 and 3 were lost: the ACK after the first repair stops at segment 3.
        c.Send(50, Seg(TcpFlags.Ack, 3001, 1001 + 2 * 1460));
        c.Expect(50, Check.Seq(1001 + 2 * 1460), Check.PayloadLength(1460));
        c.Send(60, Seg(TcpFlags.Ack, 3001, 1001 + 6 * 1460));
        Assert.False(c.Tcb.GetInfo(c.Now).InRecovery);
    }

    [Fact]
    public void Nagle_holds_a_small_segment_while_data_is_unacknowledged()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Send(Bytes(10)));
        c.Expect(20, Check.PayloadLength(10));
        c.Do(21, t => t.Send(Bytes(10, 5)));
        c.ExpectNothing(29);
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1011));
        c.Expect(30, Check.Seq(1011), Check.Payload(Bytes(10, 5)));
    }

    [Fact]
    public void Nagle_lets_the_short_tail_of_a_write_follow_full_segments_and_holds_the_next_short_one()
    {
        // Minshall's variant (as Linux): only an unacknowledged *short* segment holds back another.
        var c = EstablishedClient();
        c.Do(20, t => t.Send(Bytes(1460 + 500)));
        c.Expect(20, Check.Seq(1001), Check.PayloadLength(1460));
        c.Expect(20, Check.Seq(2461), Check.PayloadLength(500)); // the classic rule held it for the peer's (delayed) ACK
        c.Do(21, t => t.Send(Bytes(10, 7)));
        c.ExpectNothing(24);
        c.Send(25, Seg(TcpFlags.Ack, 3001, 2461)); // the full segment is acknowledged, the short one is not: still held
        c.ExpectNothing(29);
        c.Send(30, Seg(TcpFlags.Ack, 3001, 2961));
        c.Expect(30, Check.Seq(2961), Check.Payload(Bytes(10, 7)));
        c.ExpectNothing(40);
    }

    [Fact]
    public void NoDelay_sends_small_segments_at_once()
    {
        var c = EstablishedClient(settings: PlainSettings with { NoDelay = true });
        c.Do(20, t => t.Send(Bytes(10)));
        c.Expect(20, Check.PayloadLength(10));
        c.Do(21, t => t.Send(Bytes(10, 5)));
        c.Expect(21, Check.Seq(1011), Check.PayloadLength(10));
    }

    [Fact]
    public void Sending_never_goes_beyond_the_peers_window()
    {
        var c = EstablishedClient(window: 2000);
        c.Do(20, t => t.Send(Bytes(5000)));
        c.Expect(20, Check.Seq(1001), Check.PayloadLength(1460));
        // 540 more bytes would fit in the window, but Nagle holds a short segment while data is unacknowledged.
        c.ExpectNothing(25);
        c.Send(30, Seg(TcpFlags.Ack, 3001, 2461, 2000));
        c.Expect(30, Check.Seq(2461), Check.PayloadLength(1460));
        c.ExpectNothing(35);
        // The window is now exactly full; a zero window would be probed, a full one is just waited on.
        c.Send(40, Seg(TcpFlags.Ack, 3001, 3921, 2000));
        c.Expect(40, Check.Seq(3921), Check.PayloadLength(1460));
        c.Send(50, Seg(TcpFlags.Ack, 3001, 5381, 2000));
        c.Expect(50, Check.Seq(5381), Check.PayloadLength(620));
    }

    [Fact]
    public void Zero_window_is_probed_with_back_off_until_it_opens()
    {
        var c = EstablishedClient(window: 1000);
        c.Do(20, t => t.Send(Bytes(3000)));
        c.Expect(20, Check.Seq(1001), Check.PayloadLength(1000));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 2001, 0));
        c.ExpectNothing(229);
        // Persist timer: one byte of new data beyond the closed window, with back-off 200, 400, 800 ms.
        c.Expect(230, Check.Seq(2001), Check.PayloadLength(1));
        c.Send(235, Seg(TcpFlags.Ack, 3001, 2001, 0));
        c.ExpectNothing(629);
        c.Expect(630, Check.Seq(2001), Check.PayloadLength(1));
        c.Send(635, Seg(TcpFlags.Ack, 3001, 2001, 0));
        c.Expect(1430, Check.Seq(2001), Check.PayloadLength(1));
        // The window opens: sending resumes at once.
        c.Send(1500, Seg(TcpFlags.Ack, 3001, 2001, 1000));
        c.Expect(1500, Check.Seq(2001), Check.PayloadLength(1000));
        Assert.Equal(3, c.Context.Counters.ZeroWindowProbes);
        Assert.Equal(TcpState.Established, c.Tcb.State);
    }

    [Fact]
    public void A_probe_byte_the_peer_accepts_moves_the_stream_on()
    {
        var c = EstablishedClient(window: 1000);
        c.Do(20, t => t.Send(Bytes(1500)));
        c.Expect(20, Check.Seq(1001), Check.PayloadLength(1000));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 2001, 0));
        c.Expect(230, Check.Seq(2001), Check.PayloadLength(1));
        c.Send(240, Seg(TcpFlags.Ack, 3001, 2002, 1000));
        c.Expect(240, Check.Seq(2002), Check.PayloadLength(499));
    }

    [Fact]
    public void Reading_a_full_receive_buffer_sends_a_window_update()
    {
        var c = EstablishedClient(settings: PlainSettings with { ReceiveBufferSize = 4096 });
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), Bytes(1460));
        c.Send(21, Seg(TcpFlags.Ack, 4461, 1001), Bytes(1460));
        c.Expect(21, Check.Ack(5921), Check.Window(4096 - 2920));
        c.Send(22, Seg(TcpFlags.Ack, 5921, 1001), Bytes(1176));
        c.Expect(62, Check.Ack(7097), Check.Window(0));
        // Receiver SWS avoidance: reading a little does not reopen the window.
        var buf = new byte[4096];
        c.Do(70, t => Assert.Equal(100, t.Receive(buf.AsSpan(0, 100))));
        c.ExpectNothing(200);
        c.Do(210, t => Assert.Equal(3996, t.Receive(buf)));
        c.Expect(210, Check.Flags(TcpFlags.Ack), Check.Ack(7097), Check.Window(4096));
    }

    [Fact]
    public void Data_beyond_the_receive_window_is_cut_off()
    {
        var c = EstablishedClient(settings: PlainSettings with { ReceiveBufferSize = 1000 });
        c.Send(20, Seg(TcpFlags.Ack | TcpFlags.Fin, 3001, 1001), Bytes(1400));
        Assert.Equal(1000, c.Tcb.ReceiveAvailable);
        Assert.Equal(TcpState.Established, c.Tcb.State); // the FIN lay beyond the window too
    }

    [Fact]
    public void Packet_too_big_lowers_the_MSS_and_resends_in_smaller_segments()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Send(Bytes(1460)));
        c.Expect(20, Check.PayloadLength(1460));
        c.Do(25, t => Assert.True(t.OnPacketTooBig(1280, noDontFragment: false, c.Now)));
        c.Expect(25, Check.Seq(1001), Check.PayloadLength(1240));
        c.Expect(25, Check.Seq(2241), Check.PayloadLength(220));
        Assert.Equal(1240, c.Tcb.GetInfo(c.Now).MaxSegmentSize);
    }

    [Fact]
    public void The_peers_resend_that_fills_its_own_hole_sets_the_window_and_the_sender_keeps_inside_the_edge_it_advertised()
    {
        var c = EstablishedClient(window: 8760);
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001, 8760), Bytes(100));
        // The peer's next 100 bytes are lost; the 100 after them arrive out of order and are the latest segment: SND.WL1 = 3201.
        c.Send(21, Seg(TcpFlags.Ack, 3201, 1001, 8760), Bytes(100, 2));
        c.TakeAll(21); // the ACKs of both
        c.Do(30, t => Assert.Equal(1460, t.Send(Bytes(1460, 3))));
        c.Expect(30, Check.Seq(1001), Check.PayloadLength(1460));

        // The peer's resend fills its hole. It acknowledges our segment and offers two segments beyond it: the right edge is
        // 2461 + 2920 = 5381. Its sequence number is below SND.WL1, so the RFC 9293 test alone would keep the old window of
        // 8760, and SND.UNA moving on under it would put our edge at 11221.
        c.Send(40, Seg(TcpFlags.Ack, 3101, 2461, 2920), Bytes(100, 1));
        c.TakeAll(40); // its ACK
        c.Do(50, t => t.Send(Bytes(10_000, 4)));
        List<Emitted> sent = c.TakeAll(50).Where(e => e.Payload.Length > 0).ToList();
        Assert.Equal(2, sent.Count);
        Assert.Equal(5381u, sent.Max(e => e.Header.Sequence.Value + (uint)e.Payload.Length));
        Assert.Equal(2920, c.Tcb.GetInfo(c.Now).SendWindow);
    }
}
