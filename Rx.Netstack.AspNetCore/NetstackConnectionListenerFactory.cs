using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace Rx.Netstack.AspNetCore;

/// <summary>
/// Kestrel's transport seam for a <see cref="Netstack"/>: every endpoint Kestrel binds (from <c>ListenAnyIP</c>, <c>Listen</c>,
/// URLs such as <c>http://10.0.0.2:8080</c> or <c>http://localhost:5000</c>) becomes a TCP listener on the userspace stack.
/// <c>[::]</c> (what <c>ListenAnyIP</c> binds) listens on every IPv4 and IPv6 address of the stack. Register it with
/// <see cref="NetstackWebHostBuilderExtensions.UseNetstack"/> or <see cref="NetstackServiceCollectionExtensions.AddNetstackTransport"/>.
/// </summary>
public sealed class NetstackConnectionListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly NetstackTransportOptions _options;

    /// <summary>Creates the factory for <paramref name="stack"/>.</summary>
    public NetstackConnectionListenerFactory(Netstack stack, IOptions<NetstackTransportOptions>? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        Stack = stack;
        _options = options?.Value ?? new NetstackTransportOptions();
    }

    /// <summary>The stack connections are accepted on.</summary>
    public Netstack Stack { get; }

    /// <summary>True for IP endpoints (the stack has no Unix sockets or named pipes).</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    /// <summary>Listens on <paramref name="endpoint"/> on the stack.</summary>
    /// <exception cref="NotSupportedException">The endpoint is not an <see cref="IPEndPoint"/>.</exception>
    /// <exception cref="AddressInUseException">Something on the stack already listens there.</exception>
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip) throw new NotSupportedException($"The netstack transport binds IP endpoints only, not {endpoint}.");
        return await NetstackConnectionListener.BindAsync(Stack, ip, _options, cancellationToken).ConfigureAwait(false);
    }
}
