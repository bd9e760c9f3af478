using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

public class TcpHandshakeTests
{
    internal static TcpTestPeer EstablishedClient(uint isn = 1000, uint peerIsn = 3000, TcpSettings? settings = null, ushort window = 65535)
    {
        var c = Client(isn, settings);
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.Seq(isn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, peerIsn, isn + 1, window) with { MaxSegmentSize = 1460 });
        c.Expect(10, Check.Flags(TcpFlags.Ack), Check.Seq(isn + 1), Check.Ack(peerIsn + 1));
        Assert.Equal(TcpState.Established, c.Tcb.State);
        return c;
    }

    [Fact]
    public void Active_open_sends_SYN_with_MSS_and_completes_on_SYN_ACK()
    {
        var c = Client(1000);
        Assert.Equal(TcpState.SynSent, c.Tcb.State);
        TcbState synSent = c.Snapshot();
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.Seq(1000), Check.Mss(1460), Check.Window(16384), Check.WindowScale(-1),
            Check.SackPermitted(false), Check.Timestamps(false));
        c.ExpectNothing(500);
        c.Send(600, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { MaxSegmentSize = 1000 });
        c.Expect(600, Check.Flags(TcpFlags.Ack), Check.Seq(1001), Check.Ack(3001), Check.Window(16384));
        c.Sanity(synSent.With(new
        {
            State = TcpState.Established,
            HasEstablished = true,
            // RFC 9293 §3.10.7.3: SND.UNA past our SYN, the window from the SYN-ACK (never scaled, RFC 7323 §2.2).
            Sender = new { Una = 1001u, Wl1 = 3000u, Wl2 = 1001u, Window = 65535, MaxWindow = 65535 },
            // RCV.NXT past the peer's SYN; our ACK advertised the whole 16 KiB buffer.
            Receiver = new { Irs = 3000u, Nxt = 3001u, LastAckSent = 3001u, AdvertisedEdge = 3001u + 16384, WindowEdge = 3001u + 16384 },
            Options = new { PeerMss = 1000, Mss = 1000 },
            Timers = new { Retransmit = Instant.Never }, // RFC 6298 §5.2: nothing outstanding
            Congestion = new { CongestionWindow = 10 * 1000 }, // RFC 6928: ten segments of the MSS just agreed
            // RFC 6298 §2.2: the SYN's 600 ms is the first sample; RTO = SRTT + 4·RTTVAR.
            Rtt = new { SmoothedRtt = (TimeSpan?)Ms(600), LatestRtt = (TimeSpan?)Ms(600), RttVariance = Ms(300), Rto = Ms(1800), BaseRto = Ms(1800) },
        }));
        Assert.Equal(1000, c.Tcb.GetInfo(c.Now).MaxSegmentSize);
        c.ExpectNothing(100_000);
    }

    [Fact]
    public void Passive_open_answers_SYN_with_SYN_ACK_and_completes_on_ACK()
    {
        var s = Server(Seg(TcpFlags.Syn, 7000) with { MaxSegmentSize = 1200 }, isn: 5000);
        Assert.Equal(TcpState.SynReceived, s.Tcb.State);
        TcbState synReceived = s.Snapshot();
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Seq(5000), Check.Ack(7001), Check.Mss(1460));
        s.Send(20, Seg(TcpFlags.Ack, 7001, 5001));
        s.Sanity(synReceived.With(new
        {
            State = TcpState.Established,
            HasEstablished = true,
            Sender = new { Una = 5001u, Wl1 = 7001u, Wl2 = 5001u }, // RFC 9293 §3.10.7.4: the ACK sets SND.WL1/WL2
            Receiver = new { LastReceivedAt = At(20) },
            Timers = new { Retransmit = Instant.Never },
            Rtt = new { SmoothedRtt = (TimeSpan?)Ms(20), LatestRtt = (TimeSpan?)Ms(20), RttVariance = Ms(10), Rto = Ms(200), BaseRto = Ms(200) },
        }));
        s.ExpectNothing(1000);
        Assert.Equal(1200, s.Tcb.GetInfo(s.Now).MaxSegmentSize);
    }

    [Fact]
    public void Options_are_used_only_when_both_sides_offer_them()
    {
        var settings = new TcpSettings { ReceiveBufferSize = 1 << 20 };
        var c = Client(1000, settings);
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.WindowScale(5), Check.SackPermitted(true), Check.Timestamps(true), Check.Window(65535));
        // The peer offers only SACK: no scaling, no timestamps.
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001, 1000) with { SackPermitted = true });
        var ack = c.Expect(10, Check.Flags(TcpFlags.Ack), Check.Timestamps(false), Check.Window(65535));
        TcpConnectionInfo info = c.Tcb.GetInfo(c.Now);
        Assert.True(info.SackEnabled);
        Assert.False(info.TimestampsEnabled);
        Assert.Equal(0, info.ReceiveWindowScale);
        Assert.Equal(1000, info.SendWindow);
        _ = ack;
    }

    [Fact]
    public void Window_scaling_lets_a_one_MiB_buffer_be_advertised()
    {
        var settings = new TcpSettings { ReceiveBufferSize = 1 << 20, EnableTimestamps = false, EnableSack = false };
        var c = Client(1000, settings);
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.WindowScale(5));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001, 1000) with { WindowScale = 7 });
        c.Expect(10, Check.Flags(TcpFlags.Ack), Check.Window((1 << 20) >> 5));
        // The peer's window fields are now scaled by 2^7.
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001, 1000));
        Assert.Equal(1000 << 7, c.Tcb.GetInfo(c.Now).SendWindow);
    }

    [Fact]
    public void Passive_open_answers_the_options_the_SYN_offered()
    {
        var syn = Seg(TcpFlags.Syn, 7000) with { WindowScale = 2, SackPermitted = true, HasTimestamps = true, TimestampValue = 12345 };
        var s = Server(syn, 5000, new TcpSettings { ReceiveBufferSize = 256 * 1024 });
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.WindowScale(3), Check.SackPermitted(true), Check.TsEcho(12345));
    }

    [Fact]
    public void SYN_is_retransmitted_at_1_3_7_15_31_63_s_then_the_connect_times_out_at_127_s()
    {
        var c = Client(1000, PlainSettings);
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.Seq(1000));
        foreach (double s in new[] { 1, 3, 7, 15, 31, 63 })
        {
            c.ExpectNothing(s * 1000 - 1);
            c.Expect(s * 1000, Check.Flags(TcpFlags.Syn), Check.Seq(1000));
        }
        c.ExpectNothing(126_999);
        Assert.Equal(TcpState.SynSent, c.Tcb.State);
        c.AdvanceTo(At(127_000));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
        Assert.Equal(TcpError.TimedOut, c.Tcb.Error);
        Assert.True(c.Tcb.IsFreeable);
        c.ExpectNothing(500_000);
    }

    [Fact]
    public void SYN_ACK_is_retransmitted_and_then_the_embryonic_connection_times_out()
    {
        var s = Server(Seg(TcpFlags.Syn, 7000), 5000, PlainSettings with { MaxSynRetries = 2 });
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack));
        s.Expect(1000, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Seq(5000), Check.Ack(7001));
        s.Expect(3000, Check.Flags(TcpFlags.Syn | TcpFlags.Ack));
        s.AdvanceTo(At(7000));
        Assert.Equal(TcpError.TimedOut, s.Tcb.Error);
    }

    [Fact]
    public void A_retransmitted_SYN_gets_the_SYN_ACK_again()
    {
        var s = Server(Seg(TcpFlags.Syn, 7000), 5000);
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack));
        s.Send(300, Seg(TcpFlags.Syn, 7000));
        s.Expect(300, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Seq(5000), Check.Ack(7001));
    }

    [Fact]
    public void Bad_ACK_in_SYN_RECEIVED_is_answered_with_RST()
    {
        var s = Server(Seg(TcpFlags.Syn, 7000), 5000);
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack));
        s.Send(10, Seg(TcpFlags.Ack, 7001, 9999));
        s.Expect(10, Check.Flags(TcpFlags.Rst), Check.Seq(9999));
        Assert.Equal(TcpState.SynReceived, s.Tcb.State);
    }

    [Fact]
    public void SYN_SENT_answers_a_bad_ACK_with_RST_and_ignores_a_RST_without_ACK()
    {
        var c = Client(1000);
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(5, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 77));
        c.Expect(5, Check.Flags(TcpFlags.Rst), Check.Seq(77));
        c.Send(6, Seg(TcpFlags.Rst, 0));
        Assert.Equal(TcpState.SynSent, c.Tcb.State);
        c.Send(7, Seg(TcpFlags.Rst | TcpFlags.Ack, 0, 1001));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
        Assert.Equal(TcpError.ConnectionRefused, c.Tcb.Error);
    }

    [Fact]
    public void Simultaneous_open_goes_through_SYN_RECEIVED_to_ESTABLISHED()
    {
        var c = Client(1000);
        c.Expect(0, Check.Flags(TcpFlags.Syn), Check.Seq(1000));
        c.Send(5, Seg(TcpFlags.Syn, 3000));
        Assert.Equal(TcpState.SynReceived, c.Tcb.State);
        c.Expect(5, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Seq(1000), Check.Ack(3001));
        // The peer's SYN-ACK (its answer to our SYN) completes the open; no further ACK is needed (RFC 9293 Figure 8).
        c.Send(8, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001));
        Assert.Equal(TcpState.Established, c.Tcb.State);
        c.ExpectNothing(10_000);
        c.Do(10_001, t => t.Send([1, 2, 3]));
        c.Expect(10_001, Check.Seq(1001), Check.Ack(3001), Check.Payload([1, 2, 3]));
    }

    [Fact]
    public void ISN_just_below_2_pow_32_wraps_cleanly()
    {
        const uint isn = 0xFFFF_FFF0;
        var c = EstablishedClient(isn, peerIsn: 0xFFFF_FFFA);
        var data = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        c.Do(20, t => Assert.Equal(100, t.Send(data)));
        c.Expect(20, Check.Seq(0xFFFF_FFF1), Check.Payload(data));
        // The peer sends 50 bytes that wrap its sequence space too, and acknowledges ours (ACK wraps past zero).
        var reply = Enumerable.Range(0, 50).Select(i => (byte)(200 + i)).ToArray();
        c.Send(30, Seg(TcpFlags.Ack | TcpFlags.Psh, 0xFFFF_FFFB, unchecked(0xFFFF_FFF1 + 100)), reply);
        Assert.Equal(0, c.Tcb.GetInfo(c.Now).BytesInFlight);
        var buf = new byte[100];
        Assert.Equal(50, c.Tcb.Receive(buf));
        Assert.Equal(reply, buf[..50]);
        c.Expect(70, Check.Flags(TcpFlags.Ack), Check.Ack(unchecked(0xFFFF_FFFB + 50)));
    }

    [Fact]
    public void Settings_are_validated_with_clear_messages()
    {
        Assert.Contains("ReceiveBufferSize", Assert.Throws<ArgumentException>(() => new TcpSettings { ReceiveBufferSize = 0 }.Validate()).Message);
        Assert.Contains("MinRto", Assert.Throws<ArgumentException>(() => new TcpSettings { MinRto = TimeSpan.Zero }.Validate()).Message);
        Assert.Contains("KeepAliveIdle", Assert.Throws<ArgumentException>(() => new TcpSettings { KeepAliveIdle = TimeSpan.FromSeconds(-1) }.Validate()).Message);
        Assert.Contains("DelayedAckTimeout", Assert.Throws<ArgumentException>(() => new TcpSettings { DelayedAckTimeout = TimeSpan.FromSeconds(1) }.Validate()).Message);
        Assert.Contains("EnableWindowScale", Assert.Throws<ArgumentException>(() => new TcpSettings { EnableWindowScale = false, ReceiveBufferSize = 100_000 }.Validate()).Message);
        new TcpSettings().Validate();
    }
}
