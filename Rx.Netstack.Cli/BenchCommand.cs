using Rx.Netstack.Devices;
namespace Rx.Netstack.Cli;

/// <summary>
/// The `bench` command: throughput and latency of two Rx.Netstack stacks over the in-memory pipe, side by side with the
/// kernel's loopback (127.0.0.1) through System.Net.Sockets in the same run; <c>bench tun</c> runs the kernel against our stack
/// over a TUN device in a namespace of its own. Results as a table, or JSON lines with --json.
/// </summary>
internal static class BenchCommand
{
    public static async Task<int> RunAsync(string which, BenchOptions options)
    {
        if (await BenchJit.RunTieredChildAsync(which) is { } childExit) return childExit;
        var console = DemoConsole.Create();
        IReadOnlyList<BenchResult> results;
        string title;
        switch (which)
        {
            case "tcp":
                title = $"bench tcp: bulk transfer, MTU {options.Mtu}, {options.Buffer / 1024} KiB buffers, {options.Write / 1024.0:0.#} KiB writes, {options.Seconds:0.#} s";
                results = await BenchTcp.RunAsync(options, console);
                break;
            case "udp":
                title = $"bench udp: {options.DatagramSize}-byte datagrams, MTU {options.Mtu}, {options.Seconds:0.#} s";
                results = await BenchUdp.RunAsync(options);
                break;
            case "rr":
                title = $"bench rr: 1-byte TCP request/response, {options.Seconds:0.#} s";
                results = await BenchRequestResponse.RunAsync(options);
                break;
            case "connect":
                title = $"bench connect: connect + close, {options.Parallel} loops in parallel, {options.Seconds:0.#} s";
                results = await BenchConnect.RunAsync(options);
                break;
            case "tun":
                if (NetworkNamespace.WhyUnsupported() is { } why)
                {
                    Console.Error.WriteLine($"rx-netstack bench tun: cannot run: {why}");
                    return ExitCodes.Unsupported;
                }
                // Without --buffer: 64 KiB and 1 MiB, the two sizes of issue 6's targets.
                int[] buffers = options.BufferGiven ? [options.Buffer] : [64 * 1024, 1024 * 1024];
                title = $"bench tun: linux ⇄ rx-netstack over TUN in a namespace, MTU {BenchTun.Mtu}, {options.Write / 1024.0:0.#} KiB writes, {options.Seconds:0.#} s each";
                results = await BenchTun.RunAsync(options, buffers, console);
                break;
            case "tap":
                if (NetworkNamespace.WhyUnsupported() is { } whyNotTap)
                {
                    Console.Error.WriteLine($"rx-netstack bench tap: cannot run: {whyNotTap}");
                    return ExitCodes.Unsupported;
                }
                int[] tapBuffers = options.BufferGiven ? [options.Buffer] : [64 * 1024, 1024 * 1024];
                title = $"bench tap: linux ⇄ rx-netstack over a bridge and TAP in a namespace, MTU {BenchTun.Mtu}, {options.Write / 1024.0:0.#} KiB writes, {options.Seconds:0.#} s each";
                results = await BenchTap.RunAsync(options, tapBuffers, console);
                break;
            case "proxy":
                if (NetworkNamespace.WhyUnsupported() is { } whyNotProxy)
                {
                    Console.Error.WriteLine($"rx-netstack bench proxy: cannot run: {whyNotProxy}");
                    return ExitCodes.Unsupported;
                }
                title = $"bench proxy: client ⇄ server namespaces through rx-netstack proxy and through kernel forwarding, {options.Write / 1024.0:0.#} KiB writes, {options.Seconds:0.#} s each";
                results = await BenchProxy.RunAsync(options, console);
                break;
            case "loss":
                if (NetworkNamespace.WhyUnsupported() is { } whyNot)
                {
                    Console.Error.WriteLine($"rx-netstack bench loss: cannot run: {whyNot}");
                    return ExitCodes.Unsupported;
                }
                title = $"bench loss: linux ⇄ rx-netstack over one impaired link (TUN, MTU {BenchTun.Mtu}, 10 ms RTT), {options.Buffer / 1024} KiB buffers, {options.Seconds:0.#} s each";
                results = await BenchLoss.RunAsync(options, console);
                break;
            case "engines":
                if (NetworkNamespace.WhyUnsupported() is { } whyNotEngines)
                {
                    Console.Error.WriteLine($"rx-netstack bench engines: cannot run: {whyNotEngines}");
                    return ExitCodes.Unsupported;
                }
                title = $"bench engines: linux ⇄ rx-netstack with {options.Engines} engine(s) over a {options.Engines}-queue TUN, MTU {BenchEngines.Mtu}, {options.Seconds:0.#} s each";
                results = await BenchEngines.RunAsync(options, console);
                break;
            case "reflect":
                title = $"bench reflect: rx-netstack with {options.Engines} engine(s) against a reflector on each of {options.Engines} queue(s), MTU 1500, {options.Seconds:0.#} s each";
                results = await BenchReflect.RunAsync(options, console);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(which), which, "not a benchmark");
        }
        results = [.. results.Select(r => r with { Figures = [.. r.Figures, ("jit", BenchJit.Label)] })];
        BenchResult.Print(console, options.Json, title, results);
        return ExitCodes.Success;
    }
}
