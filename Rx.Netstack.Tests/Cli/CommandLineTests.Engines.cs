using Rx.Netstack.Cli;

namespace Rx.Netstack.Tests.Cli;

/// <summary>The command line of engines (sharding) and TUN offloads: <c>tun --engines --offloads</c>, <c>bench engines</c>.</summary>
public sealed partial class CommandLineTests
{
    [Fact]
    public async Task Tun_engines_and_offloads_parse_to_their_options()
    {
        var o = (await InvokeAsync("tun", "-d", "t0", "-a", "10.0.0.2/24", "--engines", "2", "--offloads", "off")).Ran<TunOptions>("tun");
        Assert.Equal(2, o.Engines);
        Assert.False(o.Offloads);
        o = (await InvokeAsync("tun", "-d", "t0", "-a", "10.0.0.2/24")).Ran<TunOptions>("tun");
        Assert.Equal(1, o.Engines);
        Assert.True(o.Offloads);
    }

    [Theory]
    [InlineData("tun -d t0 -a 10.0.0.2 --engines 0", "--engines")]
    [InlineData("tun -d t0 -a 10.0.0.2 --engines 2 --pcap /tmp/x.pcap", "--pcap captures one queue: use it with --engines 1.")]
    [InlineData("tun -d t0 -a 10.0.0.2 --offloads maybe", "--offloads")]
    [InlineData("bench engines --engines 17", "--engines")]
    [InlineData("tun -d t0 -a 10.0.0.2 --congestion vegas", "--congestion: 'vegas' is not one of cubic, newreno, bbr")]
    public async Task Wrong_engine_lines_are_refused(string line, string message) =>
        (await InvokeAsync(line.Split(' '))).Refused(message);

    [Fact]
    public async Task Bench_engines_takes_engines_parallel_and_offloads()
    {
        var o = (await InvokeAsync("bench", "engines", "--engines", "2", "--parallel", "16", "--offloads", "off", "--seconds", "2")).Ran<BenchOptions>("bench engines");
        Assert.Equal(new BenchOptions() with { Engines = 2, Parallel = 16, Offloads = false, Seconds = 2 }, o);
        Assert.Equal(1, (await InvokeAsync("bench", "engines")).Ran<BenchOptions>("bench engines").Engines);
    }

    [Fact]
    public async Task Bench_reflect_takes_engines_parallel_and_offloads()
    {
        var o = (await InvokeAsync("bench", "reflect", "--engines", "2", "--parallel", "4", "--offloads", "off")).Ran<BenchOptions>("bench reflect");
        Assert.Equal(new BenchOptions() with { Engines = 2, Parallel = 4, Offloads = false }, o);
        (await InvokeAsync("bench", "reflect", "--mtu", "9000")).Refused("--mtu");
    }
}
