using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary><c>bench rr</c>: 1-byte TCP request/response round trips per second, stack to stack and kernel loopback (no Nagle).</summary>
internal static class BenchRequestResponse
{
    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o)
    {
        // Both stack rows warm before either is measured (the JIT's tiers; see BenchTcp.WarmUpBothAsync), the kernel's before its own.
        foreach (bool inline in (bool[])[false, true, false, true])
            await MeasureStackAsync(o with { Seconds = WarmUp.TotalSeconds }, inline);
        (long stackTrips, TimeSpan stackTime) = await MeasureStackAsync(o, inline: false);
        (long inlineTrips, TimeSpan inlineTime) = await MeasureStackAsync(o, inline: true);
        (long kernelTrips, TimeSpan kernelTime) = await MeasureKernelAsync(o);
        double stackRate = stackTrips / stackTime.TotalSeconds, kernelRate = kernelTrips / kernelTime.TotalSeconds;
        double inlineRate = inlineTrips / inlineTime.TotalSeconds;
        return
        [
            new("rr", "rx-netstack", [("round_trips_per_s", stackRate), ("round_trips", stackTrips), ("mean_us", 1e6 / stackRate),
                ("seconds", stackTime.TotalSeconds), ("ratio_to_kernel", stackRate / kernelRate)]),
            new("rr", "rx-netstack-inline", [("round_trips_per_s", inlineRate), ("round_trips", inlineTrips), ("mean_us", 1e6 / inlineRate),
                ("seconds", inlineTime.TotalSeconds), ("ratio_to_kernel", inlineRate / kernelRate)]),
            new("rr", "kernel-loopback", [("round_trips_per_s", kernelRate), ("round_trips", kernelTrips), ("mean_us", 1e6 / kernelRate),
                ("seconds", kernelTime.TotalSeconds)]),
        ];
    }

    /// <summary>Stack to stack; <paramref name="inline"/> lets continuations run on the engine (NetstackOptions.RunContinuationsInline).</summary>
    private static async Task<(long, TimeSpan)> MeasureStackAsync(BenchOptions o, bool inline)
    {
        using var net = new DemoNetwork(o.Mtu, checksumOffload: o.Checksums, configure: options => options with { RunContinuationsInline = inline });
        await using var pair = await StackStreamPair.OpenAsync(net, 5003, new TcpSettings { NoDelay = true });
        return await BenchTransfers.RequestResponseAsync(pair, o.Duration);
    }

    /// <summary>Each unmeasured warm-up run.</summary>
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(0.5);

    private static async Task<(long, TimeSpan)> MeasureKernelAsync(BenchOptions o)
    {
        await using (var warmUp = await KernelStreamPair.OpenAsync(64 * 1024, noDelay: true))
            await BenchTransfers.RequestResponseAsync(warmUp, WarmUp);
        await using var pair = await KernelStreamPair.OpenAsync(64 * 1024, noDelay: true);
        return await BenchTransfers.RequestResponseAsync(pair, o.Duration);
    }
}
