using System.Globalization;
using System.Text.RegularExpressions;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Tests.Devices;
using Xunit.Abstractions;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// Issue 20: ordinary load clients against the real `rx-netstack tun` process in a namespace (<see cref="TunCliRig"/>) —
/// ab with and without keep-alive, a Python asyncio echo and HTTP client, 100,000 short connections — on IPv4 and IPv6.
/// Every request must be answered, every echo byte-exact, and afterwards the stack's socket table must return to its
/// baseline (TIME-WAIT only). Each test starts its own CLI, so one stalled run cannot spoil the next.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed partial class LoadTests(ITestOutputHelper output)
{
    /// <summary>How long the socket table may take to drain after a load (FIN exchanges, Kestrel closing idle connections).</summary>
    private static readonly TimeSpan DrainPatience = TimeSpan.FromSeconds(20);

    private static string LoadClient => Path.Combine(AppContext.BaseDirectory, "Interop", "load_client.py");

    [NamespaceFact("ab", "curl")]
    public Task Ab_keep_alive_20000_requests_over_ipv4() => AbAsync(v6: false, keepAlive: true, requests: 20_000, TimeSpan.FromSeconds(120));

    [NamespaceFact("ab", "curl")]
    public Task Ab_keep_alive_20000_requests_over_ipv6() => AbAsync(v6: true, keepAlive: true, requests: 20_000, TimeSpan.FromSeconds(120));

    [NamespaceFact("ab", "curl")]
    public Task Ab_connection_per_request_5000_requests_over_ipv4() => AbAsync(v6: false, keepAlive: false, requests: 5_000, TimeSpan.FromSeconds(120));

    [NamespaceFact("ab", "curl")]
    public Task Ab_connection_per_request_5000_requests_over_ipv6() => AbAsync(v6: true, keepAlive: false, requests: 5_000, TimeSpan.FromSeconds(120));

    [NamespaceFact("python3", "curl")]
    public Task Echo_1000_concurrent_connections_of_10_KB_over_ipv4() => EchoAsync(v6: false);

    [NamespaceFact("python3", "curl")]
    public Task Echo_1000_concurrent_connections_of_10_KB_over_ipv6() => EchoAsync(v6: true);

    [NamespaceFact("python3", "curl")]
    public async Task Http_200_keep_alive_clients_of_25_requests_all_answered_200()
    {
        await using var rig = await TunCliRig.StartAsync();
        var run = await rig.RunAsync(TimeSpan.FromSeconds(90),
            "python3", LoadClient, "http", TunCliRig.StackV4.ToString(), "80", "/hello", "--clients", "200", "--requests", "25", "--deadline", "60");
        output.WriteLine($"{run.Stdout.Trim()} ({run.Elapsed.TotalSeconds:F1} s)");
        if (run.ExitCode != 0 || !run.Stdout.Contains("\"answered_200\": 5000,", StringComparison.Ordinal))
            Assert.Fail(await rig.ReportAsync("not all 5,000 keep-alive requests were answered 200", run));
        await AssertBaselineAsync(rig);
    }

    [NamespaceFact("ab", "curl")]
    public async Task Ab_100000_short_connections_then_both_families_still_answer()
    {
        const int requests = 100_000;
        await using var rig = await TunCliRig.StartAsync();
        // Without -k every request is a connection of its own; the kernel's 28,232 ephemeral ports wrap three times, so new
        // SYNs meet the stack's TIME-WAIT entries of the same four-tuple.
        var run = await rig.RunAsync(TimeSpan.FromSeconds(240), "ab", "-r", "-c", "50", "-n", requests.ToString(CultureInfo.InvariantCulture), "-s", "20", TunCliRig.Url(false, "/hello"));
        var ab = AbSummary.Parse(run.Stdout);
        output.WriteLine($"ab: {ab} ({run.Elapsed.TotalSeconds:F1} s)");
        if (run.ExitCode != 0 || !ab.Succeeded(requests)) Assert.Fail(await rig.ReportAsync($"ab {requests:N0} short connections: {ab}", run));

        foreach (bool v6 in new[] { false, true })
        {
            var curl = await rig.RunAsync(TimeSpan.FromSeconds(20), "curl", "-sS", "--max-time", "10", TunCliRig.Url(v6, "/hello"));
            if (curl.ExitCode != 0 || curl.Stdout != HttpRoutes.HelloBody)
                Assert.Fail(await rig.ReportAsync($"after {requests:N0} connections the stack no longer answers over IPv{(v6 ? 6 : 4)}", curl));
        }
        await AssertBaselineAsync(rig);
    }

    private async Task AbAsync(bool v6, bool keepAlive, int requests, TimeSpan timeout)
    {
        await using var rig = await TunCliRig.StartAsync();
        // -s 20: a request unanswered for 20 s ends ab with an error instead of hanging; -r: count receive errors, go on.
        string[] command = ["ab", .. keepAlive ? ["-k"] : Array.Empty<string>(), "-r", "-c", "50", "-n", requests.ToString(CultureInfo.InvariantCulture), "-s", "20", TunCliRig.Url(v6, "/hello")];
        var run = await rig.RunAsync(timeout, command);
        var ab = AbSummary.Parse(run.Stdout);
        output.WriteLine($"ab: {ab} ({run.Elapsed.TotalSeconds:F1} s)");
        if (run.ExitCode != 0 || !ab.Succeeded(requests))
            Assert.Fail(await rig.ReportAsync($"ab {(keepAlive ? "keep-alive" : "connection per request")} over IPv{(v6 ? 6 : 4)}: {ab}", run));
        await AssertBaselineAsync(rig);
    }

    private async Task EchoAsync(bool v6)
    {
        await using var rig = await TunCliRig.StartAsync();
        string host = (v6 ? TunCliRig.StackV6 : TunCliRig.StackV4).ToString();
        var run = await rig.RunAsync(TimeSpan.FromSeconds(90),
            "python3", LoadClient, "echo", host, "7", "--connections", "1000", "--size", "10240", "--deadline", "60");
        output.WriteLine($"{run.Stdout.Trim()} ({run.Elapsed.TotalSeconds:F1} s)");
        if (run.ExitCode != 0 || !run.Stdout.Contains("\"ok\": 1000,", StringComparison.Ordinal))
            Assert.Fail(await rig.ReportAsync($"not all 1,000 echo connections over IPv{(v6 ? 6 : 4)} came back byte-exact", run));
        await AssertBaselineAsync(rig);
    }

    private async Task AssertBaselineAsync(TunCliRig rig)
    {
        var (atBaseline, last, events) = await rig.WaitForBaselineAsync(DrainPatience);
        string connections = last.Connections is { } c ? string.Join(", ", c.Select(kv => $"{kv.Key} {kv.Value}")) : "unknown";
        output.WriteLine($"socket table after the load: {connections} ({events} stats events)");
        if (!atBaseline)
            Assert.Fail(await rig.ReportAsync(
                $"the socket table did not return to baseline (TIME-WAIT only, plus the stats request) within {DrainPatience.TotalSeconds} s: {connections}", stats: last));
    }

    /// <summary>The figures of ab's report that say whether every request was answered.</summary>
    private sealed record AbSummary(int? Complete, int? Failed, int Non2xx, double? RequestsPerSecond, string? FailedDetail)
    {
        public bool Succeeded(int requests) => Complete == requests && Failed == 0 && Non2xx == 0;

        public static AbSummary Parse(string stdout) => new(
            Number(CompleteLine().Match(stdout)) ?? Number(GaveUpLine().Match(stdout)),
            Number(FailedLine().Match(stdout)),
            Number(Non2xxLine().Match(stdout)) ?? 0, // ab prints the line only when there were any
            RpsLine().Match(stdout) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null,
            FailedDetailLine().Match(stdout) is { Success: true } d ? d.Groups[1].Value.Trim() : null);

        private static int? Number(Match m) => m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;

        public override string ToString() =>
            $"complete {Complete?.ToString(CultureInfo.InvariantCulture) ?? "?"}, failed {Failed?.ToString(CultureInfo.InvariantCulture) ?? "?"}" +
            (FailedDetail is null ? "" : $" ({FailedDetail})") + $", non-2xx {Non2xx}, {RequestsPerSecond?.ToString("F0", CultureInfo.InvariantCulture) ?? "?"} requests/s";
    }

    [GeneratedRegex(@"^Complete requests:\s+(\d+)", RegexOptions.Multiline)]
    private static partial Regex CompleteLine();

    // What ab prints instead of its report when it stops early (a request timed out, a receive error without -r).
    [GeneratedRegex(@"^Total of (\d+) requests completed", RegexOptions.Multiline)]
    private static partial Regex GaveUpLine();

    [GeneratedRegex(@"^Failed requests:\s+(\d+)", RegexOptions.Multiline)]
    private static partial Regex FailedLine();

    [GeneratedRegex(@"^\s+\((Connect: .*)\)", RegexOptions.Multiline)]
    private static partial Regex FailedDetailLine();

    [GeneratedRegex(@"^Non-2xx responses:\s+(\d+)", RegexOptions.Multiline)]
    private static partial Regex Non2xxLine();

    [GeneratedRegex(@"^Requests per second:\s+([\d.]+)", RegexOptions.Multiline)]
    private static partial Regex RpsLine();
}
