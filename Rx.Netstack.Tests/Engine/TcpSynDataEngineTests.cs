using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A SYN that carries data reaching a listener (RFC 9293 §3.10.7.2): the engine keeps the data with the half-open
/// connection, the SYN-ACK acknowledges it, and the accepted connection reads it first. Under a SYN flood the SYN-ACK is a
/// cookie (stateless): the data is not acknowledged, so the peer sends it again after the handshake.
/// </summary>
public sealed class TcpSynDataEngineTests
{
    private static readonly NetAddress Peer = NetAddress.Parse("10.0.0.77"); // not stack A's: A ignores B's answers

    private static List<TcpHeader> SynAcksTo(List<byte[]> frames, ushort port) =>
        [.. frames.Select(f => Forge.TryReadTcp(f, out _, out _, out TcpHeader h, out _) ? h : default)
            .Where(h => h.DestinationPort == port && h.Has(TcpFlags.Syn | TcpFlags.Ack))];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Data_on_a_SYN_is_read_first_from_the_accepted_connection(bool v6)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        NetAddress peer = v6 ? NetAddress.Parse("fd00::77") : Peer, server = v6 ? StackPair.B6 : StackPair.B4;
        var fromB = new List<byte[]>();
        using var tap = pair.DeviceA.Received.Subscribe(f => fromB.Add(f.ToArray()));
        var listener = s.Await(TcpConnectionListener.ListenAsync(pair.B, new NetEndpoint(v6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 80)));
        var accept = listener.AcceptAsync();

        byte[] early = "GET / HTTP/1.0\r\n"u8.ToArray(), late = "\r\n"u8.ToArray();
        var syn = new TcpHeader(40000, 80, TcpFlags.Syn) { Sequence = new SeqNumber(7000), Window = 65535, MaxSegmentSize = 1400 };
        pair.DeviceA.Transmit.OnNext(Forge.Tcp(peer, server, syn, early));
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        TcpHeader synAck = Assert.Single(SynAcksTo(fromB, 40000));
        Assert.Equal(7001u + (uint)early.Length, synAck.Acknowledgment.Value); // the SYN and its data

        var ack = new TcpHeader(40000, 80, TcpFlags.Ack | TcpFlags.Psh)
        {
            Sequence = new SeqNumber(7001 + (uint)early.Length), Acknowledgment = synAck.Sequence + 1, Window = 65535,
        };
        pair.DeviceA.Transmit.OnNext(Forge.Tcp(peer, server, ack, late));
        TcpConnection connection = s.Await(accept);
        var buffer = new byte[100];
        int read = 0;
        while (read < early.Length + late.Length)
            read += s.Await(connection.ReadAsync(buffer.AsMemory(read)).AsTask());
        Assert.Equal([.. early, .. late], buffer[..read]);
    }

    [Fact]
    public void A_SYN_cookie_leaves_data_on_the_SYN_unacknowledged()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var fromB = new List<byte[]>();
        using var tap = pair.DeviceA.Received.Subscribe(f => fromB.Add(f.ToArray()));
        s.Await(TcpConnectionListener.ListenAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 80), backlog: 1));
        // The first SYN fills the SYN queue (backlog 1); the second is answered with a cookie.
        for (ushort port = 40000; port < 40002; port++)
        {
            var syn = new TcpHeader(port, 80, TcpFlags.Syn) { Sequence = new SeqNumber(7000), Window = 65535, MaxSegmentSize = 1400 };
            pair.DeviceA.Transmit.OnNext(Forge.Tcp(Peer, StackPair.B4, syn, [1, 2, 3]));
        }
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(7004u, Assert.Single(SynAcksTo(fromB, 40000)).Acknowledgment.Value);
        Assert.Equal(7001u, Assert.Single(SynAcksTo(fromB, 40001)).Acknowledgment.Value); // stateless: the data is not kept
        Assert.Equal(1, pair.B.GetStats().SynCookiesSent);
    }
}
