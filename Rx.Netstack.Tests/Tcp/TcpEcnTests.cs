using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Testing;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Explicit Congestion Notification (RFC 3168 §6.1): the handshake's negotiation both ways, ECT(0) on new data only, a CE
/// mark echoed as ECE until the sender's CWR, and the sender's window reduction once per window of data — as transcripts,
/// then over a link that marks instead of dropping (the sender slows down and nothing is resent).
/// </summary>
public sealed class TcpEcnTests
{
    private const int Mss = TcpTestPeer.Mss;
    private static uint S(int i) => (uint)(1001 + i * Mss);
    private static TcpSettings Ecn(bool on, CongestionControlAlgorithm cc = CongestionControlAlgorithm.NewReno) =>
        PlainSettings with { EnableEcn = on, CongestionControl = cc };

    [Theory]
    // ours, the SYN-ACK's ECE, its CWR → agreed
    [InlineData(true, true, false, true)]
    [InlineData(true, false, false, false)] // the peer does not do ECN
    [InlineData(true, true, true, false)]   // ECE and CWR on a SYN-ACK: a peer that reflects flags, not ECN (§6.1.1)
    [InlineData(false, true, false, false)] // we did not ask
    public void An_active_open_asks_with_ECE_and_CWR_and_agrees_on_a_SYN_ACK_with_ECE_alone(bool ours, bool ece, bool cwr, bool agreed)
    {
        var c = Client(1000, Ecn(ours));
        c.Expect(0, Check.Flags(ours ? TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr : TcpFlags.Syn), Check.EcnCapable(false));
        TcpFlags synAck = TcpFlags.Syn | TcpFlags.Ack | (ece ? TcpFlags.Ece : 0) | (cwr ? TcpFlags.Cwr : 0);
        c.Send(10, Seg(synAck, 3000, 1001) with { MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack), Check.EcnCapable(false)); // a pure ACK is never ECN-capable (§6.1.4)
        c.Do(20, t => t.Send(new byte[100]));
        c.Expect(20, Check.Seq(1001), Check.EcnCapable(agreed));
        c.ExpectNothing(219);
        c.Expect(220, Check.Seq(1001), Check.EcnCapable(false)); // a retransmission is not (§6.1.5)
    }

    [Theory]
    // ours, the SYN's ECE, its CWR → the SYN-ACK's ECE (agreed)
    [InlineData(true, true, true, true)]
    [InlineData(true, true, false, false)]  // ECE alone is no ECN-setup SYN
    [InlineData(true, false, false, false)]
    [InlineData(false, true, true, false)]  // we do not do ECN
    public void A_passive_open_answers_an_ECN_setup_SYN_with_ECE_alone(bool ours, bool ece, bool cwr, bool agreed)
    {
        TcpHeader syn = Seg(TcpFlags.Syn | (ece ? TcpFlags.Ece : 0) | (cwr ? TcpFlags.Cwr : 0), 3000) with { MaxSegmentSize = Mss };
        var s = Server(syn, 5000, Ecn(ours));
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack | (agreed ? TcpFlags.Ece : 0)), Check.EcnCapable(false));
        s.Send(10, Seg(TcpFlags.Ack, 3001, 5001));
        s.Do(20, t => t.Send(new byte[100]));
        s.Expect(20, Check.Seq(5001), Check.EcnCapable(agreed));
    }

    private static TcpTestPeer Agreed(CongestionControlAlgorithm cc = CongestionControlAlgorithm.NewReno)
    {
        var c = Client(1000, Ecn(true, cc));
        c.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, 3000, 1001) with { MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        return c;
    }

    [Fact]
    public void A_CE_mark_is_echoed_with_ECE_on_every_ACK_until_the_peer_sends_CWR()
    {
        var c = Agreed();
        var data = new byte[Mss]; // full segments: every second one is ACKed at once (RFC 5681 §4.2)
        static uint R(int i) => (uint)(3001 + i * Mss);
        c.Send(20, Seg(TcpFlags.Ack, R(0), 1001), data, congestionExperienced: true);
        c.Expect(20, Check.Flags(TcpFlags.Ack | TcpFlags.Ece), Check.Ack(R(1))); // at once, not delayed
        c.Send(30, Seg(TcpFlags.Ack, R(1), 1001), data);
        c.Send(31, Seg(TcpFlags.Ack, R(2), 1001), data);
        c.Expect(31, Check.Flags(TcpFlags.Ack | TcpFlags.Ece), Check.Ack(R(3))); // still echoing (§6.1.3)
        c.Send(40, Seg(TcpFlags.Ack | TcpFlags.Cwr, R(3), 1001), data);
        c.Send(41, Seg(TcpFlags.Ack, R(4), 1001), data);
        c.Expect(41, Check.Flags(TcpFlags.Ack), Check.Ack(R(5))); // the CWR ended the echo
        // A segment with both CWR and CE: the new mark is echoed again.
        c.Send(50, Seg(TcpFlags.Ack | TcpFlags.Cwr, R(5), 1001), data, congestionExperienced: true);
        c.Expect(50, Check.Flags(TcpFlags.Ack | TcpFlags.Ece), Check.Ack(R(6)));
        c.ExpectNothing(200);
        Assert.Equal(2, c.Context.Counters.CongestionMarksReceived);
    }

    [Fact]
    public void Without_agreement_CE_and_ECE_mean_nothing()
    {
        var c = Client(1000, Ecn(false));
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { MaxSegmentSize = Mss });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), new byte[Mss], congestionExperienced: true);
        c.Send(21, Seg(TcpFlags.Ack, (uint)(3001 + Mss), 1001), new byte[Mss]);
        c.Expect(21, Check.Flags(TcpFlags.Ack), Check.Ack((uint)(3001 + 2 * Mss)));
        c.Do(30, t => t.Send(new byte[2 * Mss]));
        Assert.Equal(2, c.TakeAll(30).Count);
        int before = c.Tcb.GetInfo(c.Now).SlowStartThreshold;
        c.Send(40, Seg(TcpFlags.Ack | TcpFlags.Ece, (uint)(3001 + 2 * Mss), S(1)));
        Assert.Equal(before, c.Tcb.GetInfo(c.Now).SlowStartThreshold);
        Assert.Equal(0, c.Context.Counters.CongestionEchoResponses);
    }

    [Theory]
    // NewReno: ssthresh = 8/2 = 4 segments, RecoverFS = 10; sends follow ⌈delivered · 4/10⌉ segments in all.
    [InlineData(CongestionControlAlgorithm.NewReno, false, 5840, new[] { 1, 1, 0, 0, 1, 0, 1, 0, 0 })]
    [InlineData(CongestionControlAlgorithm.NewReno, true, 5840, new[] { 1, 1, 0, 0, 1, 0, 1, 0, 0 })]
    // CUBIC: ssthresh = 0.7 · 8 = 5.6 segments; ⌈delivered · 5.6/10⌉, and the pipe (6) stays above 5.6 at the end.
    [InlineData(CongestionControlAlgorithm.Cubic, false, 8175, new[] { 2, 0, 1, 0, 1, 0, 1, 1, 0 })]
    [InlineData(CongestionControlAlgorithm.Cubic, true, 8175, new[] { 2, 0, 1, 0, 1, 0, 1, 1, 0 })]
    public void ECE_draws_cwnd_down_by_PRR_over_the_window_once_and_the_next_new_data_carries_CWR(
        CongestionControlAlgorithm cc, bool sack, int ssthresh, int[] expected)
    {
        var c = Client(1000, Ecn(true, cc) with { EnableSack = sack, EnableTailLossProbe = false, SendBufferSize = 64 * Mss });
        c.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, 3000, 1001) with { MaxSegmentSize = Mss, SackPermitted = sack });
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        c.Do(20, t => t.Send(new byte[40 * Mss]));
        Assert.Equal(10, c.TakeAll(20).Count); // the initial window, S0–S9
        Assert.Equal(int.MaxValue, c.Tcb.GetInfo(c.Now).SlowStartThreshold);

        // The peer ACKs two segments and echoes a mark; it keeps echoing on every ACK until the CWR reaches it (RFC 3168
        // §6.1.3), here on each ACK of one more segment up to S9. One reduction (RFC 3168 §6.1.2), paced by PRR (RFC 9937 §1:
        // any reduction, ECN's too): no step to ssthresh that silences the sender for half a round trip.
        var sends = new List<int>();
        var sent = new List<Emitted>();
        for (int k = 2; k <= 10; k++)
        {
            double at = 30 + (k - 2);
            c.Send(at, Seg(TcpFlags.Ack | TcpFlags.Ece, 3001, S(k)));
            List<Emitted> now = c.TakeAll(at);
            sends.Add(now.Count);
            sent.AddRange(now);
        }
        Assert.True(expected.SequenceEqual(sends), $"segments sent per ACK: expected {string.Join(",", expected)}, got {string.Join(",", sends)}");
        Assert.Equal(1, c.Context.Counters.CongestionEchoResponses); // the ECE on the ACK of S9 is the old mark's: ignored
        for (int i = 0; i < sent.Count; i++)
        {
            Assert.Equal(S(10 + i), sent[i].Header.Sequence.Value); // new data in order, nothing resent
            Assert.Equal(i == 0, sent[i].Header.Has(TcpFlags.Cwr)); // CWR on the first new data after the reduction only
            Assert.True(sent[i].EcnCapable);
        }
        var info = c.Tcb.GetInfo(c.Now);
        Assert.Equal(ssthresh, info.SlowStartThreshold);
        Assert.Equal(ssthresh, info.CongestionWindow); // the window in flight at the ECE is acknowledged: cwnd is ssthresh
        Assert.False(info.InRecovery);
        Assert.Equal(0, info.SegmentsRetransmitted);
        c.ExpectNothing(39);

        // The CWR arrived (no more ECE); a later mark, on an ACK past the reduced window, is a new congestion event.
        c.Send(40, Seg(TcpFlags.Ack, 3001, S(11)));
        c.TakeAll(40);
        c.Send(41, Seg(TcpFlags.Ack | TcpFlags.Ece, 3001, S(12)));
        Assert.Equal(2, c.Context.Counters.CongestionEchoResponses);
        Assert.True(c.Tcb.GetInfo(c.Now).SlowStartThreshold < ssthresh);
        Assert.True(c.TakeAll(41)[0].Header.Has(TcpFlags.Cwr));
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_link_that_marks_instead_of_dropping_slows_the_sender_without_a_loss(CongestionControlAlgorithm cc)
    {
        var settings = new TcpSettings { CongestionControl = cc, EnableEcn = true, SendBufferSize = 256 * 1024, ReceiveBufferSize = 256 * 1024 };
        var link = new ImpairmentOptions
        {
            Delay = TimeSpan.FromMilliseconds(10),
            BandwidthBytesPerSecond = 10_000_000,
            Loss = 0.02,
            CongestionMarking = true,
        };
        var data = new byte[2_000_000];
        new Random(9).NextBytes(data);

        (TcpPair Pair, TimeSpan Took) Run(ImpairmentOptions l)
        {
            var pair = new TcpPair(settings, settings, l, seed: 9);
            using var app = new StreamExchange(data, []);
            pair.Application = app.Run;
            Assert.True(pair.RunUntil(app.Done, TimeSpan.FromMinutes(5)));
            Assert.Equal(data, app.ReceivedByB);
            return (pair, pair.Now - default(Instant));
        }

        var (marked, tookMarked) = Run(link);
        var (clean, tookClean) = Run(link with { Loss = 0 });
        Assert.True(marked.CongestionMarks[0] > 0, "the link marked data");
        Assert.Equal(0, marked.LinkLosses[0]); // every data segment was ECN-capable: nothing was dropped…
        Assert.Equal(0, marked.RetransmittedBytes[0]); // …and nothing resent
        Assert.True(marked.ContextA.Counters.CongestionEchoResponses > 0);
        Assert.True(marked.A.GetInfo(marked.Now).SlowStartThreshold < int.MaxValue, "the sender left slow start on marks alone");
        Assert.True(tookMarked > tookClean, $"slowed down: {tookMarked} > {tookClean}");
        Assert.Equal(0, clean.ContextA.Counters.CongestionEchoResponses);
    }

    [Fact]
    public void Between_two_stacks_over_an_ImpairedLink_marks_reach_the_sender_in_IP_headers()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var options = new NetstackOptions { Tcp = new TcpSettings { EnableEcn = true } };
        var impairment = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(5), Loss = 0.05, CongestionMarking = true };
        Netstack a = network.AddStack("a", options with { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, impairment, seed: 3);
        Netstack b = network.AddStack("b", options with { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
        var listener = network.Run(b.ListenTcpAsync(9));
        byte[] data = new byte[300_000];
        new Random(3).NextBytes(data);
        network.Run(async () =>
        {
            await using var client = await a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.2:9"));
            await using var server = await listener.AcceptAsync();
            async Task SendAllAsync()
            {
                await client.SendAsync(data);
                await client.ShutdownWriteAsync();
            }
            Task send = SendAllAsync();
            var received = new MemoryStream();
            var buffer = new byte[16384];
            int n;
            while ((n = await server.ReadAsync(buffer)) > 0) received.Write(buffer, 0, n);
            await send;
            Assert.Equal(data, received.ToArray());
            var info = await client.GetInfoAsync();
            Assert.True(info.SlowStartThreshold < int.MaxValue, "the marks reached the sender as ECE");
        }, TimeSpan.FromMinutes(2));
        // The link's inbound side carries what a sends: its data was marked, only segments without data (not ECN-capable) dropped.
        ImpairmentCounters fromA = network.LinkOf("a")!.InboundCounters;
        Assert.True(fromA.Marked > 0, fromA.ToString());
        Assert.True(a.GetStats().TcpRetransmissions <= fromA.Lost + network.LinkOf("a")!.OutboundCounters.Lost,
            $"retransmissions {a.GetStats().TcpRetransmissions} only for dropped control segments or ACKs; {fromA}");
    }
}
