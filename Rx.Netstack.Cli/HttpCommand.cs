using System.Net;
using System.Runtime.InteropServices;
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
    public const string Usage = "usage: rx-netstack http --listen ADDRESS:PORT [--listen …] [--quiet]   (e.g. 127.0.0.1:8080, [::1]:8080)";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is ["-h" or "--help"])
        {
            Console.WriteLine(Usage);
            return 0;
        }
        var (endpoints, quiet) = Parse(args);

        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // we shut down ourselves, cleanly
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

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
        return 0;
    }

    private static (List<IPEndPoint> Endpoints, bool Quiet) Parse(string[] args)
    {
        var endpoints = new List<IPEndPoint>();
        bool quiet = false;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            switch (arg)
            {
                case "--listen" or "-l":
                    string text = i + 1 < args.Length ? args[++i] : throw new CliUsageException($"{arg} needs a value. {Usage}");
                    if (!IPEndPoint.TryParse(text, out var endpoint) || endpoint.Port == 0)
                        throw new CliUsageException($"'{text}' is not ADDRESS:PORT (like 127.0.0.1:8080 or [::1]:8080).");
                    endpoints.Add(endpoint);
                    break;
                case "--quiet" or "-q":
                    quiet = true;
                    break;
                default:
                    throw new CliUsageException($"unknown option '{arg}'. {Usage}");
            }
        }
        if (endpoints.Count == 0) throw new CliUsageException($"at least one --listen is required. {Usage}");
        return (endpoints, quiet);
    }
}
