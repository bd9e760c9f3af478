using System.CommandLine;

namespace Rx.Netstack.Cli;

/// <summary>The `demo` command line: <c>[--pcap FILE] [--bulk-mb N] [--mtu M]</c>.</summary>
/// <param name="PcapPath">Where to write a capture of stack A's side, or null.</param>
/// <param name="BulkBytes">Bytes to move in the bulk-transfer step, or null for the default (64 MB; 8 MB with a capture).</param>
/// <param name="Mtu">The MTU of the in-memory pipe.</param>
internal sealed record DemoOptions(string? PcapPath = null, long? BulkBytes = null, int Mtu = 1500)
{
    /// <summary>The `demo` command; its action binds the options and hands them to <paramref name="run"/>.</summary>
    public static Command CreateCommand(Func<DemoOptions, Task<int>> run)
    {
        var pcap = OptionParsers.OutputFile("--pcap", "Write stack A's side of the pipe to FILE (pcap; Wireshark, tshark -r).");
        var bulk = new Option<double?>("--bulk-mb")
        {
            Description = "Megabytes (10^6 bytes) to move in the bulk-transfer step; default 64, or 8 with --pcap.",
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
        var command = new Command("demo", "Two stacks in one process joined by an in-memory pipe: UDP + LINQ, ping, TCP echo, HttpClient → Kestrel, a bulk transfer and the counters; each step checks itself. The default command.")
        {
            pcap, bulk, mtu,
        };
        command.SetAction(result => run(new DemoOptions(
            result.GetValue(pcap),
            result.GetValue(bulk) is double megabytes ? (long)(megabytes * 1e6) : null,
            result.GetValue(mtu))));
        return command;
    }

    private static readonly Func<System.CommandLine.Parsing.ArgumentResult, double> PositiveMegabytes = OptionParsers.PositiveNumber("--bulk-mb", 1_000_000);
}
