using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// The CLI (rx-netstack.dll next to the tests) run with `ip netns exec`, or for what needs no root in the test's own namespace
/// (<see cref="StartHere"/>), its output collected line by line. Under load it prints a line per request, so only the first
/// lines (the banner) and the last <see cref="KeptLines"/> are kept.
/// </summary>
internal sealed class CliProcess : IDisposable
{
    /// <summary>How many of the latest lines are kept (plus the first <see cref="HeadLines"/>).</summary>
    public const int KeptLines = 50_000;

    private const int HeadLines = 100;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _head = new();
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _newLine = new(0);
    private long _count;

    private CliProcess(Process process) => _process = process;

    /// <summary>The lines kept: the first ones, then the latest (none twice).</summary>
    public IEnumerable<string> Lines => _head.Concat(_lines);

    /// <summary>Lines printed in all, kept or not.</summary>
    public long LineCount => Interlocked.Read(ref _count);

    /// <summary>The process id (the CLI's own: `ip netns exec` execs it in place).</summary>
    public int Id => _process.Id;

    /// <summary>True once the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Starts `rx-netstack ARGS` inside <paramref name="ns"/>.</summary>
    public static CliProcess Start(NetworkNamespace ns, params string[] args) =>
        Launch("ip", ["netns", "exec", ns.Name, DotnetHost(), Path.Combine(AppContext.BaseDirectory, "rx-netstack.dll"), .. args]);

    /// <summary>Starts `rx-netstack ARGS` in the test's own namespace (what needs no root: the demo).</summary>
    public static CliProcess StartHere(params string[] args) =>
        Launch(DotnetHost(), [Path.Combine(AppContext.BaseDirectory, "rx-netstack.dll"), .. args]);

    private static CliProcess Launch(string program, string[] args)
    {
        // A child starts in the network namespace of the thread that forks it. A thread left in a test's namespace (one made
        // inside NetworkNamespace.Run, or by a thread made there) would start the CLI in another network than the test's.
        string thread = new FileInfo("/proc/thread-self/ns/net").LinkTarget ?? "";
        string host = new FileInfo("/proc/self/ns/net").LinkTarget ?? "";
        if (thread != host)
            throw new InvalidOperationException($"thread {Environment.CurrentManagedThreadId} is in network namespace {thread}, the test host in {host}");
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => cli.Add(e.Data);
        process.ErrorDataReceived += (_, e) => cli.Add(e.Data is null ? null : $"stderr: {e.Data}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    private void Add(string? line)
    {
        if (line is null) return;
        if (Interlocked.Increment(ref _count) <= HeadLines) _head.Enqueue(line);
        else
        {
            _lines.Enqueue(line);
            while (_lines.Count > KeptLines) _lines.TryDequeue(out _);
        }
        _newLine.Release();
    }

    /// <summary>The last <paramref name="count"/> lines, for failure messages.</summary>
    public string Tail(int count = 40)
    {
        string[] all = [.. Lines];
        long skipped = LineCount - Math.Min(count, all.Length);
        string prefix = skipped > 0 ? $"(… {skipped} earlier lines)\n" : "";
        return prefix + string.Join('\n', all.TakeLast(count));
    }

    /// <summary>
    /// The last <paramref name="count"/> kept lines that <paramref name="routine"/> does not match — under load the tail is
    /// all per-request lines, and the one that says what went wrong is further up.
    /// </summary>
    public string Notable(Func<string, bool> routine, int count = 30) => string.Join('\n', Lines.Where(line => !routine(line)).TakeLast(count));

    /// <summary>Waits until a line matching <paramref name="match"/> was printed; throws if the process ends or the time runs out first.</summary>
    public async Task WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!Lines.Any(match))
        {
            if (_process.HasExited && !Lines.Any(match)) throw new InvalidOperationException($"rx-netstack exited ({_process.ExitCode}) before the expected line");
            try { await _newLine.WaitAsync(TimeSpan.FromMilliseconds(200), deadline.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"no expected line from rx-netstack within {timeout.TotalSeconds} s"); }
        }
    }

    /// <summary>Sends <paramref name="signal"/> to the CLI.</summary>
    public void Signal(int signal)
    {
        // `ip netns exec` execs the program in place, so this pid is the CLI's.
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits for the process to end and returns its exit code; throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    /// <summary>Kills the process if it still runs.</summary>
    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    /// <summary>The dotnet host running the tests, so the CLI runs on the same runtime.</summary>
    internal static string DotnetHost()
    {
        string? current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet") return current;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
