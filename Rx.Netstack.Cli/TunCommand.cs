using Rx.Netstack.Cli.Dashboard;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>
/// The `tun` command: attaches a stack to a Linux TUN interface (creating it if missing), gives it the addresses, and serves
/// ICMP echo, TCP echo/discard/chargen, UDP echo and HTTP (<see cref="ServiceHost"/>) until Ctrl-C or SIGTERM; then closes
/// the connections, the stack, the capture and the device.
/// </summary>
internal static class TunCommand
{
    private static readonly TimeSpan ClosePatience = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(TunOptions options)
    {
        using var stop = new StopSignal();

        TunDevice tun;
        MultiQueueTunDevice? queues = null;
        try
        {
            // More than one engine: one queue each (the first queue's device names the interface in the banner).
            if (options.Engines > 1) queues = MultiQueueTunDevice.Open(options.Device, options.Engines, createIfMissing: true, offloads: options.Offloads);
            tun = queues?.Devices[0] ?? TunDevice.Open(options.Device, createIfMissing: true, offloads: options.Offloads);
        }
        catch (TunDeviceException e)
        {
            Console.Error.WriteLine($"rx-netstack tun: {e.Message}");
            return ExitCodes.Failure;
        }

        using (queues)
        using (tun)
        {
            TcpSettings tcp = ServiceHost.DefaultTcpSettings with { CongestionControl = options.Congestion };
            var stack = new Netstack(StackOptions(options, tcp));
            PcapWriter? writer = options.PcapPath is null ? null : new PcapWriter(File.Create(options.PcapPath), stack.Scheduler);
            CaptureDevice? capture = writer is null ? null : new CaptureDevice(tun, stack.Scheduler, writer);
            IDisposable attachment = queues is not null ? stack.AttachQueues(queues) : stack.Attach((IPacketDevice?)capture ?? tun);
            // Flush the capture now and then so tshark/Wireshark can follow the file while we run.
            using var flushing = writer is null ? null : new Timer(_ => writer.Flush(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            try
            {
                using DashboardHub? dashboard = options.Dashboard ? new DashboardHub([new DashboardSource(tun.Name, stack)]) : null;
                await using (var host = await ServiceHost.StartAsync(stack, options.Quiet ? null : Console.Out, tcp, dashboard, options.DiscardSha256).ConfigureAwait(false))
                {
                    PrintBanner(tun, options, host);
                    try { await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { }
                    Console.WriteLine("stopping: closing connections …");
                    dashboard?.Dispose(); // ends the open event streams, so Kestrel stops at once
                }
                await WaitForConnectionsToCloseAsync(stack).ConfigureAwait(false);
                PrintCounters(stack);
            }
            finally
            {
                attachment.Dispose();
                stack.Dispose();
                capture?.Dispose();
                writer?.Dispose();
            }
        }
        Console.WriteLine($"closed {options.Device}{(options.PcapPath is null ? "" : $"; capture in {options.PcapPath}")}");
        return ExitCodes.Success;
    }

    /// <summary>
    /// The stack's options. Continuations run inline (<see cref="NetstackOptions.RunContinuationsInline"/>): the services of
    /// this command never block (their loops await; their log lines are queued, see <see cref="TcpService"/>), so a read
    /// completes inside the pass that brought its data and the service's next read or send is taken in the same thread's next
    /// pass — one thread does the work as smoltcp's one loop does, where the thread pool would cost a wake-up per read and send
    /// (and idle workers spinning for more on a small machine; docs/benchmarks.md, "TUN without offloads, one thread").
    /// </summary>
    internal static NetstackOptions StackOptions(TunOptions options, TcpSettings tcp) =>
        new() { Addresses = options.Addresses, Tcp = tcp, Engines = options.Engines, RunContinuationsInline = true };

    /// <summary>Gives closing connections a moment to finish their FIN exchange before the stack goes (bounded).</summary>
    private static async Task WaitForConnectionsToCloseAsync(Netstack stack)
    {
        var deadline = DateTime.UtcNow + ClosePatience;
        while (DateTime.UtcNow < deadline && stack.GetStats().ConnectionsByState.Keys.Any(state => state is not (nameof(TcpState.TimeWait) or nameof(TcpState.Closed))))
            await Task.Delay(50).ConfigureAwait(false);
    }

    private static void PrintBanner(TunDevice tun, TunOptions options, ServiceHost host)
    {
        Console.WriteLine($"rx-netstack on {tun.Name} (MTU {tun.Mtu}, offloads {(tun.Offloads ? "on" : $"off: {tun.OffloadsOffReason}")}{(options.Engines > 1 ? $", {options.Engines} engines on as many queues" : "")}), addresses {string.Join(", ", options.Addresses)}");
        foreach (string line in host.Describe()) Console.WriteLine($"  {line}");
        var v4 = options.Addresses.FirstOrDefault(a => !a.Address.IsV6);
        if (v4 != default)
            Console.WriteLine($"try: ping {v4.Address} · curl http://{v4.Address}/ · nc {v4.Address} 7 · nc {v4.Address} 19 | head -c 1000");
        if (options.Dashboard && options.Addresses.Count > 0)
        {
            var first = v4 != default ? v4 : options.Addresses[0];
            Console.WriteLine($"dashboard: http://{(first.Address.IsV6 ? $"[{first.Address}]" : first.Address.ToString())}/dashboard");
        }
        Console.WriteLine($"(the kernel side needs an address on {tun.Name} and the link up: ip addr add … dev {tun.Name}; ip link set {tun.Name} up)");
        Console.WriteLine("Ctrl-C or SIGTERM stops.");
    }

    private static void PrintCounters(Netstack stack)
    {
        var s = stack.GetStats();
        Console.WriteLine($"frames in/out {s.FramesIn}/{s.FramesOut}, TCP in/out {s.TcpIn}/{s.TcpOut} (retransmitted {s.TcpRetransmissions}), " +
                          $"UDP in/out {s.UdpIn}/{s.UdpOut}, ICMP in/out {s.IcmpIn}/{s.IcmpOut}, drops {s.TotalDrops}");
    }
}
