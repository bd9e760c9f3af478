using Microsoft.AspNetCore.Hosting;

namespace Rx.Netstack.AspNetCore;

/// <summary><c>builder.WebHost.UseNetstack(stack)</c>: Kestrel serves on the userspace stack.</summary>
public static class NetstackWebHostBuilderExtensions
{
    /// <summary>Serves the app on <paramref name="stack"/> (see <see cref="NetstackServiceCollectionExtensions.AddNetstackTransport"/>).</summary>
    public static IWebHostBuilder UseNetstack(this IWebHostBuilder builder, Netstack stack, Action<NetstackTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(stack);
        return builder.ConfigureServices(services => services.AddNetstackTransport(stack, configure));
    }
}
