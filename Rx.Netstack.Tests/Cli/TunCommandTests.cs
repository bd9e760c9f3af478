using Rx.Netstack.Cli;
using Rx.Netstack.Cli.Services;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// How the <c>tun</c> command runs its stack: the services' continuations inline on the engine's thread (no thread-pool
/// hand-off per read and send), measured in docs/benchmarks.md, "TUN without offloads, one thread".
/// </summary>
public sealed class TunCommandTests
{
    [Fact]
    public void The_stack_runs_the_services_continuations_inline_with_the_options_given()
    {
        var options = new TunOptions("t0", [InterfaceAddress.Parse("10.0.0.2/24")], null, Engines: 2);
        NetstackOptions stack = TunCommand.StackOptions(options, ServiceHost.DefaultTcpSettings);
        Assert.True(stack.RunContinuationsInline);
        Assert.Equal(options.Addresses, stack.Addresses);
        Assert.Equal(2, stack.Engines);
        Assert.Same(ServiceHost.DefaultTcpSettings, stack.Tcp);
    }
}
