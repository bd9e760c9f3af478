using Rx.Netstack.Tcp;

namespace Rx.Netstack.Sockets;

/// <summary>Short entry points in the style of wireguard-go's netstack: Dial, Listen, Bind.</summary>
public static class NetstackSocketExtensions
{
    /// <summary>Opens a TCP connection (see <see cref="TcpConnection.ConnectAsync"/>).</summary>
    public static Task<TcpConnection> ConnectTcpAsync(this Netstack stack, NetEndpoint remote, TcpSettings? settings = null, CancellationToken cancellationToken = default) =>
        TcpConnection.ConnectAsync(stack, remote, null, settings, cancellationToken);

    /// <summary>Opens a TCP connection to "address:port" text.</summary>
    public static Task<TcpConnection> ConnectTcpAsync(this Netstack stack, string remote, CancellationToken cancellationToken = default) =>
        TcpConnection.ConnectAsync(stack, NetEndpoint.Parse(remote), null, null, cancellationToken);

    /// <summary>Listens on a port on all IPv4 addresses (or IPv6 with <paramref name="ipv6"/>).</summary>
    public static Task<TcpConnectionListener> ListenTcpAsync(this Netstack stack, ushort port, bool ipv6 = false, int backlog = 128, TcpSettings? settings = null, CancellationToken cancellationToken = default) =>
        TcpConnectionListener.ListenAsync(stack, new NetEndpoint(ipv6 ? NetAddress.AnyV6 : NetAddress.AnyV4, port), backlog, settings, cancellationToken);

    /// <summary>Binds a UDP socket on a port on all IPv4 addresses (or IPv6 with <paramref name="ipv6"/>); port 0 is ephemeral.</summary>
    public static Task<UdpSocket> BindUdpAsync(this Netstack stack, ushort port = 0, bool ipv6 = false, CancellationToken cancellationToken = default) =>
        UdpSocket.BindAsync(stack, new NetEndpoint(ipv6 ? NetAddress.AnyV6 : NetAddress.AnyV4, port), cancellationToken);
}
