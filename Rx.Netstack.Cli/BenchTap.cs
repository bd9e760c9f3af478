using System.Globalization;
using System.Runtime.InteropServices;
using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench tap</c>: the Linux kernel against our stack over a Linux bridge at MTU 1500: the stack on a TAP port of the bridge,
/// the kernel on the bridge's own address, in a network namespace this command creates and always deletes. The same bulk
/// transfers as <c>bench tun</c> (<see cref="BenchTun"/>: each way, each buffer size, bounded in time and bytes), through
/// Ethernet, ARP and the bridge's forwarding; <c>--offloads</c> says whether the TAP device takes and makes GSO super-frames.
/// </summary>
internal static class BenchTap
{
    private const string Interface = "rxbtap0", Bridge = "rxbbr0";

    /// <summary>A safety bound on each transfer besides its time (as <c>bench tun</c>'s).</summary>
    private const double MaxBytesPerSecond = 4e9;

    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o, IReadOnlyList<int> buffers, DemoConsole console)
    {
        using var ns = NetworkNamespace.Create($"rxbench-{Environment.ProcessId}");
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => ns.Dispose());
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => ns.Dispose());
        TapDevice? tap = null;
        Netstack? stack = null;
        try
        {
            tap = ns.Run(() => TapDevice.Open(Interface, offloads: o.Offloads));
            if (!o.Json && tap.OffloadsOffReason is { } why) console.Line($"TAP offloads off: {why}");
            string mtu = BenchTun.Mtu.ToString(CultureInfo.InvariantCulture);
            ns.Exec("ip", "link", "add", Bridge, "type", "bridge", "mcast_snooping", "0");
            ns.Exec("ip", "link", "set", Bridge, "mtu", mtu);
            ns.Exec("ip", "link", "set", Interface, "mtu", mtu);
            ns.Exec("ip", "link", "set", Interface, "master", Bridge);
            ns.Exec("ip", "addr", "add", $"{BenchTun.KernelAddress}/24", "dev", Bridge);
            ns.Exec("ip", "link", "set", Interface, "up");
            ns.Exec("ip", "link", "set", Bridge, "up");
            stack = new Netstack(new NetstackOptions { Addresses = [new InterfaceAddress(BenchTun.StackAddress, 24)] });
            using var attachment = stack.Attach(tap);

            ushort port = 5201;
            // Warm-up, not measured (the JIT's tiers; the first ARP exchange).
            var warmUp = o with { Seconds = Math.Min(0.5, o.Seconds) };
            if (!o.Json) console.Line("warm-up (not measured) …");
            await MeasureAsync(ns, stack, tap, warmUp, buffers[0], port++, kernelSends: true);
            await MeasureAsync(ns, stack, tap, warmUp, buffers[0], port++, kernelSends: false);

            var results = new List<BenchResult>();
            foreach (int buffer in buffers)
            {
                if (!o.Json) console.Line($"{BenchTun.Label(buffer)} buffers: linux → rx-netstack …");
                results.Add(await MeasureAsync(ns, stack, tap, o, buffer, port++, kernelSends: true));
                if (!o.Json) console.Line($"{BenchTun.Label(buffer)} buffers: rx-netstack → linux …");
                results.Add(await MeasureAsync(ns, stack, tap, o, buffer, port++, kernelSends: false));
            }
            return results;
        }
        finally
        {
            stack?.Dispose();
            tap?.Dispose();
        }
    }

    private static async Task<BenchResult> MeasureAsync(NetworkNamespace ns, Netstack stack, TapDevice tap, BenchOptions o, int buffer,
        ushort port, bool kernelSends)
    {
        var settings = new TcpSettings { SendBufferSize = buffer, ReceiveBufferSize = buffer };
        long droppedBefore = tap.TransmitDropped, gsoBefore = tap.GsoPacketsReceived, gsoSentBefore = tap.GsoPacketsSent;
        await using var pair = kernelSends
            ? await BenchTun.KernelToStackAsync(ns, stack, settings, buffer, port)
            : await BenchTun.StackToKernelAsync(ns, stack, settings, buffer, port);
        var (sent, received, elapsed) = await BenchTun.BulkAsync(pair, o.Write, o.Duration, (long)(MaxBytesPerSecond * o.Seconds));
        if (received != sent) throw new InvalidOperationException($"sent {sent} bytes but {received} arrived");
        return new BenchResult("tap", kernelSends ? "linux → rx-netstack" : "rx-netstack → linux",
        [
            ("buffer", BenchTun.Label(buffer)), ("mb_per_s", received / 1e6 / elapsed.TotalSeconds),
            ("bytes", received), ("seconds", elapsed.TotalSeconds), ("mtu", BenchTun.Mtu),
            ("tap_tx_dropped", tap.TransmitDropped - droppedBefore), ("offloads", tap.Offloads ? "on" : "off"),
            ("tap_gso_rx", tap.GsoPacketsReceived - gsoBefore), ("tap_gso_tx", tap.GsoPacketsSent - gsoSentBefore),
        ]);
    }
}
