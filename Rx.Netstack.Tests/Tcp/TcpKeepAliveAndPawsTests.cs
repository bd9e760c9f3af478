using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpHandshakeTests;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

public class TcpKeepAliveAndPawsTests
{
    private static TcpSettings KeepAlive => PlainSettings with
    {
        KeepAliveIdle = TimeSpan.FromSeconds(10),
        KeepAliveInterval = TimeSpan.FromSeconds(1),
        KeepAliveCount = 3,
    };

    [Fact]
    public void Keepalive_probes_after_idle_then_every_interval_then_times_out()
    {
        var c = EstablishedClient(settings: KeepAlive);
        c.ExpectNothing(10_009);
        c.Expect(10_010, Check.Flags(TcpFlags.Ack), Check.Seq(1000), Check.Ack(3001), Check.PayloadLength(0));
        c.Expect(11_010, Check.Seq(1000));
        c.Expect(12_010, Check.Seq(1000));
        c.AdvanceTo(At(13_009));
        Assert.Equal(TcpState.Established, c.Tcb.State);
        c.AdvanceTo(At(13_010));
        Assert.Equal(TcpError.TimedOut, c.Tcb.Error);
        Assert.Equal(3, c.Context.Counters.KeepAliveProbes);
    }

    [Fact]
    public void An_answered_keepalive_restarts_the_idle_period()
    {
        var c = EstablishedClient(settings: KeepAlive);
        c.Expect(10_010, Check.Seq(1000));
        c.Send(10_020, Seg(TcpFlags.Ack, 3001, 1001));
        c.ExpectNothing(20_019);
        c.Expect(20_020, Check.Seq(1000));
        Assert.Equal(TcpState.Established, c.Tcb.State);
    }

    [Fact]
    public void Keepalive_is_off_by_default()
    {
        var c = EstablishedClient();
        c.ExpectNothing(10_000_000);
        Assert.True(c.Tcb.PollAt.IsNever);
    }

    private static TcpTestPeer TimestampClient()
    {
        var c = Client(1000, PlainSettings with { EnableTimestamps = true });
        var syn = c.Expect(0, Check.Flags(TcpFlags.Syn), Check.Timestamps(true));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { HasTimestamps = true, TimestampValue = 500, TimestampEcho = syn.Header.TimestampValue });
        c.Expect(10, Check.Flags(TcpFlags.Ack), Check.TsEcho(500));
        return c;
    }

    [Fact]
    public void PAWS_drops_a_segment_with_an_old_timestamp_and_answers_with_an_ACK()
    {
        var c = TimestampClient();
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001) with { HasTimestamps = true, TimestampValue = 600 }, [1, 2]);
        c.Expect(60, Check.Ack(3003), Check.TsEcho(600));
        c.Send(70, Seg(TcpFlags.Ack, 3003, 1001) with { HasTimestamps = true, TimestampValue = 550 }, [3, 4]);
        c.Expect(70, Check.Flags(TcpFlags.Ack), Check.Ack(3003));
        Assert.Equal(2, c.Tcb.ReceiveAvailable);
        Assert.Equal(1, c.Context.Counters.PawsDrops);
    }

    [Fact]
    public void PAWS_accepts_an_old_timestamp_after_24_days_idle()
    {
        var c = TimestampClient();
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001) with { HasTimestamps = true, TimestampValue = 600 }, [1, 2]);
        c.Expect(60, Check.Ack(3003)); // delayed ACK
        double later = TimeSpan.FromDays(25).TotalMilliseconds;
        c.Send(later, Seg(TcpFlags.Ack, 3003, 1001) with { HasTimestamps = true, TimestampValue = 10 }, [3, 4]);
        Assert.Equal(4, c.Tcb.ReceiveAvailable);
        Assert.Equal(0, c.Context.Counters.PawsDrops);
        c.Expect(later + 40, Check.Ack(3005), Check.TsEcho(10)); // accepted, and its timestamp is the one echoed now
    }

    [Fact]
    public void RTT_is_measured_from_echoed_timestamps()
    {
        var c = TimestampClient();
        var syn = c.Tcb; // TSval of our segments is ms since epoch plus a per-connection offset
        c.Do(100, t => t.Send([1, 2, 3]));
        var seg = c.Expect(100, Check.Timestamps(true));
        c.Send(180, Seg(TcpFlags.Ack, 3001, 1004) with { HasTimestamps = true, TimestampValue = 700, TimestampEcho = seg.Header.TimestampValue });
        var info = syn.GetInfo(c.Now);
        Assert.True(info.TimestampsEnabled);
        // SRTT after the 10 ms handshake sample and an 80 ms sample: 7/8·10 + 1/8·80 = 18.75 ms.
        Assert.Equal(TimeSpan.FromMilliseconds(18.75), info.SmoothedRtt);
    }
}
