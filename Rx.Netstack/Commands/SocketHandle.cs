namespace Rx.Netstack.Commands;

/// <summary>What kind of socket a handle names.</summary>
public enum SocketKind : byte
{
    /// <summary>Not a socket (the default handle).</summary>
    None = 0,
    /// <summary>A UDP socket.</summary>
    Udp,
    /// <summary>A TCP listener.</summary>
    TcpListener,
    /// <summary>A TCP connection.</summary>
    TcpStream,
    /// <summary>A raw IP socket.</summary>
    Raw,
    /// <summary>A TCP interceptor (<see cref="Command.Intercept.StartTcp"/>).</summary>
    TcpInterceptor,
    /// <summary>A UDP interceptor (<see cref="Command.Intercept.StartUdp"/>); its flows are <see cref="Udp"/> sockets.</summary>
    UdpInterceptor,
}

/// <summary>
/// Names one socket of one stack. The generation makes a handle to a closed socket stale rather than
/// silently naming whichever socket reuses its slot: a stale handle gets <see cref="NetstackErrorKind.StaleHandle"/>.
/// </summary>
/// <param name="Index">The slot in the stack's socket table.</param>
/// <param name="Generation">Which occupant of that slot.</param>
/// <param name="Kind">The socket kind.</param>
/// <param name="StackId">Which stack issued the handle (a handle from another stack is refused).</param>
public readonly record struct SocketHandle(int Index, uint Generation, SocketKind Kind, int StackId)
{
    /// <summary>True for a handle that was issued (not the default value).</summary>
    public bool IsValid => Kind != SocketKind.None;

    /// <inheritdoc />
    public override string ToString() => IsValid ? $"{Kind}#{Index}.{Generation}" : "none";
}
