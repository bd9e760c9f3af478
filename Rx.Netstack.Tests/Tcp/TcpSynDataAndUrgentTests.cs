using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpHandshakeTests;
using static Rx.Netstack.Tests.Tcp.TcpTestPeer;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Text that comes with a SYN (RFC 9293 §3.10.7.2 and §3.10.7.3: kept, acknowledged, delivered after the handshake) and
/// urgent data (RFC 6093 §5: delivered inline, in order, the pointer ignored).
/// </summary>
public class TcpSynDataAndUrgentTests
{
    private static byte[] Read(TcpControlBlock tcb)
    {
        var buffer = new byte[tcb.ReceiveAvailable];
        Assert.Equal(buffer.Length, tcb.Receive(buffer));
        return buffer;
    }

    [Fact]
    public void Data_on_a_SYN_is_acknowledged_by_the_SYN_ACK_and_readable_once_established()
    {
        var s = Server(Seg(TcpFlags.Syn, 3000) with { MaxSegmentSize = 1460 }, synData: [1, 2, 3, 4]);
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Seq(5000), Check.Ack(3005), Check.PayloadLength(0));
        Assert.Equal(TcpState.SynReceived, s.Tcb.State);
        s.Send(10, Seg(TcpFlags.Ack, 3005, 5001), [5, 6]);
        Assert.Equal(TcpState.Established, s.Tcb.State);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, Read(s.Tcb));
        s.Expect(50, Check.Flags(TcpFlags.Ack), Check.Ack(3007)); // the later data's delayed ACK
        s.ExpectNothing(1000);
    }

    [Fact]
    public void A_retransmitted_SYN_with_its_data_gets_the_same_SYN_ACK_and_the_data_once()
    {
        var s = Server(Seg(TcpFlags.Syn, 3000) with { MaxSegmentSize = 1460 }, synData: [1, 2, 3]);
        s.Expect(0, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Ack(3004));
        s.Send(500, Seg(TcpFlags.Syn, 3000) with { MaxSegmentSize = 1460 }, [1, 2, 3]); // our SYN-ACK was lost
        s.Expect(500, Check.Flags(TcpFlags.Syn | TcpFlags.Ack), Check.Seq(5000), Check.Ack(3004));
        s.Send(510, Seg(TcpFlags.Ack, 3004, 5001));
        Assert.Equal(TcpState.Established, s.Tcb.State);
        Assert.Equal(new byte[] { 1, 2, 3 }, Read(s.Tcb));
        s.ExpectNothing(2000);
    }

    [Fact]
    public void Data_on_a_SYN_ACK_is_taken_and_acknowledged_at_once()
    {
        var c = Client(1000);
        c.Expect(0, Check.Flags(TcpFlags.Syn));
        c.Send(10, Seg(TcpFlags.Syn | TcpFlags.Ack, 3000, 1001) with { MaxSegmentSize = 1460 }, [9, 8, 7]);
        c.Expect(10, Check.Flags(TcpFlags.Ack), Check.Seq(1001), Check.Ack(3004));
        Assert.Equal(TcpState.Established, c.Tcb.State);
        Assert.Equal(new byte[] { 9, 8, 7 }, Read(c.Tcb));
        c.ExpectNothing(1000);
    }

    [Theory]
    [InlineData(3)]      // inside the segment
    [InlineData(0)]      // zero (meaningless, RFC 6093 §5)
    [InlineData(60_000)] // far past the segment
    public void Urgent_data_is_delivered_inline_in_order_and_the_pointer_changes_nothing(ushort pointer)
    {
        // The same three segments with and without URG: the same bytes read, the same segments sent back, at the same times.
        (byte[] Read, string[] Sent) Run(bool urgent)
        {
            var c = EstablishedClient();
            c.Send(20, Seg(TcpFlags.Ack, 3001, 1001), [1, 2]);
            TcpFlags flags = TcpFlags.Ack | TcpFlags.Psh | (urgent ? TcpFlags.Urg : 0);
            c.Send(21, Seg(flags, 3003, 1001) with { UrgentPointer = urgent ? pointer : (ushort)0 }, [3, 4, 5]);
            c.Send(22, Seg(TcpFlags.Ack, 3006, 1001), [6]);
            byte[] read = Read(c.Tcb);
            var sent = c.TakeAll(1000);
            Assert.Equal(3007u, Assert.Single(sent).Header.Acknowledgment.Value); // one delayed ACK for all of it
            return (read, [.. sent.Select(e => e.ToString())]);
        }
        var withUrgent = Run(urgent: true);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, withUrgent.Read);
        var plain = Run(urgent: false);
        Assert.Equal(plain.Read, withUrgent.Read);
        Assert.Equal(plain.Sent, withUrgent.Sent);
    }
}
