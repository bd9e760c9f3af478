using Rx.Netstack.Sockets;

namespace Rx.Netstack;

// The stack's own name resolver, from NetstackOptions.DnsServers (as wireguard-go's CreateNetTUN(addrs, dns, mtu) takes them).
public sealed partial class Netstack
{
    /// <summary>The DNS port the servers of <see cref="NetstackOptions.DnsServers"/> are asked on.</summary>
    private const ushort DnsPort = 53;

    /// <summary>
    /// The stack's resolver: a <see cref="DnsNameResolver"/> asking <see cref="NetstackOptions.DnsServers"/> (port 53, in order)
    /// over this stack's own UDP; without configured servers, those of the DHCP lease in force (RFC 2132 §3.8), followed as
    /// the lease changes; null when there are neither. Names given to <c>ConnectTcpAsync("host:port")</c>,
    /// <c>ConnectTcpAsync(host, port)</c> and <see cref="NetstackHttp.CreateHandler"/> without a resolver of their own go here.
    /// </summary>
    public INameResolver? NameResolver
    {
        get
        {
            if (Options.DnsServers.Count > 0)
                return LazyInitializer.EnsureInitialized(ref _nameResolver,
                    () => new DnsNameResolver(this, Options.DnsServers.Select(address => new NetEndpoint(address, DnsPort))));
            if (DhcpLease is not { DnsServers.Count: > 0 } lease) return null;
            if (_leaseResolver is { } made && made.Servers.SequenceEqual(lease.DnsServers)) return made.Resolver;
            _leaseResolver = made = new LeaseResolver(lease.DnsServers,
                new DnsNameResolver(this, lease.DnsServers.Select(address => new NetEndpoint(address, DnsPort))));
            return made.Resolver;
        }
    }

    /// <summary>A resolver over a lease's DNS servers, kept while the lease names the same ones.</summary>
    private sealed record LeaseResolver(IReadOnlyList<NetAddress> Servers, DnsNameResolver Resolver);
}
