using BenchmarkDotNet.Running;

// Run everything with the short job:   dotnet run -c Release --project Rx.Netstack.Benchmarks -- --filter '*' --job short
// One class:                             ... -- --filter '*Checksum*' --job short
BenchmarkSwitcher.FromAssembly(typeof(Rx.Netstack.Benchmarks.ChecksumBenchmarks).Assembly).Run(args);
