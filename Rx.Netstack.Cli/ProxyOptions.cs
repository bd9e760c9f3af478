using System.CommandLine;
using System.Net;
using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Cli;

/// <summary>
/// The `proxy` command line: <c>--device NAME --address A [--address A6] [--intercept PREFIX …] [--socks5 HOST:PORT]
/// [--quiet] [--dashboard] [--congestion ALG] [--engines N]</c>.
/// </summary>
/// <param name="Device">The TUN interface name.</param>
/// <param name="Addresses">The stack's own addresses.</param>
/// <param name="Intercept">The destinations to intercept (default: 0.0.0.0/0 and ::/0).</param>
/// <param name="Socks5">A SOCKS5 server that carries the upstream TCP connections (CONNECT) and UDP flows (UDP ASSOCIATE), or null to open them here.</param>
/// <param name="Quiet">No line per connection or flow.</param>
/// <param name="Dashboard">Serve the live dashboard (counters, every relayed connection) at /dashboard on the stack's own address.</param>
/// <param name="Congestion">The TCP congestion control of the connections the stack terminates.</param>
/// <param name="Engines">Protocol engines, one per queue of a multi-queue TUN.</param>
internal sealed record ProxyOptions(string Device, IReadOnlyList<InterfaceAddress> Addresses, IReadOnlyList<NetPrefix> Intercept,
    IPEndPoint? Socks5 = null, bool Quiet = false, bool Dashboard = false, CongestionControlAlgorithm Congestion = CongestionControlAlgorithm.Cubic,
    int Engines = 1)
{
    /// <summary>The `proxy` command; its action binds the options and hands them to <paramref name="run"/>.</summary>
    public static Command CreateCommand(Func<ProxyOptions, Task<int>> run)
    {
        var device = TunOptions.DeviceOption("The TUN interface to read (created if missing), e.g. tun0; at most 15 bytes. It may be moved to another namespace once open.");
        var addresses = TunOptions.AddressesOption("An address of the stack itself, like 10.0.0.2/24 or fd00::2/64; repeat for more.", required: true);
        var intercept = new Option<List<NetPrefix>>("--intercept", "-i")
        {
            Description = "Intercept TCP and UDP to destinations in PREFIX (e.g. 10.1.0.0/16, ::/0); repeat for more. Default: 0.0.0.0/0 and ::/0.",
            HelpName = "PREFIX",
            CustomParser = result =>
            {
                var parsed = new List<NetPrefix>();
                foreach (var token in result.Tokens)
                {
                    try { parsed.Add(NetPrefix.Parse(token.Value)); }
                    catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
                    {
                        result.AddError($"--intercept: '{token.Value}' is not a prefix like 10.1.0.0/16 or fd00::/64 ({e.Message.TrimEnd('.')})");
                    }
                }
                return parsed;
            },
        };
        var socks5 = new Option<IPEndPoint?>("--socks5")
        {
            Description = "Carry the upstream traffic through this SOCKS5 server (no authentication), e.g. 127.0.0.1:1080: TCP with CONNECT, each UDP flow with a UDP ASSOCIATE of its own.",
            HelpName = "HOST:PORT",
            CustomParser = result =>
            {
                string text = OptionParsers.Text(result);
                if (IPEndPoint.TryParse(text, out IPEndPoint? endpoint) && endpoint.Port != 0) return endpoint;
                result.AddError($"--socks5: '{text}' is not an address and port like 127.0.0.1:1080 or [::1]:1080");
                return null;
            },
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print no line per connection or flow (for benchmarks)." };
        var dashboard = new Option<bool>("--dashboard")
        {
            Description = "Serve a live dashboard at http://ADDRESS/dashboard on the stack's own address: counters and every relayed connection, intercepted ones by their original destination.",
        };

        var congestion = TunOptions.CongestionOption();
        var engines = new Option<int>("--engines")
        {
            Description = "Protocol engines, each on its own queue of a multi-queue TUN (IFF_MULTI_QUEUE) and its own core (1..16); intercepted TCP is spread over them by flow, UDP stays on the first.",
            HelpName = "N",
            DefaultValueFactory = _ => 1,
            CustomParser = OptionParsers.WholeNumber("--engines", 1, 16),
        };

        var command = new Command("proxy", "Terminate the TCP and UDP that arrive on a Linux TUN device for other hosts and carry it on with the host's sockets (a transparent proxy, the heart of a userspace VPN) until Ctrl-C or SIGTERM.")
        {
            device, addresses, intercept, socks5, quiet, dashboard, congestion, engines,
        };
        command.SetAction(result => run(new ProxyOptions(
            result.GetRequiredValue(device),
            result.GetRequiredValue(addresses),
            result.GetValue(intercept) is { Count: > 0 } prefixes ? prefixes : [NetPrefix.AllV4, NetPrefix.AllV6],
            result.GetValue(socks5),
            result.GetValue(quiet),
            result.GetValue(dashboard),
            result.GetValue(congestion),
            result.GetValue(engines))));
        return command;
    }
}
