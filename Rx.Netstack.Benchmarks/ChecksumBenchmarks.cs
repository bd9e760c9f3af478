using BenchmarkDotNet.Attributes;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Benchmarks;

/// <summary>The Internet checksum (RFC 1071) over 64 B, 1500 B and 64 KiB; GB/s = Size / Mean.</summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    private byte[] _data = [];

    [Params(64, 1500, 65536)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(1).NextBytes(_data);
    }

    [Benchmark]
    public ushort Compute() => Checksum.Compute(_data);
}
