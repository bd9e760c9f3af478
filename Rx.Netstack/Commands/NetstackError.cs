namespace Rx.Netstack.Commands;

/// <summary>What went wrong with a request.</summary>
public enum NetstackErrorKind
{
    /// <summary>The request is malformed or not allowed; <see cref="NetstackError.Reason"/> says why.</summary>
    BadRequest,
    /// <summary>The handle was never issued by this stack, or names a socket of another kind.</summary>
    InvalidHandle,
    /// <summary>The handle named a socket that has since been closed.</summary>
    StaleHandle,
    /// <summary>The peer reset the connection.</summary>
    ConnectionReset,
    /// <summary>The peer refused the connection (RST in reply to SYN, or ICMP port unreachable).</summary>
    ConnectionRefused,
    /// <summary>No answer in time (connect, retransmissions, keepalive, ping).</summary>
    TimedOut,
    /// <summary>The destination cannot be reached (no device, no route, ICMP unreachable).</summary>
    Unreachable,
    /// <summary>The connection was aborted locally.</summary>
    ConnectionAborted,
    /// <summary>The socket was closed while the request waited.</summary>
    SocketClosed,
    /// <summary>
    /// <see cref="NetstackOptions.CommandQueueLimit"/> commands were waiting for the engine already (a producer that does not wait
    /// for its replies). Transient: the friendly layer's accept and receive loops ask again after a short pause.
    /// </summary>
    CommandQueueFull,
    /// <summary>A configured limit was reached (sockets, connections); <see cref="NetstackError.Message"/> names it.</summary>
    LimitReached,
    /// <summary>The stack was disposed.</summary>
    StackDisposed,
    /// <summary>
    /// The engine failed while processing the request (a bug in the stack, not in the request): the request is answered, the
    /// engine goes on, and <see cref="Diagnostics.NetstackStats.EngineFaults"/> counts it. Please report it.
    /// </summary>
    EngineFault,
}

/// <summary>Why a request was a bad request.</summary>
public enum BadRequestReason
{
    /// <summary>Not a bad request.</summary>
    None = 0,
    /// <summary>The address is not one of the stack's, or cannot be used here (e.g. unspecified or multicast destination).</summary>
    Unaddressable,
    /// <summary>The IP versions of two addresses in the request differ.</summary>
    WrongIpVersion,
    /// <summary>The message is larger than the socket's buffer or the protocol's limit.</summary>
    MessageTooLarge,
    /// <summary>A zero-size buffer was given where data is needed.</summary>
    ZeroSizeBuffer,
    /// <summary>The local endpoint is already in use.</summary>
    PortInUse,
    /// <summary>No ephemeral port is free.</summary>
    NoFreePort,
    /// <summary>The operation does not fit the socket's state (e.g. send after shutdown).</summary>
    InvalidState,
    /// <summary>A raw packet is malformed (version, lengths).</summary>
    MalformedPacket,
    /// <summary>A value is out of its allowed range.</summary>
    InvalidArgument,
    /// <summary>A group to join or leave is not a multicast address.</summary>
    NotMulticast,
    /// <summary>The socket has joined this multicast group already.</summary>
    AlreadyJoined,
    /// <summary>The socket has not joined this multicast group.</summary>
    NotJoined,
}

/// <summary>A typed error with a readable message.</summary>
/// <param name="Kind">What went wrong.</param>
/// <param name="Reason">For <see cref="NetstackErrorKind.BadRequest"/>, why.</param>
/// <param name="Message">A sentence for people.</param>
public sealed record NetstackError(NetstackErrorKind Kind, BadRequestReason Reason, string Message)
{
    /// <summary>
    /// For an error an ICMP message reported (a UDP datagram's port unreachable, a host or network unreachable), the remote
    /// endpoint of the datagram it was about; otherwise null.
    /// </summary>
    public NetEndpoint? Remote { get; init; }

    /// <summary>A bad request with its reason.</summary>
    public static NetstackError Bad(BadRequestReason reason, string message) => new(NetstackErrorKind.BadRequest, reason, message);

    /// <summary>An error of a kind other than bad request.</summary>
    public static NetstackError Of(NetstackErrorKind kind, string message) => new(kind, BadRequestReason.None, message);

    /// <inheritdoc />
    public override string ToString() => Reason == BadRequestReason.None ? $"{Kind}: {Message}" : $"{Kind} ({Reason}): {Message}";
}

/// <summary>The exception the friendly socket layer throws for a <see cref="NetstackError"/>.</summary>
public sealed class NetstackException : Exception
{
    /// <summary>Wraps an error.</summary>
    public NetstackException(NetstackError error) : base(error.ToString()) => Error = error;

    /// <summary>The error.</summary>
    public NetstackError Error { get; }

    /// <summary>Shortcut for <c>Error.Kind</c>.</summary>
    public NetstackErrorKind Kind => Error.Kind;
}
