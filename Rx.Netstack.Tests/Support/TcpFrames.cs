using System.Buffers.Binary;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Support;

/// <summary>IPv4 TCP segments built once and rewritten in place, for the allocation tests (rewriting allocates nothing), and
/// the connection they are injected into.</summary>
internal static class TcpFrames
{
    /// <summary>An IPv4 packet from <paramref name="source"/> to <paramref name="destination"/> carrying <paramref name="header"/>
    /// and <paramref name="payloadLength"/> random bytes, starting <paramref name="offset"/> bytes into the frame (room for a
    /// link header the caller writes).</summary>
    public static byte[] Build(NetAddress source, NetAddress destination, TcpHeader header, int payloadLength, int offset = 0)
    {
        int tcpLength = header.Length + payloadLength;
        byte[] frame = new byte[offset + Ipv4Header.HeaderLength + tcpLength];
        Span<byte> packet = frame.AsSpan(offset);
        new Random(3).NextBytes(packet[(Ipv4Header.HeaderLength + header.Length)..]);
        TcpHeader.Emit(packet[Ipv4Header.HeaderLength..], header, payloadLength, source, destination);
        Ipv4Header.Emit(packet, new Ipv4Header(source, destination, IpProtocol.Tcp), tcpLength);
        return frame;
    }

    /// <summary>Sets the sequence and acknowledgment numbers of a frame from <see cref="Build"/> and its TCP checksum anew.</summary>
    public static void Rewrite(byte[] frame, NetAddress source, NetAddress destination, SeqNumber sequence, SeqNumber acknowledgment, int offset = 0)
    {
        Span<byte> tcp = frame.AsSpan(offset + Ipv4Header.HeaderLength);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence.Value);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], acknowledgment.Value);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], Checksum.Finish(Checksum.Accumulate(tcp, Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, tcp.Length))));
    }

    /// <summary>
    /// Opens a connection on <paramref name="stack"/> (listening on port 80 at <paramref name="server"/>) from
    /// <paramref name="client"/>:40000 by injecting the client's SYN and final ACK through <paramref name="device"/>, whose
    /// last frame sent is the SYN-ACK; the stack must run passes inline. Returns the server's control block and its ISN.
    /// </summary>
    public static (TcpControlBlock Tcb, SeqNumber ServerIsn) Establish(Netstack stack, SinkDevice device, NetAddress client, NetAddress server)
    {
        TcpConnectionListener listener = stack.ListenTcpAsync(80).GetAwaiter().GetResult();
        Task<TcpConnection> accept = listener.AcceptAsync();
        device.Inject(Build(client, server, new TcpHeader(40000, 80, TcpFlags.Syn) { Sequence = new SeqNumber(1000), Window = 65535, MaxSegmentSize = 1460 }, 0));
        Assert.Equal(WireError.None, TcpHeader.TryParse(device.LastSent[Ipv4Header.HeaderLength..], server, client, out TcpHeader synAck, out _));
        Assert.True(synAck.Has(TcpFlags.Syn | TcpFlags.Ack));
        device.Inject(Build(client, server, new TcpHeader(40000, 80, TcpFlags.Ack) { Sequence = new SeqNumber(1001), Acknowledgment = synAck.Sequence + 1, Window = 65535 }, 0));
        Assert.True(accept.IsCompletedSuccessfully);
        return (stack.Tcp.Connections.Single().Tcb, synAck.Sequence);
    }
}
