using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Rx.Netstack.Cli.Services;

namespace Rx.Netstack.Cli;

/// <summary>
/// The `http` command: the <c>tun</c> command's HTTP routes (<see cref="HttpRoutes"/>) on Kestrel's ordinary socket
/// transport — the kernel's TCP — until Ctrl-C or SIGTERM. The same application on the other transport, for comparisons
/// (bench/http-compare.sh).
/// </summary>
internal static class HttpCommand
{
    public static async Task<int> RunAsync(HttpOptions options)
    {
        var (endpoints, quiet) = (options.Endpoints, options.Quiet);

        using var stop = new StopSignal();

        // The same builder as HttpService, minus UseNetstack: Kestrel's default socket transport.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var endpoint in endpoints) kestrel.Listen(endpoint);
        });
        await using var app = builder.Build();
        var routes = new HttpRoutes(null, quiet ? null : Console.Out);
        routes.Map(app);
        await app.StartAsync(stop.Token).ConfigureAwait(false);
        Console.WriteLine($"rx-netstack http (Kestrel on kernel sockets) on {string.Join(", ", endpoints)}; GET /hello, /stats.txt");
        Console.WriteLine("Ctrl-C or SIGTERM stops.");
        try { await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(patience.Token).ConfigureAwait(false);
        Console.WriteLine($"stopped after {routes.RequestsServed} requests");
        return ExitCodes.Success;
    }
}
