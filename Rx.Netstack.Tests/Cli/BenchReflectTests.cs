using Rx.Netstack.Cli;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// <c>bench reflect</c> end to end, briefly (its figures are for a quiet machine, not for tests): the reflector acknowledges
/// the stack's bulk data on every queue, and as a client completes connection after connection with the stack's listener —
/// with one engine and with two, never a reset (a wrong answer from the reflector would draw one).
/// </summary>
public sealed class BenchReflectTests
{
    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(2, false)]
    public async Task Reflector_acknowledges_bulk_and_completes_connections(int engines, bool offloads)
    {
        var options = new BenchOptions { Engines = engines, Seconds = 0.3, Parallel = 8, Offloads = offloads, Json = true }; // Json: no progress lines
        IReadOnlyList<BenchResult> results = await BenchReflect.RunAsync(options, DemoConsole.Create());

        Assert.Equal(2, results.Count);
        BenchResult bulk = results[0], connections = results[1];
        Assert.True((long)bulk["bytes"]! > 0, "no bulk byte was acknowledged");
        Assert.True((long)bulk["acks_sent"]! > 0);
        Assert.True((long)connections["connections"]! > 0, "no connection completed");
        Assert.Equal(0L, (long)connections["resets"]!);
    }
}
