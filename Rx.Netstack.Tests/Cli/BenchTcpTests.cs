using Rx.Netstack.Cli;
using Rx.Netstack.Tests.Devices;
using Rx.Netstack.Tests.Interop;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// The kernel row <c>bench tcp</c> adds as root, on the loopback of a namespace of its own at the pipe's MTU (a short run:
/// its frame sizes, not its figures): with <c>--offloads off</c> it must really move one TCP segment per packet, which the
/// namespace's counters show, and the namespace must be gone afterwards.
/// </summary>
[Collection(InteropCollection.Name)] // real transfers on the machine's two cores: not beside the interop tests
public sealed class BenchTcpTests
{
    /// <summary>
    /// Only the namespace's row: the whole of <c>bench tcp</c> starts and stops six pairs of stacks on threads of their own, and
    /// with it in the suite InboxBufferPoolTests got 4 KiB arrays for 1,500-byte frames — the shared pool's 2 KiB bucket was
    /// empty, presumably held by the inbox caches of the ended threads, which never give their arrays back.
    /// </summary>
    [NamespaceFact]
    public async Task Offloads_off_the_per_frame_kernel_row_moves_one_segment_per_packet()
    {
        var o = new BenchOptions { Mtu = 1500, Offloads = false, Seconds = 0.2 };

        BenchResult? row = await BenchTcp.KernelSameMtu.MeasureAsync(o, DemoConsole.Create());

        Assert.NotNull(row);
        Assert.Equal(("kernel-loopback-per-frame", "ratio_to_kernel_per_frame"), (row.Target, BenchTcp.KernelSameMtu.RatioName(o)));
        Assert.Equal((1500, "off", 1448, "cubic"), (row["mtu"], row["tso"], row["mss"], row["congestion"]));
        // OutSegs counts MSS-sized segments, lo counts packets: equal when no packet carries more than one segment.
        Assert.InRange((double)row["segments_per_frame"]!, 0.99, 1.01);
        // At least a packet per MSS of data (ACKs come on top).
        Assert.True((double)row["frames_per_mb"]! >= 1e6 / 1448, $"{row["frames_per_mb"]} frames per MB");
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
