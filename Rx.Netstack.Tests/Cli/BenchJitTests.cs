using System.Text.Json;
using Rx.Netstack.Cli;
using Rx.Netstack.Tests.Interop;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// The tool runs with tiered compilation off; its in-memory benchmarks run again in a child with it on, so their figures are
/// the library's as an application with .NET's defaults gets them (<see cref="BenchJit"/>).
/// </summary>
public sealed class BenchJitTests
{
    [Theory]
    [InlineData(null, null, true)]      // .NET's default
    [InlineData(null, "false", false)]  // the tool's runtimeconfig.json
    [InlineData(null, false, false)]
    [InlineData(null, "true", true)]
    [InlineData("1", "false", true)]    // the environment wins over the configuration
    [InlineData("0", null, false)]
    [InlineData(" 0 ", "true", false)]
    [InlineData("", "false", false)]    // an empty variable is no choice
    public void The_environment_overrides_the_runtime_configuration(string? environment, object? configured, bool tiered) =>
        Assert.Equal(tiered, BenchJit.IsTiered(environment, configured));

    [Theory]
    [InlineData("tcp", true)]
    [InlineData("rr", true)]
    [InlineData("udp", true)]
    [InlineData("connect", true)]
    [InlineData("reflect", true)]
    [InlineData("tun", false)] // the tool against the kernel: measured as the tool runs
    [InlineData("loss", false)]
    public void Only_the_in_memory_benchmarks_are_the_librarys(string which, bool inMemory) =>
        Assert.Equal(inMemory, BenchJit.IsInMemory(which));

    [Fact]
    public async Task The_tool_without_tiering_runs_bench_tcp_in_a_tiered_child()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "rx-netstack.runtimeconfig.json")));
        Assert.False(config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties")
            .GetProperty("System.Runtime.TieredCompilation").GetBoolean());

        using var cli = CliProcess.StartHere("bench", "tcp", "--seconds", "0.2", "--json");
        Assert.Equal(0, await cli.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        var rows = cli.Lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        // As root a fourth row follows: the kernel on a namespace's loopback at the pipe's MTU.
        Assert.Equal(["rx-netstack", "rx-netstack-inline", "kernel-loopback"], rows.Take(3).Select(r => r.GetProperty("target").GetString()));
        Assert.All(rows, r => Assert.Equal("tiered", r.GetProperty("jit").GetString()));
    }
}
