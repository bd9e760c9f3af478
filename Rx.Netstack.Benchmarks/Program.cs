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
BenchmarkSwitcher.FromAssembly(typeof(ChecksumBenchmarks).Assembly).Run(args);
