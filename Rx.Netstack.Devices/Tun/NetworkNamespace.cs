using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rx.Netstack.Devices;

/// <summary>
/// A Linux network namespace made for one run (<c>ip netns add PREFIX-…</c>) and deleted on dispose: run commands in it
/// through <c>ip netns exec</c>, or run .NET code on a thread that entered it with <c>setns()</c> — a socket or a
/// <see cref="TunDevice"/> opened there stays in the namespace whichever thread uses it later. Used by the <c>bench tun</c>
/// command and the interop tests, so a stack can meet the kernel without touching the host's network. Needs root.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private int _deleted;

    private NetworkNamespace(string name) => Name = name;

    /// <summary>The namespace's name (under /var/run/netns).</summary>
    public string Name { get; }

    /// <summary>True when this process can create namespaces and TUN devices (see <see cref="WhyUnsupported"/>).</summary>
    public static bool IsSupported => WhyUnsupported() is null;

    /// <summary>Null when namespaces and TUN devices can be made here; otherwise a sentence saying what is missing.</summary>
    public static string? WhyUnsupported()
    {
        if (!OperatingSystem.IsLinux()) return "TUN devices and network namespaces are Linux only.";
        if (geteuid() != 0) return "it needs root (to create a network namespace and a TUN device); run it with sudo.";
        if (!File.Exists("/dev/net/tun")) return "there is no /dev/net/tun (load the tun module, or in a container pass --device /dev/net/tun).";
        return WhyNamespacesUnsupported();
    }

    /// <summary>
    /// Null when network namespaces alone can be made here (Linux, root and the <c>ip</c> tool; no TUN device needed, e.g. for
    /// sockets on a namespace's own loopback); otherwise a sentence saying what is missing.
    /// </summary>
    public static string? WhyNamespacesUnsupported()
    {
        if (!OperatingSystem.IsLinux()) return "network namespaces are Linux only.";
        if (geteuid() != 0) return "it needs root (to create a network namespace); run it with sudo.";
        if (FindProgram("ip") is null) return "the `ip` tool (iproute2) is not installed.";
        return null;
    }

    /// <summary>Creates a namespace named <paramref name="prefix"/> plus a random suffix and brings its loopback up.</summary>
    public static NetworkNamespace Create(string prefix = "rxns")
    {
        var ns = new NetworkNamespace($"{prefix}-{Guid.NewGuid().ToString("N")[..8]}");
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

    /// <summary>Runs a command inside the namespace and returns its standard output; throws if it fails or times out. The
    /// program is found as <see cref="FindProgram"/> finds it (/usr/sbin and /sbin too), so what a check found is what runs.</summary>
    public string Exec(params string[] command) =>
        Run(["ip", "netns", "exec", Name, FindProgram(command[0]) ?? command[0], .. command[1..]]);

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread that entered the namespace and returns its result; a failure inside
    /// comes back as an <see cref="AggregateException"/> holding it. Make descriptors there (a device, a socket), not
    /// threads: a thread started inside stays in the namespace, and so does every thread it starts (a thread-pool worker
    /// included), even after the namespace is deleted.
    /// </summary>
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
        })
        { IsBackground = true, Name = $"in netns {Name}" };
        thread.Start();
        if (!thread.Join(CommandTimeout)) throw new TimeoutException($"code in namespace {Name} did not finish");
        if (failure is not null) throw new AggregateException($"code in namespace {Name} failed", failure);
        return result;
    }

    /// <summary>
    /// Deletes the namespace and every interface in it, once (safe from a signal handler too). Descriptors still open keep
    /// the kernel's namespace alive until they close; its name is gone at once.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _deleted, 1) == 0) TryRun("ip", "netns", "del", Name);
    }

    /// <summary>The full path of <paramref name="program"/> on PATH (or /usr/sbin, /sbin), or null.</summary>
    public static string? FindProgram(string program) =>
        (Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin:/sbin").Split(':')
            .Where(dir => dir.Length > 0)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    private static string Run(params string[] command)
    {
        var (exitCode, stdout, stderr) = TryRun(command);
        if (exitCode != 0) throw new InvalidOperationException($"`{string.Join(' ', command)}` exited {exitCode}: {stderr.Trim()}");
        return stdout;
    }

    private static (int ExitCode, string Stdout, string Stderr) TryRun(params string[] command)
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
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    [DllImport("libc")]
    private static extern uint geteuid();
}
