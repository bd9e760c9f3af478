using Rx.Netstack.Cli.Dashboard;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli.Services;

/// <summary>
/// Everything the <c>tun</c> command serves, on one stack: TCP echo (7), discard (9), chargen/source (19), UDP echo (7) and
/// HTTP (80), on IPv4 and IPv6. ICMP echo needs no service: the stack answers it itself. Tests start the same host.
/// </summary>
public sealed class ServiceHost : IAsyncDisposable
{
    /// <summary>TCP buffers of the served connections: 512 KiB, enough for a LAN path, each auto-tuned up to 4 MiB (the range
    /// gVisor stock uses) for longer paths and faster peers.</summary>
    public static TcpSettings DefaultTcpSettings { get; } = new() { SendBufferSize = 512 * 1024, MaxSendBufferSize = 4 << 20, ReceiveBufferSize = 512 * 1024, MaxReceiveBufferSize = 4 << 20 };

    private ServiceHost(Netstack stack, TextWriter? log, DashboardHub? dashboard, bool discardSha256)
    {
        _dashboard = dashboard;
        Stack = stack;
        Echo = new TcpEchoService(7, log);
        Discard = new TcpDiscardService(9, log, discardSha256);
        Chargen = new TcpChargenService(19, log);
        UdpEcho = new UdpEchoService(7, log);
        _log = log;
    }

    private readonly TextWriter? _log;
    private readonly DashboardHub? _dashboard;

    /// <summary>The stack served on.</summary>
    public Netstack Stack { get; }

    /// <summary>TCP echo on port 7.</summary>
    public TcpEchoService Echo { get; }

    /// <summary>TCP discard on port 9.</summary>
    public TcpDiscardService Discard { get; }

    /// <summary>TCP chargen (a byte source) on port 19.</summary>
    public TcpChargenService Chargen { get; }

    /// <summary>UDP echo on port 7.</summary>
    public UdpEchoService UdpEcho { get; }

    /// <summary>HTTP/1.1 on port 80 (Kestrel on the stack).</summary>
    public HttpService Http { get; private set; } = null!;

    /// <summary>Starts every service on <paramref name="stack"/>; <paramref name="log"/> gets one line per event. The discard
    /// service hashes what it receives (tests check their transfers by it).</summary>
    public static Task<ServiceHost> StartAsync(Netstack stack, TextWriter? log = null, TcpSettings? tcpSettings = null, CancellationToken cancellationToken = default) =>
        StartAsync(stack, log, tcpSettings, null, discardSha256: true, cancellationToken);

    /// <summary>Starts every service on <paramref name="stack"/>, and the live dashboard on the HTTP service when given (<c>tun --dashboard</c>);
    /// the discard service hashes with <paramref name="discardSha256"/> (<c>--discard-sha256</c>).</summary>
    internal static async Task<ServiceHost> StartAsync(Netstack stack, TextWriter? log, TcpSettings? tcpSettings, DashboardHub? dashboard, bool discardSha256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        tcpSettings ??= DefaultTcpSettings;
        var host = new ServiceHost(stack, log, dashboard, discardSha256);
        try
        {
            foreach (var service in host.TcpServices)
                await service.StartAsync(stack, settings: tcpSettings, cancellationToken: cancellationToken).ConfigureAwait(false);
            await host.UdpEcho.StartAsync(stack, cancellationToken: cancellationToken).ConfigureAwait(false);
            host.Http = await HttpService.StartAsync(stack, 80, host._log, tcpSettings, dashboard, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return host;
    }

    private IEnumerable<TcpService> TcpServices => [Echo, Discard, Chargen];

    /// <summary>One line per service, for a banner.</summary>
    public IEnumerable<string> Describe() =>
    [
        "ICMP echo (ping)",
        $"TCP echo on {Echo.Port}",
        Discard.HashesData ? $"TCP discard on {Discard.Port} (prints bytes and SHA-256 of each connection)" : $"TCP discard on {Discard.Port} (prints the bytes of each connection; --discard-sha256 adds their SHA-256)",
        $"TCP chargen/source on {Chargen.Port} (sends until you close)",
        $"UDP echo on {UdpEcho.Port}",
        _dashboard is null ? "HTTP/1.1 on 80 (Kestrel; GET / for the live counters)" : "HTTP/1.1 on 80 (Kestrel; GET / for the live counters, /dashboard for the live dashboard)",
    ];

    /// <summary>Stops every service: listeners close, connections are closed, handlers end (bounded wait).</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(TcpServices.Select(s => s.DisposeAsync().AsTask())).ConfigureAwait(false);
        await UdpEcho.DisposeAsync().ConfigureAwait(false);
        if (Http is not null) await Http.DisposeAsync().ConfigureAwait(false);
    }
}
