using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpHandshakeTests;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

public class TcpEngineHooksTests
{
    [Fact]
    public void A_SYN_cookie_handshake_rebuilds_an_established_connection_with_the_final_ACKs_data()
    {
        var syn = Seg(TcpFlags.Syn, 7000) with { MaxSegmentSize = 1400, WindowScale = 7, SackPermitted = true };
        TcpHeader synAck = TcpControlBlock.MakeCookieSynAck(syn, new SeqNumber(424242), 1400, 16384);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(7001u, synAck.Acknowledgment.Value);
        Assert.Equal(-1, synAck.WindowScale);
        Assert.False(synAck.SackPermitted);
        Assert.False(synAck.HasTimestamps);

        var ctx = new TcpStackContext();
        var finalAck = Seg(TcpFlags.Ack | TcpFlags.Psh, 7001, 424243, 5000);
        var tcb = TcpControlBlock.FromCookie(ctx, LocalEndpoint, RemoteEndpoint, finalAck, [1, 2, 3], 1400, PlainSettings, Mss, At(50));
        var peer = new TcpTestPeer(tcb, ctx);
        Assert.Equal(TcpState.Established, tcb.State);
        Assert.True(tcb.HasEstablished);
        Assert.Equal(3, tcb.ReceiveAvailable);
        var info = tcb.GetInfo(At(50));
        Assert.Equal(1400, info.MaxSegmentSize);
        Assert.Equal(5000, info.SendWindow);
        Assert.False(info.SackEnabled);
        peer.Do(60, t => t.Send([9]));
        peer.Expect(60, Check.Seq(424243), Check.Ack(7004), Check.Payload([9]));
    }

    [Fact]
    public void TIME_WAIT_accepts_a_new_SYN_only_above_the_old_sequence_space()
    {
        var (c, _) = TcpCloseAndResetTests.ClientIn(TcpState.TimeWait);
        Assert.False(c.Tcb.CanReuseForSyn(Seg(TcpFlags.Syn, 3000)));
        Assert.True(c.Tcb.CanReuseForSyn(Seg(TcpFlags.Syn, 100_000)));
        Assert.False(c.Tcb.CanReuseForSyn(Seg(TcpFlags.Syn | TcpFlags.Ack, 100_000)));
        // An old SYN in TIME-WAIT gets a challenge ACK and changes nothing.
        c.Send(30, Seg(TcpFlags.Syn, 3002));
        c.Expect(30, Check.Flags(TcpFlags.Ack), Check.Ack(3002));
        Assert.Equal(TcpState.TimeWait, c.Tcb.State);
    }

    [Fact]
    public void Receive_ring_goes_back_to_the_pool_once_read()
    {
        var c = EstablishedClient();
        Assert.False(c.Tcb.HoldsBuffers);
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), [1, 2, 3]);
        Assert.True(c.Tcb.HoldsBuffers);
        Assert.Equal(3, c.Tcb.Receive(new byte[10]));
        Assert.False(c.Tcb.HoldsBuffers);
    }

    [Fact]
    public void Send_queued_in_SYN_SENT_goes_out_after_the_handshake_and_close_waits_for_it()
    {
        var c = Client();
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Do(1, t =>
        {
            Assert.Equal(3, t.Send([1, 2, 3]));
            t.ShutdownWrite();
        });
        Assert.Equal(TcpState.SynSent, c.Tcb.State);
        c.ExpectNothing(5);
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001));
        c.Expect(10, Check.Flags(TcpFlags.Ack | TcpFlags.Fin), Check.Seq(1001), Check.Payload([1, 2, 3]));
        Assert.Equal(TcpState.FinWait1, c.Tcb.State);
    }

    [Fact]
    public void Info_reports_the_connection_for_dashboards()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Send(new byte[3000]));
        var info = c.Tcb.GetInfo(c.Now);
        Assert.Equal(TcpState.Established, info.State);
        Assert.Equal(3000, info.BytesInFlight); // the short tail follows full segments at once (Minshall's Nagle)
        Assert.Equal(3000, info.BytesSent);
        Assert.Equal(3000, info.SendQueued);
        Assert.Equal(65535, info.SendWindow);
        Assert.Equal(16384, info.ReceiveWindow);
        Assert.Equal(1460, info.MaxSegmentSize);
        Assert.True(info.CongestionWindow >= 2 * 1460);
        Assert.Equal(TimeSpan.FromMilliseconds(200), info.Rto);
        c.Expect(20, Check.Seq(1001), Check.PayloadLength(1460));
        c.Expect(20, Check.Seq(2461), Check.PayloadLength(1460));
        c.Expect(20, Check.Seq(3921), Check.PayloadLength(80));
    }
}
