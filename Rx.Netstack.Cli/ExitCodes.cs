namespace Rx.Netstack.Cli;

/// <summary>What rx-netstack's exit code means; the same list ends every <c>--help</c> and is in the README's CLI section.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what it was asked (a served device stopped by Ctrl-C or SIGTERM included).</summary>
    public const int Success = 0;

    /// <summary>The command line was fine but running it failed: a TUN device that cannot be opened, a demo step that failed, an error.</summary>
    public const int Failure = 1;

    /// <summary>A wrong command line: an unknown command or option, a missing or malformed value. Nothing was run.</summary>
    public const int Usage = 2;

    /// <summary><c>bench tun</c> only: this machine cannot run it (it needs root and network namespaces).</summary>
    public const int Unsupported = 3;

    /// <summary>The exit codes as <c>--help</c> of <paramref name="command"/> ("rx-netstack bench tun") prints them.</summary>
    public static string HelpFor(string command)
    {
        string help = """
            Exit codes:
              0  success (tun, http and demo --dashboard: stopped by Ctrl-C or SIGTERM)
              1  runtime failure: e.g. the TUN device cannot be opened, a demo step failed
              2  usage error: unknown command or option, missing or malformed value (nothing was run)
            """;
        // Only where it can happen: bench tun, and the help of the commands above it.
        return command is "rx-netstack" or "rx-netstack bench" or "rx-netstack bench tun"
            ? help + "\n  3  bench tun: this machine cannot run it (it needs root and network namespaces)"
            : help;
    }
}
