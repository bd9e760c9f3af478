using Rx.Netstack.Cli;
using Rx.Netstack.Tests.Devices;
using Rx.Netstack.Tests.Interop;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// The rows of <c>bench tcp</c> (short runs: the shape and the kernel's frame sizes, not the figures). As root it adds a
/// kernel row on the loopback of a namespace of its own at the pipe's MTU; with <c>--offloads off</c> that row must really
/// move one TCP segment per packet, which the namespace's counters show, and the namespace must be gone afterwards.
/// </summary>
[Collection(InteropCollection.Name)] // real transfers on the machine's two cores: not beside the interop tests
public sealed class BenchTcpTests
{
    [NamespaceFact]
    public async Task Offloads_off_adds_a_per_frame_kernel_row_that_moves_one_segment_per_packet()
    {
        var o = new BenchOptions { Mtu = 1500, Offloads = false, Seconds = 0.2 };

        IReadOnlyList<BenchResult> rows = await BenchTcp.RunAsync(o, DemoConsole.Create());

        Assert.Equal(["rx-netstack", "rx-netstack-inline", "kernel-loopback", "kernel-loopback-per-frame"], rows.Select(r => r.Target));
        Assert.All(rows.Take(2), r => Assert.IsType<double>(r["ratio_to_kernel_per_frame"]));
        Assert.Equal(65536, rows[2]["mtu"]); // the host's row stays as it was
        BenchResult perFrame = rows[3];
        Assert.Equal((1500, "off", 1448, "cubic"), (perFrame["mtu"], perFrame["tso"], perFrame["mss"], perFrame["congestion"]));
        // OutSegs counts MSS-sized segments, lo counts packets: equal when no packet carries more than one segment.
        Assert.InRange((double)perFrame["segments_per_frame"]!, 0.99, 1.01);
        // At least a packet per MSS of data (ACKs come on top).
        Assert.True((double)perFrame["frames_per_mb"]! >= 1e6 / 1448, $"{perFrame["frames_per_mb"]} frames per MB");
        AssertNamespaceDeleted();
    }

    /// <summary>The check above can fail: with segmentation offload on, the same counters show super-packets.</summary>
    [NamespaceFact]
    public async Task Offloads_on_the_same_mtu_row_shows_super_packets()
    {
        var o = new BenchOptions { Mtu = 1500, Offloads = true, Seconds = 0.2 };

        BenchResult? row = await BenchTcp.KernelSameMtu.MeasureAsync(o, DemoConsole.Create());

        Assert.NotNull(row);
        Assert.Equal(("kernel-loopback-same-mtu", "on"), (row.Target, row["tso"]));
        Assert.True((double)row["segments_per_frame"]! > 1.5, $"{row["segments_per_frame"]} segments per packet");
        AssertNamespaceDeleted();
    }

    /// <summary>No namespace of this process's bench is left (<c>ip netns list</c> reads /var/run/netns).</summary>
    private static void AssertNamespaceDeleted() =>
        Assert.DoesNotContain(Directory.Exists("/var/run/netns") ? Directory.GetFileSystemEntries("/var/run/netns") : [],
            path => Path.GetFileName(path).StartsWith($"rxbench-tcp-{Environment.ProcessId}-", StringComparison.Ordinal));
}
