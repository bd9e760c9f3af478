using System.Net;
using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Sockets;

/// <summary>Dial by name, raw sockets and ping by text, in the style of wireguard-go's netstack (<c>DialContext</c>, <c>Listen</c>, <c>Ping</c>).</summary>
public static class NetstackDial
{
    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/>: an IP literal directly, a name through <paramref name="resolver"/>
    /// (default: the stack's <see cref="Netstack.NameResolver"/>, from <see cref="NetstackOptions.DnsServers"/>); each resolved
    /// address is tried in turn, the first failure is reported if all fail.
    /// </summary>
    /// <exception cref="ArgumentException">A name was given, and neither a resolver nor the stack's DNS servers.</exception>
    /// <exception cref="NetstackException">Every address refused, timed out or was unreachable.</exception>
    public static async Task<TcpConnection> ConnectTcpAsync(this Netstack stack, string host, ushort port, INameResolver? resolver = null,
        TcpSettings? settings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        IReadOnlyList<NetAddress> addresses = await ResolveAsync(host, resolver ?? stack.NameResolver, cancellationToken).ConfigureAwait(false);
        if (addresses.Count == 0) throw new NetstackException(NetstackError.Of(NetstackErrorKind.Unreachable, $"The name '{host}' has no addresses."));
        NetstackException? first = null;
        foreach (NetAddress address in addresses)
        {
            try
            {
                return await TcpConnection.ConnectAsync(stack, new NetEndpoint(address, port), null, settings, cancellationToken).ConfigureAwait(false);
            }
            catch (NetstackException e)
            {
                first ??= e;
            }
        }
        throw first!;
    }

    /// <summary>An IP literal as itself, a name through <paramref name="resolver"/>.</summary>
    public static async ValueTask<IReadOnlyList<NetAddress>> ResolveAsync(string host, INameResolver? resolver, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (IPAddress.TryParse(host.Trim('[', ']'), out IPAddress? literal)) return [NetAddress.FromIPAddress(literal)];
        if (resolver is null)
            throw new ArgumentException($"'{host}' is not an IP address, and there is no name resolver: pass one, or give the stack DNS servers (NetstackOptions.DnsServers).", nameof(host));
        return await resolver.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Listens for TCP on an endpoint (unspecified address: all addresses of that version; port 0: ephemeral).</summary>
    public static Task<TcpConnectionListener> ListenTcpAsync(this Netstack stack, NetEndpoint local, int backlog = 128, CancellationToken cancellationToken = default) =>
        TcpConnectionListener.ListenAsync(stack, local, backlog, null, cancellationToken);

    /// <summary>Opens a raw socket (see <see cref="RawSocket"/>).</summary>
    public static Task<RawSocket> OpenRawAsync(this Netstack stack, int ipVersion, IpProtocol protocol, CancellationToken cancellationToken = default) =>
        RawSocket.OpenAsync(stack, ipVersion, protocol, cancellationToken);

    /// <summary>Pings an address given as text ("10.0.0.2", "fd00::2").</summary>
    public static Task<Reply.PingReply> PingAsync(this Netstack stack, string address, CancellationToken cancellationToken = default) =>
        stack.PingAsync(NetAddress.Parse(address), cancellationToken: cancellationToken);
}
