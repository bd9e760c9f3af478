using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Rx.Netstack.Cli.Dashboard;

namespace Rx.Netstack.Cli.Services;

/// <summary>
/// The routes of the CLI's HTTP service, shared by Kestrel on the userspace stack (<see cref="HttpService"/>) and Kestrel on
/// kernel sockets (<c>rx-netstack http</c>), so a benchmark compares the same application on both transports.
/// </summary>
public sealed class HttpRoutes
{
    /// <summary>The body of <c>GET /hello</c>: small and fixed, for load clients that check every response's length (ab).</summary>
    public const string HelloBody = "Hello from rx-netstack\n";

    private readonly Netstack? _stack;
    private readonly TextWriter? _log;
    private readonly DashboardHub? _dashboard;
    private long _requests;

    /// <summary>Routes for Kestrel on <paramref name="stack"/> (null: on kernel sockets, with no stack counters to show).</summary>
    /// <param name="stack">The stack whose counters <c>/</c> and <c>/stats.txt</c> show, or null.</param>
    /// <param name="log">Gets one line per request; null for none.</param>
    /// <param name="dashboard">The live dashboard to serve at <c>/dashboard</c> (<c>tun --dashboard</c>), or null.</param>
    internal HttpRoutes(Netstack? stack, TextWriter? log, DashboardHub? dashboard = null)
    {
        _stack = stack;
        _log = log;
        _dashboard = dashboard;
    }

    /// <summary>Requests answered since start.</summary>
    public long RequestsServed => Interlocked.Read(ref _requests);

    /// <summary>
    /// Maps <c>GET /</c> and <c>/index.html</c> (the counters as HTML), <c>/stats.txt</c> (the same as text) and <c>/hello</c>
    /// (<see cref="HelloBody"/>), after a middleware that counts and logs each request; with a dashboard also
    /// <c>/dashboard</c> and its event stream <c>/dashboard/events</c>.
    /// </summary>
    public void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref _requests);
            _log?.WriteLine($"http {context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}: {context.Request.Method} {context.Request.Path}");
            await next(context).ConfigureAwait(false);
        });
        app.MapGet("/", Html);
        app.MapGet("/index.html", Html);
        app.MapGet("/stats.txt", () => Results.Text(Text(), "text/plain; charset=utf-8"));
        app.MapGet("/hello", () => Results.Text(HelloBody, "text/plain; charset=utf-8"));
        _dashboard?.Map(app);
    }

    private IResult Html() => Results.Content(
        _stack is null ? $"<!DOCTYPE html>\n<html><body><p>HTTP requests: {RequestsServed}</p></body></html>\n" : CountersPage.Html(_stack, RequestsServed),
        "text/html; charset=utf-8");

    private string Text() => _stack is null ? $"HTTP requests: {RequestsServed}\n" : CountersPage.Text(_stack, RequestsServed);
}
