using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Cli;
using Rx.Netstack.Tests.Interop;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// <c>demo --dashboard ADDRESS:PORT [--seconds N]</c> and <c>tun --dashboard</c> on the command line: what parses, what is
/// refused with exit code 2 (nothing runs), and a taken port as a runtime failure with exit code 1.
/// </summary>
public sealed class DashboardCommandTests
{
    [Fact]
    public async Task Dashboard_lines_parse_to_their_options()
    {
        Assert.Equal(new DemoOptions(Dashboard: new IPEndPoint(IPAddress.Loopback, 8080)), await ParseAsync("demo --dashboard 127.0.0.1:8080"));
        Assert.Equal(new DemoOptions(Dashboard: new IPEndPoint(IPAddress.Loopback, 0), Seconds: 2.5),
            await ParseAsync("demo --dashboard 127.0.0.1:0 --seconds 2.5"));
        Assert.Equal(new DemoOptions(BulkBytes: 4_000_000, Dashboard: new IPEndPoint(IPAddress.IPv6Loopback, 9000)),
            await ParseAsync("demo --bulk-mb 4 --dashboard [::1]:9000"));
        var tun = Assert.IsType<TunOptions>(await ParseAsync("tun -d t0 -a 10.0.0.2/24 --dashboard", "tun"));
        Assert.True(tun.Dashboard);
        Assert.False(Assert.IsType<TunOptions>(await ParseAsync("tun -d t0 -a 10.0.0.2/24", "tun")).Dashboard);
    }

    [Theory]
    [InlineData("demo --dashboard localhost:8080", "--dashboard: 'localhost:8080' is not ADDRESS:PORT like 127.0.0.1:8080 or [::1]:8080 (port 0: any free port)")]
    [InlineData("demo --dashboard 127.0.0.1", "--dashboard: '127.0.0.1' is not ADDRESS:PORT")]
    [InlineData("demo --dashboard 8080", "--dashboard: '8080' is not ADDRESS:PORT")]
    [InlineData("demo --dashboard ::1", "--dashboard: '::1' is not ADDRESS:PORT")]
    [InlineData("demo --dashboard ::1:8080", "--dashboard: '::1:8080' is not ADDRESS:PORT")]
    [InlineData("demo --dashboard 127.0.0.1:65536", "--dashboard: '127.0.0.1:65536' is not ADDRESS:PORT")]
    [InlineData("demo --dashboard 127.1:80", "--dashboard: '127.1:80' is not ADDRESS:PORT")]
    [InlineData("demo --dashboard", "'--dashboard'")]
    [InlineData("demo --seconds 5", "--seconds: only with --dashboard (the demo without it ends by itself)")]
    [InlineData("demo --dashboard 127.0.0.1:0 --seconds 0", "--seconds: '0' is not a number greater than 0 and at most 86400")]
    [InlineData("demo --dashboard 127.0.0.1:0 --seconds soon", "--seconds: 'soon' is not a number greater than 0")]
    [InlineData("demo --dashbord 127.0.0.1:0", "unknown option '--dashbord'; did you mean '--dashboard'?")]
    [InlineData("tun -d t0 -a 10.0.0.2 --dashboard 127.0.0.1:80", "unexpected argument '127.0.0.1:80'")]
    public async Task A_wrong_dashboard_line_exits_2_and_says_what_is_wrong(string line, string message)
    {
        var error = new StringWriter();
        bool ran = false;
        var commands = new CliCommands(_ => Ran(), _ => Ran(), _ => Ran(), (_, _) => Ran());
        int code = await new RxNetstackCli(commands).InvokeAsync(line.Split(' '), new StringWriter(), error);
        Assert.True(code == 2, $"exit code {code}: {error}");
        Assert.False(ran);
        Assert.Contains(message, error.ToString());

        Task<int> Ran()
        {
            ran = true;
            return Task.FromResult(0);
        }
    }

    [Fact]
    public async Task A_taken_port_is_a_runtime_failure_with_exit_code_1_before_any_traffic()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var cli = CliProcess.StartHere("demo", "--dashboard", $"127.0.0.1:{port}", "--seconds", "30");
        int code = await cli.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 1, cli.Tail());
        Assert.Contains(cli.Lines, line => line.StartsWith($"stderr: rx-netstack demo: cannot serve the dashboard on 127.0.0.1:{port}: ", StringComparison.Ordinal));
        Assert.DoesNotContain(cli.Lines, line => line.Contains("traffic A → B", StringComparison.Ordinal));
    }

    private static async Task<object?> ParseAsync(string line, string command = "demo")
    {
        object? options = null;
        var commands = new CliCommands(
            o => Record(o, "demo"), o => Record(o, "tun"), o => Record(o, "http"), (_, o) => Record(o, "bench"));
        var error = new StringWriter();
        int code = await new RxNetstackCli(commands).InvokeAsync(line.Split(' '), new StringWriter(), error);
        Assert.True(code == 0, error.ToString());
        return options;

        Task<int> Record(object o, string name)
        {
            Assert.Equal(command, name);
            options = o;
            return Task.FromResult(0);
        }
    }
}
