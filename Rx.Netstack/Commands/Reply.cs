using Rx.Netstack.Tcp;

namespace Rx.Netstack.Commands;

/// <summary>A datagram received on a UDP socket. Its data belongs to whoever received it: it is never recycled.</summary>
/// <param name="Source">Where it came from.</param>
/// <param name="Destination">The local endpoint it was sent to.</param>
/// <param name="Data">The payload (cut to the requested maximum length when <see cref="Truncated"/>).</param>
/// <param name="Truncated">True when the payload was longer than the requested maximum.</param>
/// <param name="OriginalLength">The payload length on the wire.</param>
public sealed record Datagram(NetEndpoint Source, NetEndpoint Destination, ReadOnlyMemory<byte> Data, bool Truncated = false, int OriginalLength = -1)
{
    /// <summary>The payload length on the wire.</summary>
    public int Length => OriginalLength < 0 ? Data.Length : OriginalLength;
}

/// <summary>The engine's answer to a command.</summary>
public abstract record Reply
{
    private protected Reply() { }

    /// <summary>Done, with nothing to report.</summary>
    public sealed record Ok : Reply
    {
        /// <summary>The one instance.</summary>
        public static readonly Ok Instance = new();
    }

    /// <summary>Internal to <see cref="Sockets.TcpConnection.ReadAsync(Memory{byte}, CancellationToken)"/>: data is waiting, ask again (see
    /// <see cref="Command.TcpStream.ReceiveInto.CopyOnReadersThread"/>). Never seen through the command API.</summary>
    internal sealed record Readable : Reply
    {
        public static readonly Readable Instance = new();
    }

    /// <summary>The request failed.</summary>
    public sealed record Error(NetstackError Detail) : Reply;

    /// <summary>A UDP socket is bound.</summary>
    public sealed record Bound(SocketHandle Socket, NetEndpoint Local) : Reply;

    /// <summary>Bytes (or one datagram or packet of that length) were accepted for sending.</summary>
    public sealed record Sent(int Bytes) : Reply;

    /// <summary>A datagram arrived.</summary>
    public sealed record DatagramReceived(Datagram Datagram) : Reply;

    /// <summary>Datagrams for a <see cref="Command.Udp.ReceiveBatch"/>, oldest first (at least one).</summary>
    public sealed record DatagramsReceived(IReadOnlyList<Datagram> Datagrams) : Reply;

    /// <summary>A TCP listener is listening.</summary>
    public sealed record Listening(SocketHandle Listener, NetEndpoint Local) : Reply;

    /// <summary>A connection was accepted.</summary>
    public sealed record Accepted(SocketHandle Socket, NetEndpoint Local, NetEndpoint Remote) : Reply;

    /// <summary>A connection is established.</summary>
    public sealed record Connected(SocketHandle Socket, NetEndpoint Local, NetEndpoint Remote) : Reply;

    /// <summary>Stream bytes, in a new buffer that belongs to the receiver.</summary>
    public sealed record Data(ReadOnlyMemory<byte> Bytes) : Reply;

    /// <summary>Bytes copied into the caller's buffer; 0 means the peer finished sending (end of stream).</summary>
    public sealed record ReceivedInto(int Count) : Reply;

    /// <summary>The peer finished sending and every byte has been read.</summary>
    public sealed record EndOfStream : Reply
    {
        /// <summary>The one instance.</summary>
        public static readonly EndOfStream Instance = new();
    }

    /// <summary>A raw socket is open.</summary>
    public sealed record RawOpened(SocketHandle Socket) : Reply;

    /// <summary>A whole IP packet from a raw socket (cut when <see cref="Truncated"/>).</summary>
    public sealed record RawPacket(ReadOnlyMemory<byte> Packet, bool Truncated, int OriginalLength) : Reply;

    /// <summary>An echo reply arrived.</summary>
    /// <param name="From">Who answered.</param>
    /// <param name="SequenceNumber">The echo sequence number.</param>
    /// <param name="PayloadSize">Bytes of echo data.</param>
    /// <param name="RoundTripTime">Measured on the stack's scheduler.</param>
    public sealed record PingReply(NetAddress From, ushort SequenceNumber, int PayloadSize, TimeSpan RoundTripTime) : Reply;

    /// <summary>A TCP connection's state and counters.</summary>
    public sealed record Info(TcpConnectionInfo Connection) : Reply;

    /// <summary>An interceptor is active (<see cref="Command.Intercept.StartTcp"/>, <see cref="Command.Intercept.StartUdp"/>).</summary>
    public sealed record Intercepting(SocketHandle Interceptor) : Reply;

    /// <summary>A client's SYN to an intercepted destination, waiting for <see cref="Command.Intercept.Accept"/> or
    /// <see cref="Command.Intercept.Refuse"/>.</summary>
    /// <param name="Offer">The offer's id (for accept or refuse).</param>
    /// <param name="Source">The client.</param>
    /// <param name="Destination">The original destination the client asked for.</param>
    public sealed record TcpOffered(long Offer, NetEndpoint Source, NetEndpoint Destination) : Reply;

    /// <summary>A new intercepted UDP flow: an ordinary UDP socket bound to <paramref name="Local"/> that talks to <paramref name="Remote"/>.</summary>
    /// <param name="Flow">The flow's UDP socket.</param>
    /// <param name="Local">The original destination (replies leave from it).</param>
    /// <param name="Remote">The client.</param>
    public sealed record FlowOpened(SocketHandle Flow, NetEndpoint Local, NetEndpoint Remote) : Reply;
}
