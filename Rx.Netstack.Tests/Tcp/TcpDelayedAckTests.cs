using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Delayed ACKs in a request/response exchange (RFC 1122 §4.2.3.2, RFC 9293 §3.8.6.3): the ACK of a request may wait up to
/// the delayed-ACK timeout (40 ms), so a response sent before then carries it and no pure ACK goes out. There is no
/// quick-ack phase at the start of a connection: the first request coalesces like every other.
/// </summary>
public class TcpDelayedAckTests
{
    private static byte[] Bytes(int n, int seed = 0) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 + seed)).ToArray();

    public static TheoryData<string> Setups => ["plain 16 KiB", "512 KiB, window scaling (a Linux client)", "512 KiB, no window scaling"];

    /// <summary>A server (ISN 5000) whose peer (ISN 7000) completed the handshake at 10 ms.</summary>
    private static TcpTestPeer EstablishedServer(string setup)
    {
        TcpHeader syn = Seg(TcpFlags.Syn, 7000) with { MaxSegmentSize = 1460 };
        TcpSettings settings = PlainSettings;
        switch (setup)
        {
            case "512 KiB, window scaling (a Linux client)":
                settings = PlainSettings with { EnableWindowScale = true, ReceiveBufferSize = 512 * 1024, SendBufferSize = 512 * 1024 };
                syn = syn with { WindowScale = 7 };
                break;
            case "512 KiB, no window scaling":
                settings = PlainSettings with { EnableWindowScale = true, ReceiveBufferSize = 512 * 1024, SendBufferSize = 512 * 1024 };
                break;
        }
        var s = Server(syn, 5000, settings);
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Window(Math.Min(settings.ReceiveBufferSize, 65535)));
        s.Send(10, Seg(TcpFlags.Ack, 7001, 5001, 512));
        Assert.Equal(TcpState.Established, s.Tcb.State);
        return s;
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public void A_response_sent_before_the_delayed_ACK_timer_carries_the_ACK_of_the_request(string setup)
    {
        var s = EstablishedServer(setup);
        var read = new byte[1000];
        uint peerSeq = 7001, ourSeq = 5001;
        for (int round = 0; round < 3; round++)
        {
            double t = 100 + round * 100;
            var request = Bytes(100, round);
            var response = Bytes(200, round + 10);
            s.Send(t, Seg(TcpFlags.Ack | TcpFlags.Psh, peerSeq, ourSeq, 512), request);
            peerSeq += 100;
            // The application reads the request at once and answers 5 ms later; nothing goes out in between.
            s.Do(t + 1, c => Assert.Equal(100, c.Receive(read)));
            Assert.Equal(request, read[..100]);
            s.ExpectNothing(t + 4.9);
            s.Do(t + 5, c => Assert.Equal(200, c.Send(response)));
            s.Expect(t + 5, Check.Flags(TcpFlags.Ack | TcpFlags.Psh), Check.Seq(ourSeq), Check.Ack(peerSeq), Check.Payload(response));
            ourSeq += 200;
            s.ExpectNothing(t + 50); // and no pure ACK after it either: the delayed ACK left with the data
            s.Send(t + 60, Seg(TcpFlags.Ack, peerSeq, ourSeq, 512));
            s.ExpectNothing(t + 99);
        }
        Assert.Equal(0, s.Context.Counters.WindowUpdates);
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public void Without_a_response_the_request_is_acknowledged_after_40_ms_with_the_whole_window(string setup)
    {
        var s = EstablishedServer(setup);
        s.Send(100, Seg(TcpFlags.Ack | TcpFlags.Psh, 7001, 5001, 512), Bytes(100));
        s.Do(101, c => Assert.Equal(100, c.Receive(new byte[1000])));
        s.ExpectNothing(139.9);
        var ack = s.Expect(140, Check.Flags(TcpFlags.Ack), Check.Seq(5001), Check.Ack(7101), Check.PayloadLength(0));
        // 16 KiB: the 100 bytes read are below the SWS threshold, so the right edge stays (RFC 9293 §3.8.6.2.2). 512 KiB: the
        // peer knew only the SYN's unscaled 65,535; now it learns the whole buffer (shift 4), or 65,535 without scaling.
        (int shift, int window) = setup switch
        {
            "plain 16 KiB" => (0, 16384 - 100),
            "512 KiB, no window scaling" => (0, 65535),
            _ => (4, 512 * 1024),
        };
        Assert.Equal(window, ack.Header.Window << shift);
        s.ExpectNothing(1000);
    }

    [Fact]
    public void A_request_of_two_full_segments_is_acknowledged_at_once_and_the_response_follows_alone()
    {
        var s = EstablishedServer("512 KiB, window scaling (a Linux client)");
        s.Send(100, Seg(TcpFlags.Ack, 7001, 5001, 512), Bytes(1460));
        s.ExpectNothing(100.5);
        s.Send(101, Seg(TcpFlags.Ack | TcpFlags.Psh, 8461, 5001, 512), Bytes(1460, 1));
        s.Expect(101, Check.Flags(TcpFlags.Ack), Check.Ack(9921), Check.PayloadLength(0)); // RFC 5681 §4.2: every second full segment
        s.Do(102, c => Assert.Equal(2920, c.Receive(new byte[4000])));
        s.Do(106, c => c.Send(Bytes(200)));
        s.Expect(106, Check.Flags(TcpFlags.Ack | TcpFlags.Psh), Check.Ack(9921), Check.PayloadLength(200));
        s.Send(116, Seg(TcpFlags.Ack, 9921, 5201, 512));
        s.ExpectNothing(1000);
    }

    [Fact]
    public void Out_of_order_data_and_a_FIN_are_still_acknowledged_at_once()
    {
        var s = EstablishedServer("512 KiB, window scaling (a Linux client)");
        s.Send(100, Seg(TcpFlags.Ack, 7101, 5001, 512), Bytes(100, 1));
        s.Expect(100, Check.Flags(TcpFlags.Ack), Check.Ack(7001)); // a duplicate ACK for the gap
        s.Send(110, Seg(TcpFlags.Ack, 7001, 5001, 512), Bytes(100));
        s.Expect(110, Check.Flags(TcpFlags.Ack), Check.Ack(7201)); // the gap filled
        s.Send(120, Seg(TcpFlags.Ack | TcpFlags.Fin, 7201, 5001, 512));
        s.Expect(120, Check.Flags(TcpFlags.Ack), Check.Ack(7202));
        Assert.Equal(TcpState.CloseWait, s.Tcb.State);
    }

    [Fact]
    public void Reading_opens_a_window_the_peer_nearly_filled_at_once_but_not_one_it_still_has_room_in()
    {
        var s = EstablishedServer("plain 16 KiB");
        var read = new byte[16384];
        // Two full segments: ACKed at once, window 16384 − 2920 (room for more than three segments).
        s.Send(100, Seg(TcpFlags.Ack, 7001, 5001, 512), Bytes(1460));
        s.Send(101, Seg(TcpFlags.Ack, 8461, 5001, 512), Bytes(1460, 1));
        s.Expect(101, Check.Ack(9921), Check.Window(16384 - 2920));
        // Reading them frees 2920 bytes (the SWS threshold), but the peer is not waiting for them: no update of its own.
        s.Do(110, c => Assert.Equal(2920, c.Receive(read)));
        s.ExpectNothing(500);
        // The peer fills the window up to 1,000 bytes: 10 full segments (ACKed every second one) and 784 bytes.
        uint seq = 9921;
        for (int i = 0; i < 10; i++, seq += 1460) s.Send(510 + i * 0.1, Seg(TcpFlags.Ack, seq, 5001, 512), Bytes(1460, i));
        s.Send(512, Seg(TcpFlags.Ack, seq, 5001, 512), Bytes(784));
        seq += 784;
        var acks = s.TakeAll(600);
        Assert.True(acks[^1].Header.Acknowledgment.Value == seq && acks[^1].Header.Window == 1000, $"last ACK {acks[^1]}");
        Assert.Equal(0, s.Context.Counters.WindowUpdates);
        // Now a read of the SWS threshold's worth is worth a pure ACK at once: the peer has only 1,000 bytes of room.
        s.Do(610, c => Assert.Equal(2920, c.Receive(read.AsSpan(0, 2920))));
        s.Expect(610, Check.Flags(TcpFlags.Ack), Check.Ack(seq), Check.Window(1000 + 2920), Check.PayloadLength(0));
        Assert.Equal(1, s.Context.Counters.WindowUpdates);
    }
}
