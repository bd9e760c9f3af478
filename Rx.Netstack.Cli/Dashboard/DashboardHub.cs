using System.Reactive.Subjects;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Rx.Netstack.Cli.Dashboard;

/// <summary>
/// The dashboard's two routes on any ASP.NET Core app — Kestrel on kernel sockets (<c>demo --dashboard</c>) or on the
/// userspace stack itself (<c>tun --dashboard</c>): <c>GET {path}</c> is the page, <c>GET {path}/events?stack=NAME</c> a
/// Server-Sent Events stream (<c>text/event-stream</c>) of that stack, fed by one <see cref="DashboardSession"/> per browser.
/// A stream ends when the browser goes away, the app stops or the hub is disposed, and its subscriptions go with it.
/// </summary>
internal sealed class DashboardHub : IDisposable
{
    /// <summary>Updates per second are at most 1 / period per stream: four.</summary>
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromMilliseconds(250);

    private static readonly byte[] Retry = "retry: 2000\n\n"u8.ToArray(); // EventSource reconnects after 2 s when the server went away

    private readonly CancellationTokenSource _stopping = new();
    private readonly BehaviorSubject<int> _clientCounts = new(0);
    private readonly Lock _gate = new();
    private int _clients;
    private long _events, _coalesced;

    /// <param name="sources">The stacks shown, the first by default; names must differ.</param>
    /// <param name="period">How often counters are sampled and events written (default <see cref="DefaultPeriod"/>).</param>
    public DashboardHub(IReadOnlyList<DashboardSource> sources, TimeSpan? period = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0) throw new ArgumentException("The dashboard needs at least one stack.", nameof(sources));
        if (sources.Select(s => s.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count() != sources.Count)
            throw new ArgumentException("Two stacks have the same name.", nameof(sources));
        Sources = sources;
        Period = period ?? DefaultPeriod;
    }

    public IReadOnlyList<DashboardSource> Sources { get; }

    public TimeSpan Period { get; }

    /// <summary>Event streams open now.</summary>
    public int ClientCount => Volatile.Read(ref _clients);

    /// <summary>The number of open event streams, now and at every change.</summary>
    public IObservable<int> ClientCounts => _clientCounts;

    /// <summary>Events written to every stream since start.</summary>
    public long EventsWritten => Interlocked.Read(ref _events);

    /// <summary>Updates coalesced or dropped for slow browsers, of the streams that ended (see <see cref="DashboardSession.Coalesced"/>).</summary>
    public long EventsCoalesced => Interlocked.Read(ref _coalesced);

    /// <summary>Maps <c>GET {path}</c> (the page) and <c>GET {path}/events</c> (the event stream).</summary>
    public void Map(IEndpointRouteBuilder routes, string path = "/dashboard")
    {
        ArgumentNullException.ThrowIfNull(routes);
        routes.MapGet(path, () => Results.Bytes(DashboardPage.Html, "text/html; charset=utf-8"));
        routes.MapGet($"{path}/events", ServeEventsAsync);
    }

    /// <summary>Writes one stack's events until the browser leaves, the app stops or the stack is disposed.</summary>
    public async Task ServeEventsAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string? name = context.Request.Query["stack"];
        DashboardSource? source = string.IsNullOrEmpty(name) ? Sources[0] : Sources.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
        if (source is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsync($"no stack named '{name}'; the stacks are {string.Join(", ", Sources.Select(s => s.Name))}\n").ConfigureAwait(false);
            return;
        }
        HttpResponse response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        CancellationToken appStopping = context.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? default;
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token, appStopping);
        CancellationToken token = ended.Token;

        var session = new DashboardSession(source, Period, () => ClientCount);
        ChangeClients(+1);
        try
        {
            await response.Body.WriteAsync(Retry, token).ConfigureAwait(false);
            await WriteEventAsync(response.Body, new("hello", DashboardJson.Hello(source, Sources, Period)), token).ConfigureAwait(false);
            await response.Body.FlushAsync(token).ConfigureAwait(false);
            session.Start();
            while (await session.WaitAsync(token).ConfigureAwait(false))
            {
                foreach (DashboardEvent e in session.Take()) await WriteEventAsync(response.Body, e, token).ConfigureAwait(false);
                await response.Body.FlushAsync(token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The browser went away (a write failed or the request was aborted), or the server stops: the stream just ends.
        }
        finally
        {
            session.Dispose();
            Interlocked.Add(ref _coalesced, session.Coalesced);
            ChangeClients(-1);
        }
    }

    private async Task WriteEventAsync(Stream body, DashboardEvent e, CancellationToken token)
    {
        // "event: NAME\ndata: JSON\n\n" in one write: the JSON is one line (Utf8JsonWriter does not indent unless asked).
        byte[] head = Encoding.UTF8.GetBytes($"event: {e.Name}\ndata: ");
        byte[] frame = new byte[head.Length + e.Json.Length + 2];
        head.CopyTo(frame, 0);
        e.Json.CopyTo(frame, head.Length);
        frame[^2] = frame[^1] = (byte)'\n';
        await body.WriteAsync(frame, token).ConfigureAwait(false);
        Interlocked.Increment(ref _events);
    }

    private void ChangeClients(int delta)
    {
        // Under a lock so the subject sees the counts in order.
        lock (_gate) _clientCounts.OnNext(Interlocked.Add(ref _clients, delta));
    }

    /// <summary>Ends every open stream (their sessions unsubscribe as they end).</summary>
    public void Dispose()
    {
        // Cancelled, not disposed: a request that arrives while the app stops still links its token to it.
        _stopping.Cancel();
        _clientCounts.OnCompleted();
    }
}
