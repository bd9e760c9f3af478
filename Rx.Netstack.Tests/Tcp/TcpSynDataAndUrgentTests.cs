using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Two receive rules, against a hand-driven peer at engine level: data on a SYN is queued and delivered after the handshake
/// (RFC 9293 §3.10.7.2), and urgent data is ordinary inline data with the pointer ignored (RFC 6093 §5: the urgent mechanism
/// is for legacy applications only; Linux's SO_OOBINLINE behaviour).
/// </summary>
public sealed class TcpSynDataAndUrgentTests : IDisposable
{
    private static readonly NetAddress Peer = NetAddress.Parse("198.18.0.7"); // B answers into the pipe; A drops it as not its own
    private readonly StackPair _pair = new();
    private readonly List<TcpHeader> _fromB = [];
    private readonly IDisposable _capture;

    public TcpSynDataAndUrgentTests() =>
        _capture = _pair.DeviceA.Received.Subscribe(frame =>
        {
            if (Forge.TryReadTcp(frame.ToArray(), out _, out NetAddress destination, out TcpHeader h, out _) && destination == Peer) _fromB.Add(h);
        });

    public void Dispose()
    {
        _capture.Dispose();
        _pair.Dispose();
    }

    private void Send(TcpHeader header, byte[]? payload = null)
    {
        _pair.DeviceA.Transmit.OnNext(Forge.Tcp(Peer, StackPair.B4, header, payload));
        _pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
    }

    private static byte[] Text(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    [Fact]
    public void Data_on_a_SYN_is_acknowledged_by_the_SYN_ACK_and_read_after_the_handshake()
    {
        TcpConnectionListener listener = _pair.Scheduler.Await(_pair.B.ListenTcpAsync(80));
        Task<TcpConnection> accept = listener.AcceptAsync();
        var syn = new TcpHeader(3000, 80, TcpFlags.Syn) { Sequence = new SeqNumber(5000), Window = 65535, MaxSegmentSize = 1460 };
        Send(syn, Text("hello"));

        TcpHeader synAck = Assert.Single(_fromB);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(new SeqNumber(5000 + 1 + 5), synAck.Acknowledgment); // SYN and the five bytes
        Assert.False(accept.IsCompleted); // not before the handshake completes

        Send(new TcpHeader(3000, 80, TcpFlags.Ack) { Sequence = new SeqNumber(5006), Acknowledgment = synAck.Sequence + 1, Window = 65535 });
        Send(new TcpHeader(3000, 80, TcpFlags.Ack | TcpFlags.Psh) { Sequence = new SeqNumber(5006), Acknowledgment = synAck.Sequence + 1, Window = 65535 },
            Text(" world"));
        TcpConnection connection = _pair.Scheduler.Await(accept);
        Assert.Equal(Text("hello world"), _pair.ReadExactly(connection, 11));
    }

    [Fact]
    public void Urgent_data_is_delivered_inline_and_the_pointer_is_ignored()
    {
        TcpConnectionListener listener = _pair.Scheduler.Await(_pair.B.ListenTcpAsync(80));
        Task<TcpConnection> accept = listener.AcceptAsync();
        Send(new TcpHeader(3001, 80, TcpFlags.Syn) { Sequence = new SeqNumber(100), Window = 65535, MaxSegmentSize = 1460 });
        SeqNumber iss = Assert.Single(_fromB).Sequence;
        Send(new TcpHeader(3001, 80, TcpFlags.Ack) { Sequence = new SeqNumber(101), Acknowledgment = iss + 1, Window = 65535 });
        TcpConnection connection = _pair.Scheduler.Await(accept);

        // URG with a pointer into the segment, then one pointing past it (RFC 6093 §4: it may point anywhere): bytes in order.
        Send(new TcpHeader(3001, 80, TcpFlags.Ack | TcpFlags.Urg | TcpFlags.Psh) { Sequence = new SeqNumber(101), Acknowledgment = iss + 1, Window = 65535, UrgentPointer = 3 },
            Text("abc"));
        Send(new TcpHeader(3001, 80, TcpFlags.Ack | TcpFlags.Urg) { Sequence = new SeqNumber(104), Acknowledgment = iss + 1, Window = 65535, UrgentPointer = 60000 },
            Text("def"));
        Send(new TcpHeader(3001, 80, TcpFlags.Ack) { Sequence = new SeqNumber(107), Acknowledgment = iss + 1, Window = 65535 }, Text("ghi"));
        Assert.Equal(Text("abcdefghi"), _pair.ReadExactly(connection, 9));
        _pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks); // past the delayed ACK
        Assert.Contains(_fromB, h => h.Acknowledgment == new SeqNumber(110)); // every byte acknowledged
    }
}
