using Rx.Netstack.Cli;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Cli;

/// <summary>The README's first command must keep working: every demo step checks itself and the command exits 0.</summary>
[Collection(SerialCollection.Name)]
public sealed class DemoCommandTests
{
    [Fact]
    public async Task Demo_runs_every_step_and_exits_zero()
    {
        var output = new StringWriter();
        TextWriter original = Console.Out;
        Console.SetOut(output);
        int code;
        try
        {
            code = await new RxNetstackCli().InvokeAsync(["demo", "--bulk-mb", "8"]).WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            Console.SetOut(original);
        }
        string text = output.ToString();
        Assert.True(code == 0, text);
        foreach (string step in new[] { "UDP datagrams", "Ping", "TCP echo", "HTTP", "Bulk transfer", "Counters" })
            Assert.Contains(step, text);
        Assert.DoesNotContain("FAILED", text);
    }

    [Fact]
    public async Task Demo_rejects_an_unknown_option_with_exit_code_2()
    {
        var error = new StringWriter();
        Assert.Equal(2, await new RxNetstackCli().InvokeAsync(["demo", "--no-such-option"], new StringWriter(), error));
        Assert.Contains("rx-netstack demo: unknown option '--no-such-option'", error.ToString());
    }
}
