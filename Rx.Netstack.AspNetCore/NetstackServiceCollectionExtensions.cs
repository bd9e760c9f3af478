using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Rx.Netstack.AspNetCore;

/// <summary>Registers the netstack transport for Kestrel.</summary>
public static class NetstackServiceCollectionExtensions
{
    /// <summary>
    /// Makes Kestrel listen on <paramref name="stack"/> instead of the operating system's sockets: every other connection
    /// listener factory (sockets, QUIC) is removed, so nothing the app binds reaches the host's network.
    /// </summary>
    public static IServiceCollection AddNetstackTransport(this IServiceCollection services, Netstack stack, Action<NetstackTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(stack);
        services.RemoveAll(typeof(IConnectionListenerFactory));
        services.RemoveAll(typeof(IMultiplexedConnectionListenerFactory));
        var options = services.AddOptions<NetstackTransportOptions>();
        if (configure is not null) options.Configure(configure);
        services.AddSingleton<IConnectionListenerFactory>(sp => new NetstackConnectionListenerFactory(stack,
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<NetstackTransportOptions>>()));
        return services;
    }

    private static void RemoveAll(this IServiceCollection services, Type serviceType)
    {
        for (int i = services.Count - 1; i >= 0; i--)
            if (services[i].ServiceType == serviceType) services.RemoveAt(i);
    }
}
