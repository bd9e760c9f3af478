using System.CommandLine;
using System.Net;

namespace Rx.Netstack.Cli;

/// <summary>The `http` command line: <c>--listen ADDRESS:PORT [--listen …] [--quiet]</c>.</summary>
/// <param name="Endpoints">Where Kestrel listens (kernel sockets).</param>
/// <param name="Quiet">No line per request (benchmarks: the console would be measured too).</param>
internal sealed record HttpOptions(IReadOnlyList<IPEndPoint> Endpoints, bool Quiet = false)
{
    /// <summary>The `http` command; its action binds the options and hands them to <paramref name="run"/>.</summary>
    public static Command CreateCommand(Func<HttpOptions, Task<int>> run)
    {
        var listen = new Option<List<IPEndPoint>>("--listen", "-l")
        {
            Description = "Where to listen, like 127.0.0.1:8080 or [::1]:8080; repeat for more.",
            HelpName = "ADDRESS:PORT",
            Required = true,
            CustomParser = result =>
            {
                var endpoints = new List<IPEndPoint>();
                foreach (var token in result.Tokens)
                {
                    if (IPEndPoint.TryParse(token.Value, out var endpoint) && endpoint.Port != 0) endpoints.Add(endpoint);
                    else result.AddError($"--listen: '{token.Value}' is not ADDRESS:PORT like 127.0.0.1:8080 or [::1]:8080");
                }
                return endpoints;
            },
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print no line per request (for benchmarks)." };
        var command = new Command("http", "Serve the tun command's HTTP routes (GET /, /hello, /stats.txt) on Kestrel over the kernel's sockets, for comparisons, until Ctrl-C or SIGTERM.")
        {
            listen, quiet,
        };
        command.SetAction(result => run(new HttpOptions(result.GetRequiredValue(listen), result.GetValue(quiet))));
        return command;
    }
}
