using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpHandshakeTests;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

public class TcpCloseAndResetTests
{
    [Fact]
    public void Active_close_goes_through_FIN_WAIT_and_TIME_WAIT_for_exactly_TimeWaitDuration()
    {
        var c = EstablishedClient();
        TcbState established = c.Snapshot();
        c.Do(20, t => t.Close());
        c.Expect(20, Check.Flags(TcpFlags.Fin | TcpFlags.Ack), Check.Seq(1001), Check.Ack(3001));
        // RFC 9293 §3.10.4: the FIN takes a sequence number and is timed and retransmitted like data.
        TcbState finWait1 = established.With(new
        {
            State = TcpState.FinWait1,
            AppClosed = true,
            Sender = new { FinQueued = true, Nxt = 1002u, Max = 1002u, ProbeHigh = 1002u, RttTiming = true, RttTimedEnd = 1002u, RttTimedAt = At(20) },
            Timers = new { Retransmit = At(220) },
        });
        c.Sanity(finWait1);
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1002));
        // Our FIN is acknowledged; closed by the application, FIN-WAIT-2 waits at most TimeWaitDuration for the peer's FIN.
        TcbState finWait2 = finWait1.With(new
        {
            State = TcpState.FinWait2,
            Sender = new { Una = 1002u, Wl1 = 3001u, Wl2 = 1002u, RttTiming = false },
            Receiver = new { LastReceivedAt = At(30) },
            Rtt = new { RttVariance = Ms(3.75) },
            Timers = new { Retransmit = Instant.Never, TimeWait = At(30 + 60_000) },
            Recovery = new { LastDelivered = 1L }, // the FIN's sequence number, delivered (RFC 9937 §6.2)
        });
        c.Sanity(finWait2);
        c.Send(40, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1002));
        c.Expect(40, Check.Flags(TcpFlags.Ack), Check.Seq(1002), Check.Ack(3002));
        // RFC 9293 §3.10.7.4 eighth check: the peer's FIN takes RCV.NXT one on, and TIME-WAIT lasts 2·MSL from here.
        TcbState timeWait = finWait2.With(new
        {
            State = TcpState.TimeWait,
            Receiver = new { Nxt = 3002u, LastAckSent = 3002u, FinReceived = true, LastReceivedAt = At(40) },
            Timers = new { TimeWait = At(40 + 60_000) },
        });
        c.Sanity(timeWait);
        c.AdvanceTo(At(60_039));
        c.Sanity(timeWait);
        c.AdvanceTo(At(60_040));
        c.Sanity(timeWait.With(new { State = TcpState.Closed, Timers = new { TimeWait = Instant.Never } }));
        Assert.Equal(TcpError.None, c.Tcb.Error);
    }

    [Fact]
    public void A_retransmitted_FIN_in_TIME_WAIT_is_acknowledged_and_restarts_the_timer()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Close());
        c.Expect(20, Check.HasFlags(TcpFlags.Fin));
        c.Send(30, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1002));
        c.Expect(30, Check.Ack(3002));
        c.Send(1030, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1002));
        c.Expect(1030, Check.Flags(TcpFlags.Ack), Check.Ack(3002));
        c.AdvanceTo(At(61_029));
        Assert.Equal(TcpState.TimeWait, c.Tcb.State);
        c.AdvanceTo(At(61_030));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
    }

    [Fact]
    public void Passive_close_goes_through_CLOSE_WAIT_and_LAST_ACK()
    {
        var c = EstablishedClient();
        c.Send(20, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1001), [9, 8, 7]);
        Assert.Equal(TcpState.CloseWait, c.Tcb.State);
        c.Expect(20, Check.Flags(TcpFlags.Ack), Check.Ack(3005));
        var buf = new byte[10];
        Assert.False(c.Tcb.ReceiveFinished);
        Assert.Equal(3, c.Tcb.Receive(buf));
        Assert.True(c.Tcb.ReceiveFinished);
        Assert.Equal(0, c.Tcb.Receive(buf));
        // Half-closed by the peer: we can still send.
        c.Do(30, t => Assert.Equal(2, t.Send([1, 2])));
        c.Expect(30, Check.Seq(1001), Check.Payload([1, 2]));
        c.Do(31, t => t.Close());
        Assert.Equal(TcpState.LastAck, c.Tcb.State);
        c.Expect(31, Check.Flags(TcpFlags.Fin | TcpFlags.Ack), Check.Seq(1003)); // a bare FIN is not held by Nagle
        c.Send(40, Seg(TcpFlags.Ack, 3005, 1003));
        Assert.Equal(TcpState.LastAck, c.Tcb.State);
        c.Send(50, Seg(TcpFlags.Ack, 3005, 1004));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
        Assert.Equal(TcpError.None, c.Tcb.Error);
        Assert.True(c.Tcb.IsFreeable);
    }

    [Fact]
    public void Simultaneous_close_goes_through_CLOSING_to_TIME_WAIT()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Close());
        c.Expect(20, Check.Flags(TcpFlags.Fin | TcpFlags.Ack), Check.Seq(1001));
        c.Send(21, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1001));
        Assert.Equal(TcpState.Closing, c.Tcb.State);
        c.Expect(21, Check.Flags(TcpFlags.Ack), Check.Seq(1002), Check.Ack(3002));
        c.Send(22, Seg(TcpFlags.Ack, 3002, 1002));
        Assert.Equal(TcpState.TimeWait, c.Tcb.State);
        c.AdvanceTo(At(60_022));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
    }

    [Fact]
    public void Half_close_keeps_receiving_after_our_FIN()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.ShutdownWrite());
        c.Expect(20, Check.HasFlags(TcpFlags.Fin));
        Assert.Equal(-1, c.Tcb.Send([1]));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1002), [5, 6, 7]);
        Assert.Equal(TcpState.FinWait2, c.Tcb.State);
        var buf = new byte[3];
        Assert.Equal(3, c.Tcb.Receive(buf));
        Assert.Equal(new byte[] { 5, 6, 7 }, buf);
    }

    [Fact]
    public void FIN_is_retransmitted_when_unacknowledged()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Close());
        c.Expect(20, Check.Flags(TcpFlags.Fin | TcpFlags.Ack), Check.Seq(1001));
        c.Expect(220, Check.Flags(TcpFlags.Fin | TcpFlags.Ack), Check.Seq(1001));
    }

    [Fact]
    public void Close_with_unread_data_sends_RST()
    {
        var c = EstablishedClient();
        c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), [1, 2, 3]);
        c.Do(30, t => t.Close());
        c.Expect(30, Check.Flags(TcpFlags.Rst), Check.Seq(1001));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
        Assert.Equal(TcpError.Aborted, c.Tcb.Error);
    }

    [Fact]
    public void Abort_sends_RST_and_closes()
    {
        var c = EstablishedClient();
        c.AdvanceTo(At(20));
        c.Tcb.Abort();
        Assert.False(c.Tcb.IsFreeable); // the RST is still to be taken
        c.Expect(20, Check.Flags(TcpFlags.Rst), Check.Seq(1001));
        Assert.True(c.Tcb.IsFreeable);
        Assert.Equal(TcpError.Aborted, c.Tcb.Error);
    }

    public static TheoryData<TcpState, TcpState, TcpError> ResetCases => new()
    {
        { TcpState.Established, TcpState.Closed, TcpError.ConnectionReset },
        { TcpState.FinWait1, TcpState.Closed, TcpError.ConnectionReset },
        { TcpState.FinWait2, TcpState.Closed, TcpError.ConnectionReset },
        { TcpState.CloseWait, TcpState.Closed, TcpError.ConnectionReset },
        { TcpState.Closing, TcpState.Closed, TcpError.None },
        { TcpState.LastAck, TcpState.Closed, TcpError.None },
        { TcpState.TimeWait, TcpState.TimeWait, TcpError.None }, // RFC 1337: ignored
    };

    /// <summary>Drives a client (ISN 1000, peer 3000) into <paramref name="state"/>; returns the peer's next sequence number.</summary>
    internal static (TcpTestPeer Peer, uint PeerSeq) ClientIn(TcpState state)
    {
        var c = EstablishedClient();
        uint peerSeq = 3001;
        switch (state)
        {
            case TcpState.Established:
                break;
            case TcpState.FinWait1:
                c.Do(20, t => t.Close());
                break;
            case TcpState.FinWait2:
                c.Do(20, t => t.ShutdownWrite());
                c.Send(21, Seg(TcpFlags.Ack, 3001, 1002));
                break;
            case TcpState.CloseWait:
                c.Send(20, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1001));
                peerSeq = 3002;
                break;
            case TcpState.Closing:
                c.Do(20, t => t.Close());
                c.Send(21, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1001));
                peerSeq = 3002;
                break;
            case TcpState.LastAck:
                c.Send(20, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1001));
                c.Do(21, t => t.Close());
                peerSeq = 3002;
                break;
            case TcpState.TimeWait:
                c.Do(20, t => t.Close());
                c.Send(21, Seg(TcpFlags.Fin | TcpFlags.Ack, 3001, 1002));
                peerSeq = 3002;
                break;
        }
        Assert.Equal(state, c.Tcb.State);
        c.TakeAll(25);
        return (c, peerSeq);
    }

    [Theory]
    [MemberData(nameof(ResetCases))]
    public void An_exact_RST_ends_the_connection_in_every_synchronized_state(TcpState state, TcpState after, TcpError error)
    {
        var (c, peerSeq) = ClientIn(state);
        c.Send(30, Seg(TcpFlags.Rst, peerSeq));
        Assert.Equal(after, c.Tcb.State);
        Assert.Equal(error, c.Tcb.Error);
        c.ExpectNothing(40);
    }

    [Fact]
    public void RST_in_SYN_RECEIVED_drops_the_embryonic_connection()
    {
        var s = Server(Seg(TcpFlags.Syn, 7000), 5000);
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack));
        s.Send(10, Seg(TcpFlags.Rst, 7001));
        Assert.Equal(TcpState.Closed, s.Tcb.State);
        Assert.Equal(TcpError.ConnectionReset, s.Tcb.Error);
    }

    [Fact]
    public void RST_in_window_but_not_exact_gets_a_challenge_ACK()
    {
        var c = EstablishedClient();
        c.Send(20, Seg(TcpFlags.Rst, 3001 + 100));
        Assert.Equal(TcpState.Established, c.Tcb.State);
        c.Expect(20, Check.Flags(TcpFlags.Ack), Check.Seq(1001), Check.Ack(3001));
        // Outside the window: silently dropped.
        c.Send(30, Seg(TcpFlags.Rst, 3001 + 1_000_000));
        c.ExpectNothing(40);
        Assert.Equal(1, c.Context.Counters.ChallengeAcksSent);
        c.Send(50, Seg(TcpFlags.Rst, 3001));
        Assert.Equal(TcpError.ConnectionReset, c.Tcb.Error);
    }

    [Fact]
    public void SYN_in_a_synchronized_state_gets_a_challenge_ACK()
    {
        var c = EstablishedClient();
        c.Send(20, Seg(TcpFlags.Syn, 3001));
        c.Expect(20, Check.Flags(TcpFlags.Ack), Check.Seq(1001), Check.Ack(3001));
        Assert.Equal(TcpState.Established, c.Tcb.State);
    }

    [Fact]
    public void ACK_of_data_never_sent_gets_a_challenge_ACK_and_the_segment_is_dropped()
    {
        var c = EstablishedClient();
        c.Send(20, Seg(TcpFlags.Ack, 3001, 50_000), [1, 2, 3]);
        c.Expect(20, Check.Flags(TcpFlags.Ack), Check.Ack(3001));
        Assert.Equal(0, c.Tcb.ReceiveAvailable);
    }

    [Fact]
    public void Challenge_ACKs_are_rate_limited_stack_wide()
    {
        var ctx = new TcpStackContext(challengeAcksPerSecond: 2);
        var c = Client(1000, context: ctx);
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001));
        c.Expect(10, Check.Flags(TcpFlags.Ack));
        for (int i = 0; i < 5; i++) c.Send(20 + i, Seg(TcpFlags.Rst, 3100));
        Assert.Equal(2, c.TakeAll(30).Count);
        Assert.Equal(2, ctx.Counters.ChallengeAcksSent);
        Assert.Equal(3, ctx.Counters.ChallengeAcksSuppressed);
        // A second later the bucket is full again.
        c.Send(1100, Seg(TcpFlags.Rst, 3100));
        c.Expect(1100, Check.Flags(TcpFlags.Ack));
    }

    [Fact]
    public void Reset_for_a_segment_without_connection_follows_RFC_9293()
    {
        Assert.True(TcpControlBlock.TryMakeResetFor(Seg(TcpFlags.Ack, 10, 20), 5, out var r1));
        Assert.Equal(TcpFlags.Rst, r1.Flags);
        Assert.Equal(20u, r1.Sequence.Value);
        Assert.Equal(LocalEndpoint.Port, r1.SourcePort);
        Assert.True(TcpControlBlock.TryMakeResetFor(Seg(TcpFlags.Syn, 10), 0, out var r2));
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, r2.Flags);
        Assert.Equal(0u, r2.Sequence.Value);
        Assert.Equal(11u, r2.Acknowledgment.Value);
        Assert.False(TcpControlBlock.TryMakeResetFor(Seg(TcpFlags.Rst, 10), 0, out _));
    }

    [Fact]
    public void Data_after_close_is_answered_with_RST()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Close());
        c.Expect(20, Check.HasFlags(TcpFlags.Fin));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1002), [1, 2, 3]);
        c.Expect(30, Check.Flags(TcpFlags.Rst));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
    }

    [Fact]
    public void Orphaned_FIN_WAIT_2_gives_up_after_TimeWaitDuration()
    {
        var c = EstablishedClient();
        c.Do(20, t => t.Close());
        c.Expect(20, Check.Flags(TcpFlags.Fin | TcpFlags.Ack), Check.Seq(1001));
        c.Send(30, Seg(TcpFlags.Ack, 3001, 1002));
        Assert.Equal(TcpState.FinWait2, c.Tcb.State);
        c.ExpectNothing(60_029); // the peer never sends its FIN: nothing to retransmit or answer meanwhile
        Assert.Equal(TcpState.FinWait2, c.Tcb.State);
        c.AdvanceTo(At(60_030));
        Assert.Equal(TcpState.Closed, c.Tcb.State);
        c.ExpectNothing(120_000); // closed quietly: no RST
    }
}
