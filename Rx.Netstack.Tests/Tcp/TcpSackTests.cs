using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

public class TcpSackTests
{
    private static TcpSettings Sack => PlainSettings with { EnableSack = true };

    private static TcpTestPeer SackClient()
    {
        var c = Client(1000, Sack);
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.SackPermitted(true));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = 1460 });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        return c;
    }

    [Fact]
    public void Receiver_reports_SACK_blocks_with_the_latest_segment_first()
    {
        var c = SackClient();
        var seg = new byte[100];
        c.Send(20, Seg(TcpFlags.Ack, 3201, 1001), seg);
        c.Expect(20, Check.Ack(3001), Check.SackBlocks((3201, 3301)));
        c.Send(21, Seg(TcpFlags.Ack, 3501, 1001), seg);
        c.Expect(21, Check.Ack(3001), Check.SackBlocks((3501, 3601), (3201, 3301)));
        c.Send(22, Seg(TcpFlags.Ack, 3301, 1001), seg); // joins the first block
        c.Expect(22, Check.Ack(3001), Check.SackBlocks((3201, 3401), (3501, 3601)));
        c.Send(23, Seg(TcpFlags.Ack, 3001, 1001), new byte[200]);
        c.Expect(23, Check.Ack(3401), Check.SackBlocks((3501, 3601)));
        c.Send(24, Seg(TcpFlags.Ack, 3401, 1001), seg);
        c.Expect(24, Check.Ack(3601), Check.SackBlocks());
    }

    [Fact]
    public void Receiver_keeps_and_reports_more_holes_than_a_fixed_table_of_32_held()
    {
        // A 60 KiB buffer tracks up to 57 holes (SequenceRangeSet.CapacityForWindow); a fixed 32 used to drop the 33rd
        // out-of-order segment on, unreported, and the peer had to send it again.
        var c = Client(1000, Sack with { ReceiveBufferSize = 60 * 1024 });
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.SackPermitted(true));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { SackPermitted = true, MaxSegmentSize = 1460 });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        const int Holes = 50;
        byte[] Bytes(int offset, int length) => Enumerable.Range(offset, length).Select(i => (byte)(i * 7)).ToArray();
        for (int i = 0; i < Holes; i++)
        {
            uint left = (uint)(3101 + 200 * i);
            c.Send(20, Seg(TcpFlags.Ack, left, 1001), Bytes(100 + 200 * i, 100));
            c.Expect(20, Check.Ack(3001), Check.FirstSackBlock(left, left + 100));
        }
        Assert.Equal(0, c.Context.Counters.OutOfOrderDropped);
        // The holes, first to last: each fill takes the cumulative ACK to the next hole, and the last one to the end.
        for (int i = 0; i < Holes; i++)
        {
            c.Send(30, Seg(TcpFlags.Ack, (uint)(3001 + 200 * i), 1001), Bytes(200 * i, 100));
            c.Expect(30, Check.Ack((uint)(3201 + 200 * i)));
        }
        var buf = new byte[200 * Holes];
        Assert.Equal(buf.Length, c.Tcb.Receive(buf));
        Assert.Equal(Bytes(0, buf.Length), buf);
    }

    [Fact]
    public void Receiver_counts_an_out_of_order_segment_beyond_the_holes_it_tracks_as_dropped_and_takes_it_again()
    {
        // The default 16 KiB buffer tracks 32 holes; 1-byte segments with 1-byte gaps (what no honest sender does) open a
        // 33rd. It is not kept and not SACKed, but counted; the bytes arrive whole once resent.
        var c = SackClient();
        for (int i = 0; i < 40; i++)
        {
            c.Send(20, Seg(TcpFlags.Ack, (uint)(3002 + 2 * i), 1001), [(byte)(2 * i + 1)]);
            c.Expect(20, Check.Ack(3001));
        }
        Assert.Equal(32, c.Context.Counters.OutOfOrderSegments);
        Assert.Equal(8, c.Context.Counters.OutOfOrderDropped);
        byte[] all = Enumerable.Range(0, 80).Select(i => (byte)i).ToArray();
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1001), all);
        // The 32 bytes held are duplicates (RFC 2883 §4): a D-SACK for the first, then eight more waiting behind it, each
        // in an ACK of its own (TcpReceiver.MaxQueuedDuplicateSacks); the rest go unreported.
        for (uint i = 0; i <= TcpReceiver.MaxQueuedDuplicateSacks; i++)
            c.Expect(30, Check.Ack(3081), Check.SackBlocks((3002 + 2 * i, 3003 + 2 * i)));
        c.ExpectNothing(30);
        var buf = new byte[100];
        Assert.Equal(80, c.Tcb.Receive(buf));
        Assert.Equal(all, buf[..80]);
    }

    [Theory]
    [InlineData(false, 1, 1460 - 12)] // one block: 2 + 8 bytes, padded to 12
    [InlineData(false, 4, 1460 - 36)] // four blocks fill 34 of the 40 bytes of option space
    [InlineData(true, 1, 1460 - 20)] // timestamps 10 + one block 10
    [InlineData(true, 5, 1460 - 36)] // with timestamps only three of five ranges fit: 10 + 2 + 24
    public void Data_carrying_SACK_blocks_carries_that_much_less_payload(bool timestamps, int ranges, int expectedPayload)
    {
        // RFC 6691: the MSS counts options; the segment size comes from the header the wire layer would write.
        var c = Client(1000, Sack with { EnableTimestamps = timestamps });
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with
        {
            SackPermitted = true,
            MaxSegmentSize = 1460,
            HasTimestamps = timestamps,
            TimestampValue = 7,
        });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        for (int i = 0; i < ranges; i++)
        {
            c.Send(20, Seg(TcpFlags.Ack, (uint)(3101 + 200 * i), 1001) with { HasTimestamps = timestamps, TimestampValue = 8 }, new byte[100]);
            c.Expect(20, Check.Ack(3001), Check.Timestamps(timestamps));
        }
        c.Do(30, t => t.Send(new byte[3000]));
        var first = c.Expect(30, Check.Seq(1001), Check.PayloadLength(expectedPayload));
        Assert.Equal(Math.Min(ranges, timestamps ? 3 : 4), first.Header.SackBlockCount);
        // The wire layer writes exactly what was counted: MSS + 20 bytes of header.
        Assert.Equal(1460 + TcpHeader.MinHeaderLength, first.Header.Length + first.Payload.Length);
        // A second full segment of the same size, and the short rest at once: only full segments are unacknowledged (Nagle
        // in Minshall's variant) …
        c.Expect(30, Check.Seq(1001 + (uint)expectedPayload), Check.PayloadLength(expectedPayload));
        c.Expect(30, Check.Seq(1001 + 2 * (uint)expectedPayload), Check.PayloadLength(3000 - 2 * expectedPayload));
        if (timestamps)
            c.ExpectNothing(100); // … with no RTT sample yet (the SYN-ACK echoed no timestamp), so no probe timeout either
        else // … then the tail loss probe (RFC 8985 §7.3), 2 × SRTT (10 ms, the handshake's) later, resends the last MSS sent
            c.Expect(50, Check.Seq(1001 + 3000 - (uint)expectedPayload), Check.PayloadLength(expectedPayload));
    }

    [Fact]
    public void Sender_repairs_every_SACKed_hole_once_and_never_resends_SACKed_data()
    {
        var c = SackClient();
        var data = new byte[10 * 1460];
        new Random(1).NextBytes(data);
        c.Do(20, t => Assert.Equal(data.Length, t.Send(data)));
        Assert.Equal(10, c.TakeAll(20).Count);
        uint S(int i) => (uint)(1001 + i * 1460);
        // Segments 0, 3 and 6 were lost. The receiver SACKs what arrived.
        TcpHeader Ack((uint, uint)[] blocks)
        {
            var h = Seg(TcpFlags.Ack, 3001, 1001);
            foreach (var (l, r) in blocks) h.AddSackBlock(new SackBlock(new SeqNumber(l), new SeqNumber(r)));
            return h;
        }
        c.Send(30, Ack([(S(1), S(3))]));
        c.ExpectNothing(30); // two segments SACKed above segment 0: not yet more than (DupThresh − 1)·SMSS
        // Four segments SACKed above segment 0: IsLost (RFC 6675 §4), recovery starts on this second duplicate ACK.
        c.Send(31, Ack([(S(4), S(6)), (S(1), S(3))]));
        c.Expect(31, Check.Seq(S(0)), Check.PayloadLength(1460));
        var sent = new List<Emitted> { new(At(31), Seg(TcpFlags.Ack, S(0)), data[..1460]) };
        c.Send(32, Ack([(S(7), S(8)), (S(4), S(6)), (S(1), S(3))]));
        sent.AddRange(c.TakeAll(32));
        Assert.Contains(sent, e => e.Header.Sequence.Value == S(3));
        c.Send(33, Ack([(S(7), S(10)), (S(4), S(6)), (S(1), S(3))]));
        sent.AddRange(c.TakeAll(33));
        foreach (Emitted e in sent)
        {
            uint seq = e.Header.Sequence.Value;
            Assert.True(seq == S(0) || seq == S(3) || seq == S(6), $"resent SACKed data: {e}");
            Assert.Equal(1460, e.Payload.Length);
            Assert.Equal(data.AsSpan((int)(seq - 1001), 1460).ToArray(), e.Payload);
        }
        Assert.Equal(3, sent.Count);
        Assert.Equal(3, sent.Select(e => e.Header.Sequence).Distinct().Count());
        c.Send(50, Seg(TcpFlags.Ack, 3001, S(10)));
        Assert.False(c.Tcb.GetInfo(c.Now).InRecovery);
        Assert.Equal(3, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);
    }

    [Fact]
    public void Scoreboard_lost_boundary_follows_DupThresh()
    {
        var board = new SackScoreboard(16 * 1024);
        var una = new SeqNumber(1000);
        var high = new SeqNumber(20_000);
        Assert.Equal(una, board.LostBoundary(una, 1000));
        Assert.True(board.Add(new SackBlock(new SeqNumber(2000), new SeqNumber(3000)), una, high));
        Assert.False(board.Add(new SackBlock(new SeqNumber(2000), new SeqNumber(2500)), una, high)); // nothing new
        Assert.Equal(una, board.LostBoundary(una, 1000)); // 1000 bytes above: not enough
        board.Add(new SackBlock(new SeqNumber(4000), new SeqNumber(5001)), una, high);
        // 2001 SACKed bytes > 2·SMSS: everything below the point with 2001 bytes above it is lost.
        Assert.Equal(new SeqNumber(2000), board.LostBoundary(una, 1000));
        Assert.True(board.TryNextLostHole(una, board.LostBoundary(una, 1000), 1460, out var start, out int len));
        Assert.Equal(una, start);
        Assert.Equal(1000, len);
        // Pipe: un-SACKed bytes not lost (3000–4000 and 5001–20000) plus none retransmitted.
        Assert.Equal(1000 + 14_999, board.Pipe(una, high, una, 1000));
        Assert.Equal(1000 + 14_999 + 1000, board.Pipe(una, high, new SeqNumber(2000), 1000));
        board.AckedTo(new SeqNumber(3000));
        Assert.Equal(1001, board.SackedBytes(new SeqNumber(3000)));
        Assert.Equal(0, board.UnsackedRun(new SeqNumber(4500), 100));
        Assert.Equal(1000, board.UnsackedRun(new SeqNumber(3000), 1460));
    }
}
