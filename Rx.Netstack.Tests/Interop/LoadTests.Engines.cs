using System.Globalization;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>`rx-netstack tun --engines 2` on a two-queue TUN: Kestrel behind the sharded listener under ab, then both families.</summary>
public sealed partial class LoadTests
{
    [NamespaceFact("ab", "curl")]
    public async Task Two_engines_serve_5000_short_connections_then_both_families_still_answer()
    {
        const int requests = 5_000;
        await using var rig = await TunCliRig.StartAsync("--engines", "2");
        var run = await rig.RunAsync(TimeSpan.FromSeconds(120), "ab", "-r", "-c", "50", "-n", requests.ToString(CultureInfo.InvariantCulture), "-s", "20", TunCliRig.Url(false, "/hello"));
        var ab = AbSummary.Parse(run.Stdout);
        output.WriteLine($"ab over two engines: {ab} ({run.Elapsed.TotalSeconds:F1} s)");
        if (run.ExitCode != 0 || !ab.Succeeded(requests)) Assert.Fail(await rig.ReportAsync($"ab {requests:N0} short connections over two engines: {ab}", run));
        foreach (bool v6 in new[] { false, true })
        {
            var curl = await rig.RunAsync(TimeSpan.FromSeconds(20), "curl", "-sS", "--max-time", "10", TunCliRig.Url(v6, "/hello"));
            if (curl.ExitCode != 0 || curl.Stdout != HttpRoutes.HelloBody)
                Assert.Fail(await rig.ReportAsync($"two engines do not answer over IPv{(v6 ? 6 : 4)}", curl));
        }
        // The stats page the rig reads is the merged one: back to baseline on both engines together.
        await AssertBaselineAsync(rig);
    }
}
