namespace Rx.Netstack.Cli;

/// <summary>The `tun` command line: <c>--device NAME --address A [--address A6 …] [--pcap FILE] [--quiet]</c>.</summary>
/// <param name="Device">The TUN interface name.</param>
/// <param name="Addresses">The stack's addresses ("10.0.0.2/24" or bare "10.0.0.2", which means /32 or /128).</param>
/// <param name="PcapPath">Where to write a capture of every packet, or null.</param>
/// <param name="Quiet">No line per request or connection (benchmarks: the console would be measured too).</param>
internal sealed record TunOptions(string Device, IReadOnlyList<InterfaceAddress> Addresses, string? PcapPath, bool Quiet = false)
{
    public const string Usage = "usage: rx-netstack tun --device NAME --address A [--address A6 …] [--pcap FILE] [--quiet]";

    /// <summary>Parses the arguments after "tun"; throws <see cref="CliUsageException"/> saying what is wrong.</summary>
    public static TunOptions Parse(IReadOnlyList<string> args)
    {
        string? device = null, pcap = null;
        bool quiet = false;
        var addresses = new List<InterfaceAddress>();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new CliUsageException($"{arg} needs a value. {Usage}");
            switch (arg)
            {
                case "--device" or "-d":
                    device = Value();
                    break;
                case "--address" or "-a":
                    string text = Value();
                    try { addresses.Add(InterfaceAddress.Parse(text)); }
                    catch (FormatException e) { throw new CliUsageException($"'{text}' is not an address (like 10.0.0.2/24 or fd00::2/64): {e.Message}"); }
                    break;
                case "--pcap":
                    pcap = Value();
                    break;
                case "--quiet" or "-q":
                    quiet = true;
                    break;
                default:
                    throw new CliUsageException($"unknown option '{arg}'. {Usage}");
            }
        }
        if (string.IsNullOrEmpty(device)) throw new CliUsageException($"--device is required. {Usage}");
        if (System.Text.Encoding.UTF8.GetByteCount(device) > 15) throw new CliUsageException($"interface name '{device}' is longer than 15 bytes.");
        if (addresses.Count == 0) throw new CliUsageException($"at least one --address is required. {Usage}");
        return new TunOptions(device, addresses, pcap, quiet);
    }
}
