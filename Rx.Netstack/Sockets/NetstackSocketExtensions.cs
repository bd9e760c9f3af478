using System.Globalization;
using System.Net;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Sockets;

/// <summary>Short entry points in the style of wireguard-go's netstack: Dial, Listen, Bind.</summary>
public static class NetstackSocketExtensions
{
    /// <summary>Opens a TCP connection (see <see cref="TcpConnection.ConnectAsync"/>).</summary>
    public static Task<TcpConnection> ConnectTcpAsync(this Netstack stack, NetEndpoint remote, TcpSettings? settings = null, CancellationToken cancellationToken = default) =>
        TcpConnection.ConnectAsync(stack, remote, null, settings, cancellationToken);

    /// <summary>
    /// Opens a TCP connection to "host:port": an IP literal ("10.0.0.2:80", "[fd00::2]:80") directly, a name ("web.test:80")
    /// through the stack's <see cref="Netstack.NameResolver"/> (<see cref="NetstackOptions.DnsServers"/>), trying each address.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="remote"/> is not "host:port", or it names a host and the stack has no DNS servers.</exception>
    /// <exception cref="Commands.NetstackException">Every address refused, timed out or was unreachable.</exception>
    public static Task<TcpConnection> ConnectTcpAsync(this Netstack stack, string remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(remote);
        if (IPEndPoint.TryParse(remote, out IPEndPoint? literal)) return TcpConnection.ConnectAsync(stack, literal, null, null, cancellationToken);
        int colon = remote.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(remote.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
            throw new ArgumentException($"'{remote}' is not \"host:port\" (\"10.0.0.2:80\", \"[fd00::2]:80\", \"web.test:80\").", nameof(remote));
        return stack.ConnectTcpAsync(remote[..colon], port, null, null, cancellationToken);
    }

    /// <summary>Listens on a port on all IPv4 addresses (or IPv6 with <paramref name="ipv6"/>).</summary>
    public static Task<TcpConnectionListener> ListenTcpAsync(this Netstack stack, ushort port, bool ipv6 = false, int backlog = 128, TcpSettings? settings = null, CancellationToken cancellationToken = default) =>
        TcpConnectionListener.ListenAsync(stack, new NetEndpoint(ipv6 ? NetAddress.AnyV6 : NetAddress.AnyV4, port), backlog, settings, cancellationToken);

    /// <summary>Binds a UDP socket on a port on all IPv4 addresses (or IPv6 with <paramref name="ipv6"/>); port 0 is ephemeral.</summary>
    public static Task<UdpSocket> BindUdpAsync(this Netstack stack, ushort port = 0, bool ipv6 = false, CancellationToken cancellationToken = default) =>
        UdpSocket.BindAsync(stack, new NetEndpoint(ipv6 ? NetAddress.AnyV6 : NetAddress.AnyV4, port), cancellationToken);
}
