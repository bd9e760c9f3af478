using BenchmarkDotNet.Running;
using Rx.Netstack.Benchmarks;

// Run everything with the short job:   dotnet run -c Release --project Rx.Netstack.Benchmarks -- --filter '*' --job short
// One class:                             ... -- --filter '*Checksum*' --job short
// What allocates per TCP segment:        ... -- --probe-alloc
if (args is ["--probe-alloc", ..])
{
    AllocationProbe.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000);
    return;
}
// Fixed work, to count instructions with `perf stat -e instructions:u` (a figure the machine's load does not change; run it
// with two counts and divide the difference by theirs, which cancels start-up and the JIT):
//                                        ... -- --repeat-bulk 1500 None 400 [plain]
//                                        (plain: without receive coalescing, NetstackOptions.CoalesceReceivedSegments)
if (args is ["--repeat-bulk", string mtu, string checksums, string count, .. var more] && more.Length <= 1)
{
    TcpBulkBenchmarks.Repeat(int.Parse(mtu, System.Globalization.CultureInfo.InvariantCulture), Enum.Parse<Rx.Netstack.ChecksumOffload>(checksums),
        int.Parse(count, System.Globalization.CultureInfo.InvariantCulture), coalesce: more is not ["plain"]);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(ChecksumBenchmarks).Assembly).Run(args);
