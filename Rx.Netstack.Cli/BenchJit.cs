using System.Diagnostics;

namespace Rx.Netstack.Cli;

/// <summary>
/// Which JIT configuration a benchmark runs under. The tool runs with tiered compilation off (its project file says why);
/// the in-memory benchmarks measure the library as an application with .NET's defaults runs it — tiered compilation with
/// dynamic PGO, past the warm-up each of them does — so in a process without tiering they run again in a child process
/// with it on. <c>DOTNET_TieredCompilation</c> set by the user is left as it is.
/// </summary>
internal static class BenchJit
{
    /// <summary>The benchmarks between two of our stacks in memory, whose figures are the library's.</summary>
    public static bool IsInMemory(string which) => which is "tcp" or "udp" or "rr" or "connect" or "reflect";

    /// <summary>Whether this process compiles in tiers: the environment overrides the runtime configuration, and tiering
    /// is .NET's default.</summary>
    public static bool Tiered => IsTiered(
        Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") ?? Environment.GetEnvironmentVariable("COMPlus_TieredCompilation"),
        AppContext.GetData("System.Runtime.TieredCompilation"));

    /// <summary>What a result line says of it.</summary>
    public static string Label => Tiered ? "tiered" : "full";

    /// <summary>The rule of <see cref="Tiered"/>: an environment value of 0 turns tiering off and any other turns it on;
    /// without one, the runtime configuration's <c>false</c> turns it off.</summary>
    internal static bool IsTiered(string? environment, object? configured) =>
        environment is { Length: > 0 } e
            ? e.Trim() != "0"
            : configured switch
            {
                bool b => b,
                string s when bool.TryParse(s, out bool b) => b,
                _ => true,
            };

    /// <summary>
    /// Runs this same command line again in a child process with tiered compilation on when benchmark
    /// <paramref name="which"/> is an in-memory one and this process has tiering off and no user's choice in the
    /// environment; returns the child's exit code, or null to run here. The child shares the console (its output is the
    /// benchmark's output) and the terminal's Ctrl-C.
    /// </summary>
    public static async Task<int?> RunTieredChildAsync(string which)
    {
        if (!IsInMemory(which) || Tiered) return null;
        if (Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") is not null) return null;
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("the process path is unknown");
        var start = new ProcessStartInfo(host) { UseShellExecute = false };
        // Under the dotnet host the first argument is the tool's assembly; an apphost is the tool itself.
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(BenchJit).Assembly.Location);
        foreach (string arg in Environment.GetCommandLineArgs().Skip(1)) start.ArgumentList.Add(arg);
        start.Environment["DOTNET_TieredCompilation"] = "1";
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {host}");
        await child.WaitForExitAsync();
        return child.ExitCode;
    }
}
