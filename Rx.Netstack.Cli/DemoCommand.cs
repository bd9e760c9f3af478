using System.Diagnostics;
using System.Globalization;

namespace Rx.Netstack.Cli;

/// <summary>
/// The `demo` command: two stacks in one process joined by an in-memory pipe, in real time. Each step prints what it did and
/// checks its own result; the first failing step stops the demo with exit code 1.
/// </summary>
internal static class DemoCommand
{
    private const long DefaultBulkBytes = 64L * 1000 * 1000;
    private const long DefaultBulkBytesWithCapture = 8L * 1000 * 1000;

    public static async Task<int> RunAsync(DemoOptions options)
    {
        if (options.Dashboard is not null) return await Dashboard.DashboardDemo.RunAsync(options).ConfigureAwait(false);
        var (pcap, bulkBytes, mtu) = (options.PcapPath, options.BulkBytes, options.Mtu);
        // A capture of a 64 MB transfer would be a 70 MB file: keep the default small when capturing.
        long bulk = bulkBytes ?? (pcap is null ? DefaultBulkBytes : DefaultBulkBytesWithCapture);

        var console = DemoConsole.Create();
        var total = Stopwatch.StartNew();
        using var net = new DemoNetwork(mtu, pcap);
        console.Line($"stack A: {DemoNetwork.A4}, {DemoNetwork.A6}   stack B: {DemoNetwork.B4}, {DemoNetwork.B6}   in-memory pipe, MTU {mtu}, real time");

        var steps = new (string Title, Func<Task> Run)[]
        {
            ("1. UDP datagrams and a LINQ query over UdpSocket.Received", () => DemoSteps.UdpWithLinqAsync(net, console)),
            ("2. Ping over IPv4 and IPv6", () => DemoSteps.PingAsync(net, console)),
            ("3. TCP echo (listener.Accepted → connection.Received → SendAsync)", () => DemoSteps.TcpEchoAsync(net, console)),
            ("4. HTTP: HttpClient on A → Kestrel on B, both over the userspace stack", () => DemoHttpStep.RunAsync(net, console)),
            ($"5. Bulk transfer A → B ({bulk / 1e6:F0} MB, at most 5 s), SHA-256 verified",
                () => DemoSteps.BulkTransferAsync(net, console, bulk, TimeSpan.FromSeconds(5))),
            ("6. Counters", () => { DemoSteps.Counters(net, console); return Task.CompletedTask; }),
        };

        foreach (var (title, run) in steps)
        {
            console.Heading(title);
            try
            {
                await run();
            }
            catch (DemoStepFailedException e)
            {
                console.Fail(e.Message);
                Console.Error.WriteLine($"rx-netstack demo: step \"{title}\" failed: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (Exception e)
            {
                console.Fail($"{e.GetType().Name}: {e.Message}");
                Console.Error.WriteLine($"rx-netstack demo: step \"{title}\" failed: {e}");
                return ExitCodes.Failure;
            }
        }
        if (pcap is not null) console.Line($"capture of stack A's side: {net.CapturedFrames:N0} frames in {pcap} (open with Wireshark or tshark -r)");
        console.Line(string.Create(CultureInfo.InvariantCulture, $"demo finished in {total.Elapsed.TotalSeconds:F1} s"));
        return ExitCodes.Success;
    }
}
