using System.CommandLine;
using System.Net;

namespace Rx.Netstack.Cli;

/// <summary>The `demo` command line: <c>[--pcap FILE] [--bulk-mb N] [--mtu M] [--dashboard ADDRESS:PORT [--seconds N]]</c>.</summary>
/// <param name="PcapPath">Where to write a capture of stack A's side, or null.</param>
/// <param name="BulkBytes">Bytes to move in the bulk-transfer step (with a dashboard: in each transfer), or null for the default
/// (64 MB; 8 MB with a capture; 16 MB with a dashboard).</param>
/// <param name="Mtu">The MTU of the in-memory pipe.</param>
/// <param name="Dashboard">Where to serve the live dashboard while the traffic keeps going, or null for the one-pass demo.</param>
/// <param name="Seconds">With a dashboard: stop after this many seconds (null: at Ctrl-C or SIGTERM).</param>
internal sealed record DemoOptions(string? PcapPath = null, long? BulkBytes = null, int Mtu = 1500, IPEndPoint? Dashboard = null, double? Seconds = null)
{
    /// <summary>The longest --seconds: a day.</summary>
    public const double MaxSeconds = 86_400;

    /// <summary>The `demo` command; its action binds the options and hands them to <paramref name="run"/>.</summary>
    public static Command CreateCommand(Func<DemoOptions, Task<int>> run)
    {
        var pcap = OptionParsers.OutputFile("--pcap", "Write stack A's side of the pipe to FILE (pcap; Wireshark, tshark -r).");
        var bulk = new Option<double?>("--bulk-mb")
        {
            Description = "Megabytes (10^6 bytes) to move in the bulk-transfer step; default 64, or 8 with --pcap. With --dashboard: in each transfer, default 16.",
            HelpName = "N",
            CustomParser = result => PositiveMegabytes(result),
        };
        var mtu = new Option<int>("--mtu")
        {
            Description = "The MTU of the in-memory pipe between the two stacks (1280..65535).",
            HelpName = "M",
            DefaultValueFactory = _ => 1500,
            CustomParser = OptionParsers.WholeNumber("--mtu", 1280, 65535),
        };
        var dashboard = new Option<IPEndPoint?>("--dashboard")
        {
            Description = "Keep the traffic going (with loss on the link) and serve a live dashboard of both stacks on this host's ADDRESS:PORT, e.g. 127.0.0.1:8080 (port 0: any free port), until Ctrl-C or SIGTERM.",
            HelpName = "ADDRESS:PORT",
            CustomParser = result =>
            {
                string text = OptionParsers.Text(result);
                if (OptionParsers.TryParseEndpoint(text, out var endpoint)) return endpoint;
                result.AddError($"--dashboard: '{text}' is not ADDRESS:PORT like 127.0.0.1:8080 or [::1]:8080 (port 0: any free port)");
                return null;
            },
        };
        var seconds = new Option<double?>("--seconds")
        {
            Description = "With --dashboard: stop after N seconds.",
            HelpName = "N",
            CustomParser = result => PositiveSeconds(result),
        };
        var command = new Command("demo", "Two stacks in one process joined by an in-memory pipe: UDP + LINQ, ping, TCP echo, HttpClient → Kestrel, a bulk transfer and the counters; each step checks itself. With --dashboard the traffic keeps going and a live dashboard shows it. The default command.")
        {
            pcap, bulk, mtu, dashboard, seconds,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(seconds) is not null && result.GetResult(dashboard) is null)
                result.AddError("--seconds: only with --dashboard (the demo without it ends by itself)");
        });
        command.SetAction(result => run(new DemoOptions(
            result.GetValue(pcap),
            result.GetValue(bulk) is double megabytes ? (long)(megabytes * 1e6) : null,
            result.GetValue(mtu),
            result.GetValue(dashboard),
            result.GetValue(seconds))));
        return command;
    }

    private static readonly Func<System.CommandLine.Parsing.ArgumentResult, double> PositiveSeconds = OptionParsers.PositiveNumber("--seconds", MaxSeconds);

    private static readonly Func<System.CommandLine.Parsing.ArgumentResult, double> PositiveMegabytes = OptionParsers.PositiveNumber("--bulk-mb", 1_000_000);
}
