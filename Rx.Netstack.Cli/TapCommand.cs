using Rx.Netstack.Cli.Dashboard;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Devices;
using Rx.Netstack.Link;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>
/// The `tap` command: attaches a stack to a Linux TAP interface (creating it if missing) as an Ethernet host with its own
/// MAC address, and serves what `tun` serves (<see cref="ServiceHost"/>) until Ctrl-C or SIGTERM.
/// </summary>
internal static class TapCommand
{
    private static readonly TimeSpan ClosePatience = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(TapOptions options)
    {
        using var stop = new StopSignal();
        TapDevice tap;
        try
        {
            tap = TapDevice.Open(options.Device, createIfMissing: true, offloads: options.Offloads);
        }
        catch (TunDeviceException e)
        {
            Console.Error.WriteLine($"rx-netstack tap: {e.Message}");
            return ExitCodes.Failure;
        }

        using (tap)
        {
            var stack = new Netstack(new NetstackOptions
            {
                Addresses = options.Addresses,
                Routes = options.Routes,
                Ethernet = new EthernetSettings { MacAddress = options.Mac, Dhcp = options.Dhcp },
                Tcp = ServiceHost.DefaultTcpSettings with { CongestionControl = options.Congestion },
            });
            PcapWriter? writer = options.PcapPath is null ? null : new PcapWriter(File.Create(options.PcapPath), stack.Scheduler, medium: LinkMedium.Ethernet);
            CaptureDevice? capture = writer is null ? null : new CaptureDevice(tap, stack.Scheduler, writer);
            using IDisposable leases = stack.DhcpLeases.Subscribe(e => Console.WriteLine(
                $"dhcp {e.Change.ToString().ToLowerInvariant()}: {e.Lease.Address} from {e.Lease.Server}, router {e.Lease.Router?.ToString() ?? "none"}, " +
                $"DNS {string.Join(' ', e.Lease.DnsServers)}, lease {e.Lease.LeaseTime.TotalSeconds:F0} s"));
            IDisposable attachment = stack.Attach((IPacketDevice?)capture ?? tap);
            using var flushing = writer is null ? null : new Timer(_ => writer.Flush(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            try
            {
                using DashboardHub? dashboard = options.Dashboard ? new DashboardHub([new DashboardSource(tap.Name, stack)]) : null;
                await using (var host = await ServiceHost.StartAsync(stack, options.Quiet ? null : Console.Out, stack.Options.Tcp, dashboard, options.DiscardSha256).ConfigureAwait(false))
                {
                    Console.WriteLine($"rx-netstack on {tap.Name} (Ethernet, MTU {tap.Mtu}, offloads {(tap.Offloads ? "on" : $"off: {tap.OffloadsOffReason}")}), MAC {stack.MacAddress}, addresses {string.Join(", ", stack.Addresses)}");
                    foreach (Route route in options.Routes) Console.WriteLine($"  route {route}");
                    foreach (string line in host.Describe()) Console.WriteLine($"  {line}");
                    Console.WriteLine($"(put {tap.Name} in a bridge and bring it up: ip link set {tap.Name} master br0; ip link set {tap.Name} up)");
                    Console.WriteLine("Ctrl-C or SIGTERM stops.");
                    try { await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { }
                    Console.WriteLine("stopping: closing connections …");
                    dashboard?.Dispose();
                }
                var deadline = DateTime.UtcNow + ClosePatience;
                while (DateTime.UtcNow < deadline && stack.GetStats().ConnectionsByState.Keys.Any(state => state is not (nameof(TcpState.TimeWait) or nameof(TcpState.Closed))))
                    await Task.Delay(50).ConfigureAwait(false);
                var s = stack.GetStats();
                Console.WriteLine($"frames in/out {s.FramesIn}/{s.FramesOut}, ARP in/out {s.ArpIn}/{s.ArpOut}, NDP in/out {s.NdpIn}/{s.NdpOut}, " +
                                  $"TCP in/out {s.TcpIn}/{s.TcpOut}, UDP in/out {s.UdpIn}/{s.UdpOut}, ICMP in/out {s.IcmpIn}/{s.IcmpOut}, drops {s.TotalDrops}");
                Console.WriteLine($"super-frames in/out {tap.GsoPacketsReceived}/{tap.GsoPacketsSent}, device drops in/out {tap.ReceiveDropped}/{tap.TransmitDropped}");
            }
            finally
            {
                stack.Dispose(); // first: a DHCP lease is released through the device
                attachment.Dispose();
                capture?.Dispose();
                writer?.Dispose();
            }
        }
        Console.WriteLine($"closed {options.Device}{(options.PcapPath is null ? "" : $"; capture in {options.PcapPath}")}");
        return ExitCodes.Success;
    }
}
