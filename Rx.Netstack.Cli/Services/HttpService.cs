using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Rx.Netstack.AspNetCore;
using Rx.Netstack.Cli.Dashboard;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli.Services;

/// <summary>
/// HTTP/1.1 on the userspace stack, served by Kestrel through <see cref="NetstackWebHostBuilderExtensions.UseNetstack"/>:
/// <c>GET /</c> returns a page with the stack's live counters, <c>GET /stats.txt</c> the same as plain text,
/// <c>GET /hello</c> a short fixed text (<see cref="HttpRoutes"/>). Kestrel brings
/// keep-alive, pipelining, HEAD and every status code; the stack brings the TCP underneath, on IPv4 and IPv6.
/// </summary>
public sealed class HttpService : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpRoutes _routes;

    private HttpService(Netstack stack, ushort port, TextWriter? log, TcpSettings? settings, DashboardHub? dashboard)
    {
        Port = port;
        _routes = new HttpRoutes(stack, log, dashboard);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders(); // the CLI prints its own one-line events
        builder.WebHost.UseNetstack(stack, o => o.TcpSettings = settings);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(port)); // [::] on the stack: IPv4 and IPv6
        _app = builder.Build();
        _routes.Map(_app);
    }

    /// <summary>Starts Kestrel on <paramref name="port"/> of every address of <paramref name="stack"/>.</summary>
    public static Task<HttpService> StartAsync(Netstack stack, ushort port = 80, TextWriter? log = null, TcpSettings? settings = null,
        CancellationToken cancellationToken = default) => StartAsync(stack, port, log, settings, null, cancellationToken);

    /// <summary>Starts Kestrel on <paramref name="port"/> of every address of <paramref name="stack"/>, with the live dashboard at <c>/dashboard</c> when given.</summary>
    internal static async Task<HttpService> StartAsync(Netstack stack, ushort port, TextWriter? log, TcpSettings? settings, DashboardHub? dashboard,
        CancellationToken cancellationToken = default)
    {
        var service = new HttpService(stack, port, log, settings, dashboard);
        await service._app.StartAsync(cancellationToken).ConfigureAwait(false);
        return service;
    }

    /// <summary>The port it listens on.</summary>
    public ushort Port { get; }

    /// <summary>Requests answered since start.</summary>
    public long RequestsServed => _routes.RequestsServed;

    /// <summary>Stops Kestrel gracefully (bounded) and frees the port.</summary>
    public async ValueTask DisposeAsync()
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(patience.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
