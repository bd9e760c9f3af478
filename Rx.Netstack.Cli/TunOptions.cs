using System.CommandLine;
using System.Text;
using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Cli;

/// <summary>The `tun` command line: <c>--device NAME --address A [--address A6 …] [--pcap FILE] [--quiet] [--dashboard]</c>.</summary>
/// <param name="Device">The TUN interface name.</param>
/// <param name="Addresses">The stack's addresses ("10.0.0.2/24" or bare "10.0.0.2", which means /32 or /128).</param>
/// <param name="PcapPath">Where to write a capture of every packet, or null.</param>
/// <param name="Quiet">No line per request or connection (benchmarks: the console would be measured too).</param>
/// <param name="Dashboard">Serve the live dashboard at /dashboard on the stack's HTTP port.</param>
/// <param name="Engines">Protocol engines, one per queue of a multi-queue TUN.</param>
/// <param name="Offloads">Open the TUN device with virtio-net headers (GSO, checksum offload).</param>
/// <param name="DiscardSha256">The discard service hashes what each connection sent (off: it only counts, as a discard server does).</param>
/// <param name="Congestion">The TCP congestion control of every connection.</param>
internal sealed record TunOptions(string Device, IReadOnlyList<InterfaceAddress> Addresses, string? PcapPath, bool Quiet = false, bool Dashboard = false, int Engines = 1, bool Offloads = true, bool DiscardSha256 = false,
    CongestionControlAlgorithm Congestion = CongestionControlAlgorithm.Cubic)
{
    /// <summary>Linux's limit on an interface name: IFNAMSIZ (16) less the terminating zero.</summary>
    public const int MaxInterfaceNameBytes = 15;

    /// <summary>The `tun` command; its action binds the options and hands them to <paramref name="run"/>.</summary>
    public static Command CreateCommand(Func<TunOptions, Task<int>> run)
    {
        var device = DeviceOption("The TUN interface to serve (created if missing), e.g. tun0; at most 15 bytes.");
        var addresses = AddressesOption("An address of the stack, like 10.0.0.2/24 or fd00::2/64 (bare 10.0.0.2 means /32); repeat for more.", required: true);
        var pcap = OptionParsers.OutputFile("--pcap", "Write every packet the stack sends and receives to FILE (pcap; Wireshark, tshark -r).");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print no line per request or connection (for benchmarks)." };
        var dashboard = new Option<bool>("--dashboard") { Description = "Serve a live dashboard of the stack at http://ADDRESS/dashboard (Kestrel on the stack itself)." };

        var engines = new Option<int>("--engines")
        {
            Description = "Protocol engines, each on its own queue of a multi-queue TUN (IFF_MULTI_QUEUE) and its own core (1..16; not with --pcap).",
            HelpName = "N",
            DefaultValueFactory = _ => 1,
            CustomParser = OptionParsers.WholeNumber("--engines", 1, 16),
        };

        var offloads = new Option<string>("--offloads")
        {
            Description = "TUN offloads: on lets the kernel hand over TCP super-packets of up to 64 KiB (virtio-net headers); off: one packet per MTU per read, each read burst handed over at once, so the stack merges its in-order runs (GRO).",
            HelpName = "on|off",
            DefaultValueFactory = _ => "on",
            CustomParser = OptionParsers.OneOf("--offloads", "on", "off"),
        };

        var discardSha256 = DiscardSha256Option();
        var congestion = CongestionOption();

        var command = new Command("tun", "Serve ICMP echo, TCP echo (7), discard (9), chargen (19), UDP echo (7) and HTTP (80) on a Linux TUN device (root or CAP_NET_ADMIN) until Ctrl-C or SIGTERM.")
        {
            device, addresses, pcap, quiet, dashboard, engines, offloads, discardSha256, congestion,
        };
        command.Validators.Add(result =>
        {
            // By the token, not the value: a wrong --engines has its own error, and its value cannot be read.
            if (result.GetResult(pcap) is not null && result.GetResult(engines) is { Tokens: [var token] } && token.Value != "1")
                result.AddError("--pcap captures one queue: use it with --engines 1.");
        });
        command.SetAction(result => run(new TunOptions(
            result.GetRequiredValue(device),
            result.GetRequiredValue(addresses),
            result.GetValue(pcap),
            result.GetValue(quiet),
            result.GetValue(dashboard),
            result.GetValue(engines),
            result.GetValue(offloads) != "off",
            result.GetValue(discardSha256),
            result.GetValue(congestion))));
        return command;
    }

    /// <summary><c>--congestion cubic|newreno|bbr</c>, shared by the commands that run TCP connections (<c>tun</c>, <c>tap</c>, <c>proxy</c>).</summary>
    internal static Option<CongestionControlAlgorithm> CongestionOption() => new("--congestion")
    {
        Description = "TCP congestion control of every connection: cubic (RFC 9438, loss-based), newreno (RFC 6582) or bbr (model-based: keeps its rate under random loss, paces its sends).",
        HelpName = "cubic|newreno|bbr",
        DefaultValueFactory = _ => CongestionControlAlgorithm.Cubic,
        CustomParser = result => OptionParsers.OneOf("--congestion", "cubic", "newreno", "bbr")(result) switch
        {
            "newreno" => CongestionControlAlgorithm.NewReno,
            "bbr" => CongestionControlAlgorithm.Bbr,
            _ => CongestionControlAlgorithm.Cubic,
        },
    };

    /// <summary><c>--discard-sha256</c>, shared by the commands that serve the services (<c>tun</c>, <c>tap</c>).</summary>
    internal static Option<bool> DiscardSha256Option() => new("--discard-sha256")
    {
        Description = "The discard service (port 9) prints the SHA-256 of what each connection sent, not only its byte count (costs about a third of a core at 600 MB/s).",
    };

    /// <summary>The `--device NAME` option of the device commands (tun, tap, proxy): a valid interface name, required.</summary>
    internal static Option<string> DeviceOption(string description) => new("--device", "-d")
    {
        Description = description,
        HelpName = "NAME",
        Required = true,
        CustomParser = result =>
        {
            string name = OptionParsers.Text(result);
            if (WhyNotAnInterfaceName(name) is { } why) result.AddError($"--device: {why}");
            return name;
        },
    };

    /// <summary>The repeatable `--address ADDRESS` option of the device commands, each parsed by <see cref="TryParseAddress"/>.</summary>
    internal static Option<List<InterfaceAddress>> AddressesOption(string description, bool required) => new("--address", "-a")
    {
        Description = description,
        HelpName = "ADDRESS",
        Required = required,
        CustomParser = result =>
        {
            var parsed = new List<InterfaceAddress>();
            foreach (var token in result.Tokens)
            {
                if (TryParseAddress(token.Value, out var address, out string? error)) parsed.Add(address);
                else result.AddError($"--address: {error}");
            }
            return parsed;
        },
    };

    /// <summary>Parses "10.0.0.2/24", "fd00::2/64" or a bare address; otherwise says what was expected.</summary>
    public static bool TryParseAddress(string text, out InterfaceAddress address, out string? error)
    {
        try
        {
            address = InterfaceAddress.Parse(text);
            error = null;
            return true;
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            address = default;
            // The prefix's own message says more than ours ("Prefix length 33 is out of range for 10.0.0.2.").
            string detail = e.Message.StartsWith("Prefix length", StringComparison.Ordinal) ? $" ({e.Message.TrimEnd('.')})" : "";
            error = $"'{text}' is not an address like 10.0.0.2/24 or fd00::2/64{detail}";
            return false;
        }
    }

    /// <summary>Why Linux would refuse <paramref name="name"/> as an interface name (dev_valid_name), or null if it would not.</summary>
    public static string? WhyNotAnInterfaceName(string name)
    {
        int bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes == 0) return "an interface name cannot be empty";
        if (bytes > MaxInterfaceNameBytes) return $"interface name '{name}' is {bytes} bytes long; Linux allows at most {MaxInterfaceNameBytes}";
        if (name is "." or "..") return $"'{name}' cannot be an interface name";
        if (name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c))) return $"interface name '{name}' contains '/', ':' or a space, which Linux does not allow";
        return null;
    }
}
