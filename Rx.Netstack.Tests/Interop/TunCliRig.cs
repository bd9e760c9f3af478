using System.Diagnostics;
using System.Globalization;
using System.Net;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// The real `rx-netstack tun` process serving a namespace of its own: a TUN interface <see cref="Interface"/> whose kernel
/// side has 10.77.8.1/24 and fd77:8::1/64, the CLI on 10.77.8.2 and fd77:8::2. Clients (ab, wrk, python, curl) run inside
/// the namespace with <see cref="RunAsync"/>, so no traffic leaves it. Disposing sends SIGTERM, waits (bounded) for the
/// CLI to exit, kills it otherwise, and deletes the namespace.
/// </summary>
internal sealed class TunCliRig : IAsyncDisposable
{
    // A subnet and name of its own, distinct from InteropRig's 10.77.0.0/24 and rxi0.
    public const string Interface = "rxload0";
    public static readonly IPAddress KernelV4 = IPAddress.Parse("10.77.8.1");
    public static readonly IPAddress KernelV6 = IPAddress.Parse("fd77:8::1");
    public static readonly IPAddress StackV4 = IPAddress.Parse("10.77.8.2");
    public static readonly IPAddress StackV6 = IPAddress.Parse("fd77:8::2");

    private static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(15);

    private TunCliRig(NetworkNamespace ns, CliProcess cli)
    {
        Namespace = ns;
        Cli = cli;
    }

    public NetworkNamespace Namespace { get; }
    public CliProcess Cli { get; }

    /// <summary>The exit code of the CLI after a clean stop by <see cref="DisposeAsync"/>, or null.</summary>
    public int? ExitCode { get; private set; }

    /// <summary>An HTTP URL of the stack: <c>http://10.77.8.2/path</c> or <c>http://[fd77:8::2]/path</c>.</summary>
    public static string Url(bool v6, string path = "/") => v6 ? $"http://[{StackV6}]{path}" : $"http://{StackV4}{path}";

    /// <summary>Creates the namespace and its TUN interface, starts the CLI there and waits for its banner.</summary>
    public static async Task<TunCliRig> StartAsync(params string[] extraArgs)
    {
        var ns = NetworkNamespace.Create("rxload");
        CliProcess? cli = null;
        try
        {
            // Several engines open one queue each: the interface must be a multi-queue one.
            ns.Exec(["ip", "tuntap", "add", "dev", Interface, "mode", "tun", .. (extraArgs.Contains("--engines") ? ["multi_queue"] : Array.Empty<string>())]);
            ns.Exec("ip", "addr", "add", $"{KernelV4}/24", "dev", Interface);
            ns.Exec("ip", "-6", "addr", "add", $"{KernelV6}/64", "dev", Interface, "nodad");
            ns.Exec("ip", "link", "set", Interface, "up");
            // --dashboard: its event stream tells WaitForBaselineAsync when the socket table drained (no polling).
            cli = CliProcess.Start(ns, ["tun", "--device", Interface, "--address", $"{StackV4}/24", "--address", $"{StackV6}/64", "--dashboard", .. extraArgs]);
            await cli.WaitForLineAsync(line => line.Contains("Ctrl-C or SIGTERM stops.", StringComparison.Ordinal), StartPatience);
            return new TunCliRig(ns, cli);
        }
        catch (Exception e)
        {
            string tail = cli?.Tail() ?? "";
            cli?.Dispose();
            ns.Dispose();
            throw new InvalidOperationException($"rx-netstack tun did not start: {e.Message}\n--- rx-netstack output ---\n{tail}", e);
        }
    }

    /// <summary>
    /// Runs a program inside the namespace and returns what it printed; never throws for the program's failure or time-out
    /// (the test judges the result), but kills it at <paramref name="timeout"/>.
    /// </summary>
    public async Task<ProgramRun> RunAsync(TimeSpan timeout, params string[] command)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string arg in (string[])["netns", "exec", Namespace.Name, .. command]) info.ArgumentList.Add(arg);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {command[0]}");
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        bool timedOut = false;
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(StopPatience);
        }
        return new ProgramRun(string.Join(' ', command), timedOut ? -1 : process.ExitCode, await stdout, await stderr, clock.Elapsed, timedOut);
    }

    /// <summary>The stack's counters from <c>GET /stats.txt</c> (curl inside the namespace, <c>Connection: close</c>).</summary>
    public async Task<StackStats> GetStatsAsync(bool v6 = false)
    {
        var run = await RunAsync(TimeSpan.FromSeconds(10), "curl", "-sS", "--max-time", "5", "-H", "Connection: close", Url(v6, "/stats.txt"));
        return run.ExitCode == 0 ? StackStats.Parse(run.Stdout) : new StackStats(run.Stdout, null, $"curl failed: {run.Output}");
    }

    /// <summary>
    /// Waits until the socket table is back at baseline — no connection in any state but TIME-WAIT, except the one Established
    /// connection of the event stream itself — or <paramref name="timeout"/> passes: reads the dashboard's event stream
    /// (<c>/dashboard/events</c>, curl inside the namespace), whose <c>stats</c> events carry the connections by state, and
    /// stops at the first one at baseline. Returns the last stats and how many <c>stats</c> events were read.
    /// </summary>
    public async Task<(bool AtBaseline, StackStats Last, int Events)> WaitForBaselineAsync(TimeSpan timeout)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        string seconds = ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        foreach (string arg in (string[])["netns", "exec", Namespace.Name, "curl", "-N", "-sS", "--max-time", seconds, Url(false, "/dashboard/events")])
            info.ArgumentList.Add(arg);
        using var curl = Process.Start(info) ?? throw new InvalidOperationException("could not start curl");
        curl.StandardInput.Close();
        Task<string> errors = curl.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        var last = new StackStats("", null, "no stats event came");
        int events = 0;
        bool statsNext = false;
        try
        {
            while (await curl.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) statsNext = line == "event: stats";
                else if (statsNext && line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    events++;
                    last = StackStats.FromEvent(line["data: ".Length..]);
                    if (last.AtBaseline) return (true, last, events);
                }
            }
            last = last with { Error = $"the event stream ended: {await errors}" };
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            // The deadline: the last stats say where the table stood.
        }
        finally
        {
            if (!curl.HasExited) curl.Kill(entireProcessTree: true);
        }
        return (false, last, events);
    }

    /// <summary>
    /// A failure message with everything needed to understand it: the client's output, the stack's counters now (fetched
    /// unless given), the CLI's unusual lines and its last lines.
    /// </summary>
    public async Task<string> ReportAsync(string what, ProgramRun? client = null, StackStats? stats = null)
    {
        stats ??= await GetStatsAsync();
        return $"{what}\n" +
            (client is null ? "" : $"--- client: {client.Command} (exit {client.ExitCode}{(client.TimedOut ? ", killed at the time-out" : "")}, {client.Elapsed.TotalSeconds:F1} s) ---\n{Trim(client.Output)}\n") +
            $"--- the stack's /stats.txt now ---\n{stats.Text}{stats.Error}\n" +
            $"--- rx-netstack log: the last lines other than one per request or echo ---\n{Cli.Notable(IsRoutine)}\n" +
            $"--- rx-netstack log: the last lines (of {Cli.LineCount}) ---\n{Cli.Tail(15)}";
    }

    // One line per HTTP request ("http 10.77.8.1:40000: GET /hello") or finished echo: the bulk of the log under load.
    private static bool IsRoutine(string line) =>
        line.StartsWith("http ", StringComparison.Ordinal) || (line.StartsWith("[echo/", StringComparison.Ordinal) && line.EndsWith(" bytes", StringComparison.Ordinal));

    private static string Trim(string text) => text.Length <= 6000 ? text : $"{text[..2000]}\n(…)\n{text[^4000..]}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Cli.HasExited)
            {
                Cli.Signal(15 /* SIGTERM */);
                ExitCode = await Cli.WaitForExitAsync(StopPatience);
            }
        }
        catch (Exception)
        {
            // Did not stop in time (or was gone already): Dispose below kills it.
        }
        finally
        {
            Cli.Dispose();
            Namespace.Dispose();
        }
    }
}

/// <summary>What a program run in the namespace printed, and how it ended.</summary>
internal sealed record ProgramRun(string Command, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, bool TimedOut)
{
    /// <summary>Standard output, then standard error if any.</summary>
    public string Output => Stderr.Length == 0 ? Stdout : $"{Stdout}\n[stderr]\n{Stderr}";
}

/// <summary>The stack's <c>/stats.txt</c>: the text and its <c>connections:</c> line as state → count.</summary>
internal sealed record StackStats(string Text, IReadOnlyDictionary<string, int>? Connections, string? Error = null)
{
    /// <summary>
    /// No connection in any state but TIME-WAIT, and at most one Established (the stats request itself). Null
    /// <see cref="Connections"/> (the request failed) is not at baseline.
    /// </summary>
    public bool AtBaseline => Connections is { } c && c.All(kv => kv.Key switch
    {
        "TimeWait" or "Closed" => true,
        "Established" => kv.Value <= 1,
        _ => kv.Value == 0,
    });

    /// <summary>A dashboard <c>stats</c> event's JSON: its <c>connections</c> object is the state → count table.</summary>
    public static StackStats FromEvent(string json)
    {
        using var document = System.Text.Json.JsonDocument.Parse(json);
        if (!document.RootElement.TryGetProperty("connections", out var connections)) return new StackStats(json, null, "no 'connections' in the stats event");
        var byState = new Dictionary<string, int>();
        foreach (var property in connections.EnumerateObject()) byState[property.Name] = property.Value.GetInt32();
        return new StackStats(json, byState);
    }

    public static StackStats Parse(string text)
    {
        string? line = text.Split('\n').FirstOrDefault(l => l.StartsWith("connections:", StringComparison.Ordinal));
        if (line is null) return new StackStats(text, null, "no 'connections:' line");
        var byState = new Dictionary<string, int>();
        foreach (string part in line["connections:".Length..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] pair = part.Split(' ');
            byState[pair[0]] = int.Parse(pair[1], NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        }
        return new StackStats(text, byState);
    }
}
