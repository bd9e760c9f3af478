using Rx.Netstack.Sockets;

namespace Rx.Netstack;

// The stack's own name resolver, from NetstackOptions.DnsServers (as wireguard-go's CreateNetTUN(addrs, dns, mtu) takes them).
public sealed partial class Netstack
{
    /// <summary>The DNS port the servers of <see cref="NetstackOptions.DnsServers"/> are asked on.</summary>
    private const ushort DnsPort = 53;

    /// <summary>
    /// The stack's resolver: a <see cref="DnsNameResolver"/> asking <see cref="NetstackOptions.DnsServers"/> (port 53, in order)
    /// over this stack's own UDP, or null when none are configured. Names given to <c>ConnectTcpAsync("host:port")</c>,
    /// <c>ConnectTcpAsync(host, port)</c> and <see cref="NetstackHttp.CreateHandler"/> without a resolver of their own go here.
    /// </summary>
    public INameResolver? NameResolver => Options.DnsServers.Count == 0
        ? null
        : LazyInitializer.EnsureInitialized(ref _nameResolver,
            () => new DnsNameResolver(this, Options.DnsServers.Select(address => new NetEndpoint(address, DnsPort))));
}
