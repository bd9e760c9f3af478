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
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void ECE_reduces_the_window_once_per_window_and_the_next_new_data_carries_CWR(CongestionControlAlgorithm cc)
    {
        var c = Agreed(cc);
        c.Do(20, t => t.Send(new byte[12 * Mss]));
        int first = c.TakeAll(20).Count; // the initial window, 10 segments
        Assert.Equal(10, first);
        var before = c.Tcb.GetInfo(c.Now);
        Assert.Equal(int.MaxValue, before.SlowStartThreshold);

        // The first ACK echoes a mark: ssthresh and cwnd drop as for a loss (RFC 3168 §6.1.2), nothing is resent.
        c.Send(30, Seg(TcpFlags.Ack | TcpFlags.Ece, 3001, S(2)));
        var reduced = c.Tcb.GetInfo(c.Now);
        Assert.True(reduced.SlowStartThreshold < before.CongestionWindow, $"{reduced.SlowStartThreshold} < {before.CongestionWindow}");
        Assert.Equal(reduced.SlowStartThreshold, reduced.CongestionWindow);
        Assert.Equal(1, c.Context.Counters.CongestionEchoResponses);
        // More ECEs for the same window of data change nothing.
        c.Send(31, Seg(TcpFlags.Ack | TcpFlags.Ece, 3001, S(4)));
        c.Send(32, Seg(TcpFlags.Ack | TcpFlags.Ece, 3001, S(6)));
        Assert.Equal(1, c.Context.Counters.CongestionEchoResponses);
        Assert.Equal(reduced.SlowStartThreshold, c.Tcb.GetInfo(c.Now).SlowStartThreshold);
        // The first new data segment after the reduction carries CWR, the others do not.
        var sent = c.TakeAll(32).Where(e => e.Payload.Length > 0).ToList();
        Assert.NotEmpty(sent);
        Assert.True(sent[0].Header.Has(TcpFlags.Cwr), $"{sent[0]}");
        Assert.All(sent.Skip(1), e => Assert.False(e.Header.Has(TcpFlags.Cwr)));
        Assert.All(sent, e => Assert.True(e.EcnCapable));
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).SegmentsRetransmitted);

        // Once everything in flight at the reduction is acknowledged, a new echo is a new congestion event.
        c.Send(40, Seg(TcpFlags.Ack | TcpFlags.Ece, 3001, S(10)));
        Assert.Equal(2, c.Context.Counters.CongestionEchoResponses);
        Assert.True(c.Tcb.GetInfo(c.Now).SlowStartThreshold < reduced.SlowStartThreshold);
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
