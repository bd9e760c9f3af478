using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Rx.Netstack.Tests.Devices;

/// <summary>
/// A Linux network namespace a test creates for itself (<c>ip netns add rxns-…</c>) and removes on dispose:
/// run commands in it, or run .NET code on a thread that entered it (sockets and TUN devices opened there
/// stay bound to it). Needs root.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private NetworkNamespace(string name) => Name = name;

    /// <summary>The namespace's name (under /var/run/netns).</summary>
    public string Name { get; }

    /// <summary>True when this process can create namespaces: Linux, root, and the <c>ip</c> tool present.</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && geteuid() == 0 && FindProgram("ip") is not null;

    /// <summary>Creates a namespace with a random name and brings its loopback up.</summary>
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

    /// <summary>Runs a command inside the namespace; returns its standard output; throws if it fails or times out.</summary>
    public string Exec(params string[] command) => Run(["ip", "netns", "exec", Name, .. command]);

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
        if (failure is not null) throw new AggregateException($"code in namespace {Name} failed", failure);
        return result;
    }

    /// <summary>Deletes the namespace (and with it every interface inside).</summary>
    public void Dispose() => TryRun("ip", "netns", "del", Name);

    private static string Run(params string[] command)
    {
        var (exitCode, stdout, stderr) = TryRun(command);
        if (exitCode != 0) throw new InvalidOperationException($"`{string.Join(' ', command)}` exited {exitCode}: {stderr.Trim()}");
        return stdout;
    }

    private static (int ExitCode, string Stdout, string Stderr) TryRun(params string[] command)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
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

    internal static string? FindProgram(string program) =>
        (Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin:/sbin").Split(':')
            .Where(dir => dir.Length > 0)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    [DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>
/// A fact that needs network namespaces (root). It is skipped, with the reason, when they are unavailable —
/// except under CI (<c>CI=true</c>), where it always runs and fails loudly instead.
/// </summary>
public sealed class NamespaceFactAttribute : FactAttribute
{
    public NamespaceFactAttribute()
    {
        if (!NetworkNamespace.IsSupported && !IsCi)
            Skip = "Needs root (CAP_NET_ADMIN), /dev/net/tun and the `ip` tool to create a network namespace; run as root or with CI=true.";
    }

    internal static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}

/// <summary>A fact that needs a program on PATH: skipped without it, except under CI where it must be installed.</summary>
public sealed class RequiresProgramFactAttribute : FactAttribute
{
    public RequiresProgramFactAttribute(string program)
    {
        if (NetworkNamespace.FindProgram(program) is null && !NamespaceFactAttribute.IsCi)
            Skip = $"`{program}` is not installed (apt-get install -y {program}); under CI=true this test runs and requires it.";
    }
}
