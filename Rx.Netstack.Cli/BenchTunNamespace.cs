using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rx.Netstack.Cli;

/// <summary>
/// The network namespace <c>bench tun</c> creates for itself (<c>ip netns add rxbench-…</c>) and always deletes: commands
/// run inside it through <c>ip netns exec</c>, and .NET code runs on a thread that entered it with <c>setns()</c> (a socket
/// or TUN device opened there stays in the namespace, whichever thread uses it later).
/// </summary>
internal sealed class BenchTunNamespace : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private int _deleted;

    private BenchTunNamespace(string name) => Name = name;

    /// <summary>The namespace's name (under /var/run/netns).</summary>
    public string Name { get; }

    /// <summary>Null when this process can run <c>bench tun</c>; otherwise why not (not Linux, not root, no /dev/net/tun, no <c>ip</c>).</summary>
    public static string? WhyUnsupported()
    {
        if (!OperatingSystem.IsLinux()) return "TUN devices and network namespaces are Linux only.";
        if (geteuid() != 0) return "it needs root (to create a network namespace and a TUN device); run it with sudo.";
        if (!File.Exists("/dev/net/tun")) return "there is no /dev/net/tun (load the tun module, or in a container pass --device /dev/net/tun).";
        if (FindProgram("ip") is null) return "the `ip` tool (iproute2) is not installed.";
        return null;
    }

    /// <summary>Creates a namespace with a random name and brings its loopback up.</summary>
    public static BenchTunNamespace Create()
    {
        var ns = new BenchTunNamespace($"rxbench-{Guid.NewGuid().ToString("N")[..8]}");
        Run("ip", "netns", "add", ns.Name);
        try
        {
            ns.Exec("ip", "link", "set", "lo", "up");
        }
        catch
        {
            ns.Dispose();
            throw;
        }
        return ns;
    }

    /// <summary>Runs a command inside the namespace; throws if it fails or times out.</summary>
    public void Exec(params string[] command) => Run(["ip", "netns", "exec", Name, .. command]);

    /// <summary>Runs <paramref name="action"/> on a new thread that entered the namespace, and returns its result.</summary>
    public T Run<T>(Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{Name}", FileMode.Open, FileAccess.Read);
                if (setns((int)handle.DangerousGetHandle(), CLONE_NEWNET) != 0)
                    throw new InvalidOperationException($"setns into {Name} failed: errno {Marshal.GetLastPInvokeError()}");
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }) { IsBackground = true, Name = $"in netns {Name}" };
        thread.Start();
        if (!thread.Join(CommandTimeout)) throw new TimeoutException($"code in namespace {Name} did not finish");
        if (failure is not null) throw new InvalidOperationException($"in namespace {Name}: {failure.Message}", failure);
        return result;
    }

    /// <summary>
    /// Deletes the namespace, once (safe from a signal handler too). Descriptors still open keep the kernel's namespace
    /// alive until they close, at the latest when the process exits; its name is gone at once.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _deleted, 1) == 0) TryRun("ip", "netns", "del", Name);
    }

    private static void Run(params string[] command)
    {
        var (exitCode, stderr) = TryRun(command);
        if (exitCode != 0) throw new InvalidOperationException($"`{string.Join(' ', command)}` exited {exitCode}: {stderr.Trim()}");
    }

    private static (int ExitCode, string Stderr) TryRun(params string[] command)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in command.Skip(1)) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {command[0]}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{string.Join(' ', command)}` did not finish in {CommandTimeout.TotalSeconds} s");
        }
        _ = stdout.Result;
        return (process.ExitCode, stderr.Result);
    }

    private static string? FindProgram(string program) =>
        (Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin:/sbin").Split(':')
            .Where(dir => dir.Length > 0)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    [DllImport("libc")]
    private static extern uint geteuid();
}
