using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Commands;

/// <summary>
/// A request to the engine. Families mirror the seed crate's: stack control, UDP, TCP listen, TCP stream, raw; plus ICMP echo.
/// Data in a command (<see cref="Udp.Send.Data"/> …) is read by the engine when it processes the command: do not change
/// the memory until the reply arrives.
/// </summary>
public abstract record Command
{
    private protected Command() { }

    /// <summary>Commands that change the stack itself.</summary>
    public abstract record Stack : Command
    {
        private protected Stack() { }

        /// <summary>Replaces the stack's interface addresses (IPv4 and IPv6). Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record SetAddresses(IReadOnlyList<InterfaceAddress> Addresses) : Stack;
    }

    /// <summary>UDP socket commands.</summary>
    public abstract record Udp : Command
    {
        private protected Udp() { }

        /// <summary>Binds a socket. An unspecified address means all of the stack's addresses of that version; port 0 takes an
        /// ephemeral port. Replies <see cref="Reply.Bound"/>.</summary>
        public sealed record Bind(NetEndpoint Local) : Udp;

        /// <summary>Sends one datagram. Replies <see cref="Reply.Sent"/>.</summary>
        public sealed record Send(SocketHandle Socket, NetEndpoint Destination, ReadOnlyMemory<byte> Data) : Udp;

        /// <summary>Receives one datagram, waiting for one if none is queued; longer than <paramref name="MaxLength"/> → truncated.
        /// Replies <see cref="Reply.DatagramReceived"/>.</summary>
        public sealed record Receive(SocketHandle Socket, int? MaxLength = null) : Udp;

        /// <summary>Receives every queued datagram up to <paramref name="MaxDatagrams"/>, waiting for the first if none is
        /// queued (what arrives in the same pass joins the batch); each longer than <paramref name="MaxLength"/> is truncated.
        /// One command for a burst instead of one per datagram. Replies <see cref="Reply.DatagramsReceived"/>.</summary>
        public sealed record ReceiveBatch(SocketHandle Socket, int MaxDatagrams = 64, int? MaxLength = null) : Udp;

        /// <summary>Closes the socket; waiting receives complete with <see cref="NetstackErrorKind.SocketClosed"/>. Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record Close(SocketHandle Socket) : Udp;

        /// <summary>Joins the multicast <paramref name="Group"/> (of the socket's IP version): datagrams to it reach the socket
        /// if it is bound to its port (and to the group or any address), and the stack reports its membership with IGMP or MLD.
        /// Replies <see cref="Reply.Ok"/>; <see cref="BadRequestReason.NotMulticast"/>, <see cref="BadRequestReason.WrongIpVersion"/>,
        /// <see cref="BadRequestReason.AlreadyJoined"/> otherwise.</summary>
        public sealed record JoinGroup(SocketHandle Socket, NetAddress Group) : Udp;

        /// <summary>Leaves a multicast group the socket joined (closing the socket leaves them all). Replies <see cref="Reply.Ok"/>;
        /// <see cref="BadRequestReason.NotJoined"/> when it had not joined it.</summary>
        public sealed record LeaveGroup(SocketHandle Socket, NetAddress Group) : Udp;

        /// <summary>Sets the TTL / hop limit of the datagrams the socket sends to multicast groups (1–255; 1 by default, as
        /// Linux's IP_MULTICAST_TTL: they stay on the link). Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record SetMulticastHopLimit(SocketHandle Socket, int HopLimit) : Udp;
    }

    /// <summary>TCP listener commands.</summary>
    public abstract record TcpListen : Command
    {
        private protected TcpListen() { }

        /// <summary>Listens on an endpoint (unspecified address: all addresses) with a backlog bounding both the SYN queue and the
        /// accept queue. Replies <see cref="Reply.Listening"/>.</summary>
        public sealed record Listen(NetEndpoint Local, int Backlog = 128, TcpSettings? Settings = null) : TcpListen;

        /// <summary>Takes the next established connection, waiting for one. Replies <see cref="Reply.Accepted"/>.</summary>
        public sealed record Accept(SocketHandle Listener) : TcpListen;

        /// <summary>Stops listening; unaccepted connections are reset. Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record Close(SocketHandle Listener) : TcpListen;
    }

    /// <summary>TCP connection commands.</summary>
    public abstract record TcpStream : Command
    {
        private protected TcpStream() { }

        /// <summary>Opens a connection; completes when established or failed. Replies <see cref="Reply.Connected"/>.</summary>
        public sealed record Connect(NetEndpoint Remote, NetEndpoint? Local = null, TcpSettings? Settings = null) : TcpStream;

        /// <summary>Queues data, waiting until at least one byte is accepted. Replies <see cref="Reply.Sent"/> with the count taken.</summary>
        public sealed record Send(SocketHandle Socket, ReadOnlyMemory<byte> Data) : TcpStream;

        /// <summary>Receives data into a new buffer (at most <paramref name="MaxLength"/> bytes), waiting for at least one byte or the end of
        /// the stream. Replies <see cref="Reply.Data"/> or <see cref="Reply.EndOfStream"/>.</summary>
        public sealed record Receive(SocketHandle Socket, int? MaxLength = null) : TcpStream;

        /// <summary>Receives data into the caller's buffer (no allocation), waiting for at least one byte or the end of the stream.
        /// Replies <see cref="Reply.ReceivedInto"/> (0 bytes means end of stream).</summary>
        public sealed record ReceiveInto(SocketHandle Socket, Memory<byte> Destination) : TcpStream
        {
            /// <summary>
            /// Set by <see cref="Sockets.TcpConnection.ReadAsync(Memory{byte}, CancellationToken)"/> when continuations run on the thread pool: a reader that had to
            /// wait is answered <see cref="Reply.Readable"/> instead of having the bytes copied on whichever thread brought them,
            /// and asks again, copying on its own thread. The thread that delivers a burst (the sending application's, on an
            /// in-memory pipe) then does not also copy it out for the reader, and the two share the work.
            /// </summary>
            internal bool CopyOnReadersThread { get; init; }
        }

        /// <summary>Sends FIN after queued data; receiving goes on. Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record ShutdownWrite(SocketHandle Socket) : TcpStream;

        /// <summary>Closes gracefully: replies <see cref="Reply.Ok"/> at once; the engine finishes the close in the background.</summary>
        public sealed record Close(SocketHandle Socket) : TcpStream;

        /// <summary>Resets the connection at once. Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record Abort(SocketHandle Socket) : TcpStream;

        /// <summary>Reads the connection's state and counters. Replies <see cref="Reply.Info"/>.</summary>
        public sealed record GetInfo(SocketHandle Socket) : TcpStream;
    }

    /// <summary>Raw IP socket commands.</summary>
    public abstract record Raw : Command
    {
        private protected Raw() { }

        /// <summary>Opens a raw socket receiving every packet of IP version <paramref name="IpVersion"/> and protocol <paramref name="Protocol"/>.
        /// Replies <see cref="Reply.RawOpened"/>.</summary>
        public sealed record Open(int IpVersion, IpProtocol Protocol) : Raw;

        /// <summary>Sends a whole IP packet after checking its version, protocol and lengths. Replies <see cref="Reply.Sent"/>.</summary>
        public sealed record Send(SocketHandle Socket, ReadOnlyMemory<byte> Packet) : Raw;

        /// <summary>Receives one whole packet, waiting for one; longer than <paramref name="MaxLength"/> → truncated. Replies <see cref="Reply.RawPacket"/>.</summary>
        public sealed record Receive(SocketHandle Socket, int? MaxLength = null) : Raw;

        /// <summary>Closes the socket. Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record Close(SocketHandle Socket) : Raw;
    }

    /// <summary>ICMP commands.</summary>
    public abstract record Icmp : Command
    {
        private protected Icmp() { }

        /// <summary>Sends one echo request and waits for its reply, at most <paramref name="Timeout"/>. Replies <see cref="Reply.PingReply"/>
        /// or the error <see cref="NetstackErrorKind.TimedOut"/>.</summary>
        public sealed record Ping(NetAddress Destination, int PayloadSize, TimeSpan Timeout, ushort SequenceNumber = 0) : Icmp;
    }

    /// <summary>
    /// Interception: the stack answers TCP and UDP addressed to other hosts within prefixes (a VPN's subnet router, a
    /// transparent proxy), while its own addresses keep working. See docs/forwarding.md.
    /// </summary>
    public abstract record Intercept : Command
    {
        private protected Intercept() { }

        /// <summary>
        /// Intercepts TCP to any destination within <paramref name="Prefixes"/> that is not the stack's own. Each SYN becomes an
        /// offer (<see cref="Next"/>); the handshake completes only when the application accepts it. At most
        /// <paramref name="Backlog"/> offers wait undecided (beyond: dropped, counted as
        /// <see cref="Diagnostics.DropReason.TcpInterceptOverflow"/>); one undecided for longer than
        /// <paramref name="DecisionTimeout"/> (default 30 s) is refused with a reset. Replies <see cref="Reply.Intercepting"/>.
        /// </summary>
        public sealed record StartTcp(IReadOnlyList<NetPrefix> Prefixes, int Backlog = 128, TcpSettings? Settings = null, TimeSpan? DecisionTimeout = null) : Intercept;

        /// <summary>
        /// Intercepts UDP to any destination within <paramref name="Prefixes"/> that is not the stack's own, grouped into flows by
        /// 4-tuple (<see cref="Next"/>). A flow is an ordinary UDP socket bound to the original destination (receive, send to its
        /// client, close with <see cref="Udp"/> commands); it closes after <paramref name="IdleTimeout"/> (default 60 s) without
        /// a datagram either way. At most <paramref name="MaxFlows"/> flows at once (beyond: dropped, counted as
        /// <see cref="Diagnostics.DropReason.UdpFlowLimit"/>), each holding at most <paramref name="FlowBufferSize"/> bytes of
        /// received datagrams (default <see cref="NetstackOptions.UdpReceiveBufferSize"/>). Replies <see cref="Reply.Intercepting"/>.
        /// </summary>
        public sealed record StartUdp(IReadOnlyList<NetPrefix> Prefixes, int MaxFlows = 1024, TimeSpan? IdleTimeout = null, int? FlowBufferSize = null) : Intercept;

        /// <summary>The next offer (TCP; replies <see cref="Reply.TcpOffered"/>) or new flow (UDP; replies
        /// <see cref="Reply.FlowOpened"/>), waiting for one.</summary>
        public sealed record Next(SocketHandle Interceptor) : Intercept;

        /// <summary>Accepts a TCP offer: the stack answers the client's SYN from the original destination and replies
        /// <see cref="Reply.Connected"/> once the handshake completes (or an error if the client reset or never answered).</summary>
        public sealed record Accept(SocketHandle Interceptor, long Offer) : Intercept;

        /// <summary>Refuses a TCP offer (a reset, an ICMP unreachable from the original destination, or silence). Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record Refuse(SocketHandle Interceptor, long Offer, InterceptRefusal How = InterceptRefusal.Reset) : Intercept;

        /// <summary>Closes a UDP flow, telling its client with an ICMP unreachable from the original destination
        /// (<see cref="InterceptRefusal.Reset"/> means port unreachable here). Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record RefuseFlow(SocketHandle Flow, InterceptRefusal How = InterceptRefusal.PortUnreachable) : Intercept;

        /// <summary>Stops intercepting: waiting <see cref="Next"/> requests fail, undecided TCP offers are reset, flows not yet
        /// taken close. Accepted connections and taken flows stay. Replies <see cref="Reply.Ok"/>.</summary>
        public sealed record Close(SocketHandle Interceptor) : Intercept;
    }
}
