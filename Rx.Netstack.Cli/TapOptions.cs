using System.CommandLine;
using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Cli;

/// <summary>The `tap` command line: <c>--device NAME [--address A … | --dhcp] [--mac M] [--route R …] [--pcap FILE] [--quiet] [--dashboard] [--offloads on|off]</c>.</summary>
/// <param name="Device">The TAP interface name.</param>
/// <param name="Addresses">The stack's addresses (none: only its IPv6 link-local and SLAAC addresses).</param>
/// <param name="Mac">The stack's MAC address, or null for a locally administered random one.</param>
/// <param name="Routes">Static routes ("default via 10.0.0.1", "10.9.0.0/16 via 10.0.0.254").</param>
/// <param name="PcapPath">Where to write a capture of every frame (pcap, Ethernet), or null.</param>
/// <param name="Quiet">No line per request or connection.</param>
/// <param name="Dashboard">Serve the live dashboard at /dashboard on the stack's HTTP port.</param>
/// <param name="Dhcp">Get an IPv4 address, prefix and gateway from a DHCP server and keep the lease.</param>
/// <param name="DiscardSha256">The discard service hashes what each connection sent.</param>
/// <param name="Congestion">The TCP congestion control of every connection.</param>
/// <param name="Offloads">Open the TAP device with virtio-net headers (GSO super-frames, checksum offload).</param>
internal sealed record TapOptions(string Device, IReadOnlyList<InterfaceAddress> Addresses, MacAddress? Mac, IReadOnlyList<Route> Routes,
    string? PcapPath, bool Quiet = false, bool Dashboard = false, bool Dhcp = false, bool DiscardSha256 = false,
    CongestionControlAlgorithm Congestion = CongestionControlAlgorithm.Cubic, bool Offloads = true)
{
    /// <summary>The `tap` command; its action binds the options and hands them to <paramref name="run"/>.</summary>
    public static Command CreateCommand(Func<TapOptions, Task<int>> run)
    {
        var device = TunOptions.DeviceOption("The TAP interface to serve (created if missing), e.g. tap0; put it in a bridge to reach a LAN.");
        var addresses = TunOptions.AddressesOption("An address of the stack, like 10.0.0.2/24 or fd00::2/64; repeat for more. Without one the stack has its IPv6 link-local address (and SLAAC ones a router offers).", required: false);
        var mac = new Option<MacAddress?>("--mac", "-m")
        {
            Description = "The stack's MAC address, like 02:00:00:00:00:02 (default: a random locally administered one).",
            HelpName = "MAC",
            CustomParser = result =>
            {
                string text = OptionParsers.Text(result);
                if (MacAddress.TryParse(text, out MacAddress parsed) && !parsed.IsMulticast && !parsed.IsZero) return parsed;
                result.AddError($"--mac: '{text}' is not a unicast MAC address like 02:00:00:00:00:02");
                return null;
            },
        };
        var routes = new Option<List<Route>>("--route", "-r")
        {
            Description = "A static route, like \"default via 10.0.0.1\" or \"10.9.0.0/16 via 10.0.0.254\"; repeat for more.",
            HelpName = "ROUTE",
            CustomParser = result =>
            {
                var parsed = new List<Route>();
                foreach (var token in result.Tokens)
                {
                    try { parsed.Add(Route.Parse(token.Value)); }
                    catch (FormatException e) { result.AddError($"--route: {e.Message}"); }
                }
                return parsed;
            },
        };
        var pcap = OptionParsers.OutputFile("--pcap", "Write every frame the stack sends and receives to FILE (pcap, Ethernet; Wireshark, tshark -r).");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print no line per request or connection (for benchmarks)." };
        var dashboard = new Option<bool>("--dashboard") { Description = "Serve a live dashboard of the stack at http://ADDRESS/dashboard." };
        var dhcp = new Option<bool>("--dhcp") { Description = "Get an IPv4 address, prefix and default gateway from a DHCP server on the link (RFC 2131); each lease change is printed." };

        var discardSha256 = TunOptions.DiscardSha256Option();
        var congestion = TunOptions.CongestionOption();
        var offloads = new Option<string>("--offloads")
        {
            Description = "TAP offloads: on lets the kernel hand over Ethernet super-frames of up to 64 KiB and cut the stack's (virtio-net headers, TSO, checksum offload); off: one frame per MTU.",
            HelpName = "on|off",
            DefaultValueFactory = _ => "on",
            CustomParser = OptionParsers.OneOf("--offloads", "on", "off"),
        };

        var command = new Command("tap", "Join an Ethernet link through a Linux TAP device (root or CAP_NET_ADMIN) as a host of its own — ARP, neighbour discovery, its own MAC — and serve what `tun` serves until Ctrl-C or SIGTERM.")
        {
            device, addresses, mac, routes, pcap, quiet, dashboard, dhcp, discardSha256, congestion, offloads,
        };
        command.SetAction(result => run(new TapOptions(
            result.GetRequiredValue(device),
            result.GetValue(addresses) ?? [],
            result.GetValue(mac),
            result.GetValue(routes) ?? [],
            result.GetValue(pcap),
            result.GetValue(quiet),
            result.GetValue(dashboard),
            result.GetValue(dhcp),
            result.GetValue(discardSha256),
            result.GetValue(congestion),
            result.GetValue(offloads) != "off")));
        return command;
    }
}
