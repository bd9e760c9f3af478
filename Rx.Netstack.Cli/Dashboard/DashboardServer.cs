using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Rx.Netstack.Cli.Dashboard;

/// <summary>
/// The dashboard on the host's network: Kestrel on kernel sockets, bound to exactly the endpoint given (port 0: a free
/// port, which <see cref="Address"/> then names). <c>GET /</c> redirects to <c>/dashboard</c>.
/// </summary>
internal sealed class DashboardServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DashboardServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where the page is, e.g. http://127.0.0.1:8080/dashboard.</summary>
    public Uri Address { get; }

    /// <summary>Starts Kestrel on <paramref name="endpoint"/>; fails (IOException) when the address cannot be bound.</summary>
    public static async Task<DashboardServer> StartAsync(IPEndPoint endpoint, DashboardHub hub, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(hub);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(endpoint));
        WebApplication app = builder.Build();
        app.MapGet("/", () => Results.Redirect("/dashboard"));
        hub.Map(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        // With port 0 the kernel chose the port: the server's address feature has the one it got.
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? $"http://{endpoint}";
        return new DashboardServer(app, new Uri(new Uri(bound), "/dashboard"));
    }

    /// <summary>Stops Kestrel (the hub must end its streams first, or this waits for them up to 5 s).</summary>
    public async ValueTask DisposeAsync()
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(patience.Token).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
