using System.Diagnostics.Tracing;

namespace Rx.Netstack.Benchmarks;

/// <summary>
/// <c>--probe-alloc</c>: runs the TCP ingress benchmark body many times and prints bytes allocated per segment and which
/// types the runtime's allocation sampling (one event per ~100 KB) saw — a quick way to find what allocates on the hot path.
/// </summary>
internal static class AllocationProbe
{
    public static void Run(int iterations)
    {
        var bench = new TcpIngressBenchmarks();
        bench.Setup();
        for (int i = 0; i < 10_000; i++) bench.DataSegmentIngress();
        using var listener = new AllocationListener();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < iterations; i++) bench.DataSegmentIngress();
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"TCP ingress: {(double)bytes / iterations:F1} bytes allocated per segment over {iterations:N0} segments");
        foreach (var (type, count) in listener.Types.OrderByDescending(t => t.Value)) Console.WriteLine($"  sampled {count,5}× {type}");
        bench.Dispose();

        var egress = new TcpEgressBenchmarks();
        egress.Setup();
        for (int i = 0; i < 10_000; i++) egress.DataSegmentEgress();
        listener.Types.Clear();
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < iterations; i++) egress.DataSegmentEgress();
        bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"TCP egress: {(double)bytes / iterations:F1} bytes allocated per segment over {iterations:N0} segments");
        foreach (var (type, count) in listener.Types.OrderByDescending(t => t.Value)) Console.WriteLine($"  sampled {count,5}× {type}");
        egress.Dispose();
    }

    private sealed class AllocationListener : EventListener
    {
        public Dictionary<string, int> Types { get; } = [];

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || e.PayloadNames is null) return;
            int index = e.PayloadNames.IndexOf("TypeName");
            if (index < 0) return;
            string type = e.Payload![index] as string ?? "?";
            lock (Types) Types[type] = Types.GetValueOrDefault(type) + 1;
        }
    }
}
