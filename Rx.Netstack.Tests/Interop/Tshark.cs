using System.Diagnostics;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>Reads a pcap with tshark and returns the chosen fields of each packet matching a display filter.</summary>
internal static class Tshark
{
    public static string[][] Fields(string pcapPath, string displayFilter, params string[] fields)
    {
        string tshark = NetworkNamespace.FindProgram("tshark")
            ?? throw new InvalidOperationException("tshark is required (apt-get install -y tshark)");
        var info = new ProcessStartInfo(tshark) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["-r", pcapPath, "-Y", displayFilter, "-T", "fields", .. fields.SelectMany(f => new[] { "-e", f })])
            info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("tshark did not finish in 30 s");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"tshark exited {process.ExitCode}: {stderr.Result}");
        return stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t')).ToArray();
    }

    /// <summary>tshark prints boolean fields as 1/0 (4.0) or True/False (4.2 and later).</summary>
    public static bool Flag(string value) => value is "1" or "True";
}
