using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpHandshakeTests;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// The receiving side of a zero window (RFC 9293 §3.10.7.4): while RCV.WND — the window we advertised — is zero, a
/// zero-window probe at RCV.NXT has only its ACK processed; its byte is not taken and the answer is an ACK of the unchanged
/// RCV.NXT with window 0 (Linux drops the byte the same way). The byte arrives again, in order, once the window opens.
/// </summary>
public class TcpZeroWindowReceiveTests
{
    private static byte[] Bytes(int n, int seed = 0) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 + seed)).ToArray();

    /// <summary>A client with a 4 KiB receive buffer that the peer filled (3001..7097); we advertised window 0 at 62 ms.</summary>
    private static TcpTestPeer FullClient(byte[] stream)
    {
        var c = EstablishedClient(settings: PlainSettings with { ReceiveBufferSize = 4096 });
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), stream[..1460]);
        c.Send(21, Seg(TcpFlags.Ack, 4461, 1001), stream[1460..2920]);
        c.Expect(21, Check.Ack(5921), Check.Window(4096 - 2920));
        c.Send(22, Seg(TcpFlags.Ack, 5921, 1001), stream[2920..4096]);
        c.Expect(62, Check.Flags(TcpFlags.Ack), Check.Ack(7097), Check.Window(0));
        return c;
    }

    [Fact]
    public void A_probe_byte_is_not_taken_while_we_advertise_zero_even_after_the_reader_freed_a_little()
    {
        var stream = Bytes(4096 + 300);
        var c = FullClient(stream);
        var read = new byte[8192];

        // The reader takes 100 bytes: less than min(buffer/2, MSS), so receiver SWS avoidance keeps the window at 0
        // (RFC 9293 §3.8.6.2.2) — but 100 bytes of the buffer are free now.
        c.Do(70, t => Assert.Equal(100, t.Receive(read.AsSpan(0, 100))));
        c.ExpectNothing(200);

        // The peer's persist timer fires: one byte at RCV.NXT. Only its ACK is processed; the byte is dropped and we answer
        // at once with the unchanged RCV.NXT and our (still zero) window.
        c.Send(262, Seg(TcpFlags.Ack, 7097, 1001), stream[4096..4097]);
        c.Expect(262, Check.Flags(TcpFlags.Ack), Check.Seq(1001), Check.Ack(7097), Check.Window(0), Check.PayloadLength(0));
        c.ExpectNothing(600);
        Assert.Equal(3996, c.Tcb.ReceiveAvailable);

        // The backed-off second probe gets the same answer.
        c.Send(662, Seg(TcpFlags.Ack, 7097, 1001), stream[4096..4097]);
        c.Expect(662, Check.Flags(TcpFlags.Ack), Check.Ack(7097), Check.Window(0));
        Assert.Equal(3996, c.Tcb.ReceiveAvailable);

        // The application reads everything sent before the probe — exactly that — and the window update goes out at once.
        c.Do(700, t => Assert.Equal(3996, t.Receive(read.AsSpan(100))));
        Assert.Equal(stream[..4096], read[..4096]);
        c.Expect(700, Check.Flags(TcpFlags.Ack), Check.Ack(7097), Check.Window(4096));

        // The peer sends the probe byte again, in order with what follows: delivered once, byte for byte.
        c.Send(710, Seg(TcpFlags.Ack | TcpFlags.Psh, 7097, 1001), stream[4096..]);
        c.Expect(750, Check.Flags(TcpFlags.Ack), Check.Ack(7097 + 300));
        Assert.Equal(300, c.Tcb.Receive(read));
        Assert.Equal(stream[4096..], read[..300]);
        Assert.Equal(0, c.Tcb.ReceiveAvailable);
        c.ExpectNothing(2000);
    }

    [Fact]
    public void A_scaled_window_rounded_down_to_zero_takes_no_probe_byte_without_any_reading()
    {
        // 100,000 bytes of buffer need window scale 1: a window field counts 2 bytes, so an odd free space is advertised
        // one byte short. The peer fills what we advertise; one byte stays free while we say window 0.
        var settings = PlainSettings with { EnableWindowScale = true, ReceiveBufferSize = 100_000 };
        var s = Server(Seg(TcpFlags.Syn, 7000) with { MaxSegmentSize = 1460, WindowScale = 0 }, 5000, settings);
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.WindowScale(1), Check.Window(65535));
        s.Send(10, Seg(TcpFlags.Ack, 7001, 5001));
        var stream = Bytes(100_000);

        // The peer sends one byte, then full segments, never beyond the right edge it was told (ACK + window · 2).
        uint seq = 7001, edge = 7001 + 65535;
        double ms = 20;
        Emitted? last = null;
        while (true)
        {
            if (seq == edge)
            {
                foreach (Emitted e in s.TakeAll(ms += 50)) (last, edge) = (e, e.Header.Acknowledgment.Value + ((uint)e.Header.Window << 1));
                if (seq == edge) break;
            }
            int len = seq == 7001 ? 1 : (int)Math.Min(1460, edge - seq);
            s.Send(ms, Seg(TcpFlags.Ack, seq, 5001), stream[(int)(seq - 7001)..(int)(seq - 7001 + len)]);
            seq += (uint)len;
            foreach (Emitted e in s.TakeAll(ms)) (last, edge) = (e, e.Header.Acknowledgment.Value + ((uint)e.Header.Window << 1));
            ms += 1;
        }
        Assert.Equal(7001u + 99_999, seq);
        Assert.True(last!.Header.Window == 0 && last.Header.Acknowledgment.Value == seq, $"last ACK {last}");
        Assert.Equal(99_999, s.Tcb.ReceiveAvailable); // one byte of the buffer is free, but the window we advertised is 0

        s.Send(ms + 200, Seg(TcpFlags.Ack, seq, 5001), stream[99_999..]);
        s.Expect(ms + 200, Check.Flags(TcpFlags.Ack), Check.Ack(seq), Check.Window(0), Check.PayloadLength(0));
        Assert.Equal(99_999, s.Tcb.ReceiveAvailable);

        // Reading opens the window; the byte comes again and is delivered once.
        var read = new byte[100_000];
        s.Do(ms + 300, t => Assert.Equal(99_999, t.Receive(read)));
        s.Expect(ms + 300, Check.Flags(TcpFlags.Ack), Check.Ack(seq), Check.Window(50_000));
        s.Send(ms + 310, Seg(TcpFlags.Ack | TcpFlags.Psh, seq, 5001), stream[99_999..]);
        s.Expect(ms + 350, Check.Ack(seq + 1));
        Assert.Equal(1, s.Tcb.Receive(read.AsSpan(99_999)));
        Assert.Equal(stream, read);
    }

    [Fact]
    public void A_pure_ACK_at_the_right_edge_we_advertised_is_still_processed()
    {
        // The peer filled our window up to 1,176 bytes; the reader took 100 bytes since (too few to move the edge).
        var c = EstablishedClient(settings: PlainSettings with { ReceiveBufferSize = 4096 });
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), Bytes(1460));
        c.Send(21, Seg(TcpFlags.Ack, 4461, 1001), Bytes(1460, 1));
        c.Expect(21, Check.Ack(5921), Check.Window(1176));
        c.Do(30, t => Assert.Equal(100, t.Receive(new byte[100])));
        c.Do(40, t => t.Send(Bytes(100, 2)));
        c.Expect(40, Check.Seq(1001), Check.PayloadLength(100));

        // The peer sent its last 1,176 bytes and they were lost, so its ACKs carry SEQ = our right edge (its SND.MAX). Only
        // bytes are limited to the window we advertised; the ACK must count, or each side would ignore the other's ACKs.
        c.Send(50, Seg(TcpFlags.Ack, 7097, 1101));
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).BytesInFlight);
        c.Send(60, Seg(TcpFlags.Ack, 5921, 1101), Bytes(1176, 3));
        c.Expect(100, Check.Ack(7097));
        Assert.Equal(2920 - 100 + 1176, c.Tcb.ReceiveAvailable);
    }

    private sealed class Reader(int size) : IReadBufferClaim
    {
        public byte[] Buffer { get; } = new byte[size];
        public Memory<byte> ReadBuffer => Buffer;
        public bool CopiesOnOwnThread => false;
        public bool TryClaim() => true;
    }

    [Fact]
    public void A_probe_for_a_waiting_reader_is_not_placed_before_the_window_update_went_out()
    {
        var stream = Bytes(4096 + 1);
        var c = FullClient(stream);
        var read = new byte[4096];
        var reader = new Reader(1000);

        // In one pass: the application reads everything and waits with its own buffer, and the probe arrives before our
        // window update left. We still advertise 0, so the byte is neither placed nor buffered.
        c.Do(262, t =>
        {
            Assert.Equal(4096, t.Receive(read));
            t.OfferReadBuffer(reader);
            t.Process(c.Now, Seg(TcpFlags.Ack, 7097, 1001), stream.AsSpan(4096));
            Assert.Equal(0, t.TakeDirectRead(out _));
        });
        c.Expect(262, Check.Flags(TcpFlags.Ack), Check.Ack(7097), Check.Window(4096));
        Assert.Equal(0, c.Tcb.ReceiveAvailable);

        // Sent again into the open window, the byte goes straight to the reader.
        c.Send(272, Seg(TcpFlags.Ack, 7097, 1001), stream[4096..]);
        Assert.Equal(1, c.Tcb.TakeDirectRead(out var claimed));
        Assert.Same(reader, claimed);
        Assert.Equal(stream[4096], reader.Buffer[0]);
        c.Expect(312, Check.Ack(7098));
    }
}
