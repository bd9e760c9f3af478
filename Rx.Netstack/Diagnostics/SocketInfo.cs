using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Diagnostics;

/// <summary>One row of the live socket table (see <see cref="Netstack.SocketTable"/>): what the socket is and, for TCP, its state.</summary>
/// <param name="Handle">The socket's handle: the row's key.</param>
/// <param name="Local">The local endpoint (UDP, TCP); default for raw sockets.</param>
/// <param name="Remote">The peer (TCP connections and intercepted UDP flows).</param>
/// <param name="State">The TCP state (connections; <see cref="TcpState.Listen"/> for listeners); null for UDP and raw.</param>
/// <param name="Protocol">The IP protocol (<see cref="IpProtocol.Udp"/>, <see cref="IpProtocol.Tcp"/>, or the raw socket's).</param>
/// <param name="IpVersion">4 or 6.</param>
public readonly record struct SocketInfo(SocketHandle Handle, NetEndpoint Local, NetEndpoint? Remote, TcpState? State, IpProtocol Protocol, int IpVersion)
{
    /// <summary>The socket kind.</summary>
    public SocketKind Kind => Handle.Kind;

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        SocketKind.TcpStream => $"{Handle} TCP {Local} ↔ {Remote} {State}",
        SocketKind.TcpListener => $"{Handle} TCP {Local} LISTEN",
        SocketKind.Udp when Remote is { } client => $"{Handle} UDP {Local} ↔ {client} (intercepted)",
        SocketKind.Udp => $"{Handle} UDP {Local}",
        SocketKind.TcpInterceptor => $"{Handle} TCP intercept",
        SocketKind.UdpInterceptor => $"{Handle} UDP intercept",
        _ => $"{Handle} raw IPv{IpVersion} {Protocol}",
    };
}
