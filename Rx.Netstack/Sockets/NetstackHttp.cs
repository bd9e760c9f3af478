namespace Rx.Netstack.Sockets;

/// <summary><see cref="HttpClient"/> over a <see cref="Netstack"/>.</summary>
public static class NetstackHttp
{
    /// <summary>
    /// A <see cref="SocketsHttpHandler"/> whose connections are TCP connections of <paramref name="stack"/>
    /// (through <see cref="SocketsHttpHandler.ConnectCallback"/>): <c>new HttpClient(NetstackHttp.CreateHandler(stack))</c>.
    /// Hosts are IP literals ("http://10.0.0.2/", "http://[fd00::2]:8080/") or names that <paramref name="resolver"/> knows
    /// (default: the stack's <see cref="Netstack.NameResolver"/>, from <see cref="NetstackOptions.DnsServers"/>).
    /// HTTPS works too (the handler runs TLS over the stream). No proxy is used.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(Netstack stack, INameResolver? resolver = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (context, cancellationToken) =>
            {
                string host = context.DnsEndPoint.Host;
                ushort port = checked((ushort)context.DnsEndPoint.Port);
                TcpConnection connection = await stack.ConnectTcpAsync(host, port, resolver, null, cancellationToken).ConfigureAwait(false);
                return connection.AsStream();
            },
        };
    }
}
