using System.Diagnostics;
using System.Text.Json;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// The real `rx-netstack bench tun` process end to end: it makes its own namespace and TUN device, moves bytes both ways
/// between the kernel and our stack, prints JSON lines and leaves no namespace behind. Not the targets: CI machines are noisy.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class BenchTunProcessTests
{
    [NamespaceFact]
    public async Task Bench_tun_moves_bytes_both_ways_and_deletes_its_namespace()
    {
        var (exitCode, stdout, stderr, processId) = await RunCliAsync(TimeSpan.FromSeconds(60), "bench", "tun", "--seconds", "1", "--json");
        Assert.True(exitCode == 0, $"exit {exitCode}\n{stdout}\n{stderr}");

        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(4, lines.Count); // 64 KiB and 1 MiB buffers, each way
        foreach (string direction in (string[])["linux → rx-netstack", "rx-netstack → linux"])
        {
            var rows = lines.Where(l => l.GetProperty("target").GetString() == direction).ToList();
            Assert.Equal(["64 KiB", "1 MiB"], rows.Select(r => r.GetProperty("buffer").GetString()));
            Assert.All(rows, r =>
            {
                Assert.Equal("tun", r.GetProperty("bench").GetString());
                Assert.True(r.GetProperty("bytes").GetInt64() > 0, $"{direction}: no bytes moved");
                Assert.True(r.GetProperty("mb_per_s").GetDouble() > 0, $"{direction}: no rate");
            });
        }
        // Its namespace (named after its process id) is gone; other processes' benches may run meanwhile, theirs don't count.
        Assert.Empty(BenchNamespacesOf(processId));
    }

    [NamespaceFact]
    public async Task Bench_tap_moves_bytes_both_ways_in_super_frames_over_a_bridge_and_deletes_its_namespace()
    {
        var (exitCode, stdout, stderr, processId) = await RunCliAsync(TimeSpan.FromSeconds(60), "bench", "tap", "--seconds", "0.5", "--buffer", "1048576", "--json");
        Assert.True(exitCode == 0, $"exit {exitCode}\n{stdout}\n{stderr}");

        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        JsonElement toStack = Assert.Single(lines, l => l.GetProperty("target").GetString() == "linux → rx-netstack");
        JsonElement toKernel = Assert.Single(lines, l => l.GetProperty("target").GetString() == "rx-netstack → linux");
        Assert.All(lines, r =>
        {
            Assert.Equal("tap", r.GetProperty("bench").GetString());
            Assert.Equal("on", r.GetProperty("offloads").GetString());
            Assert.True(r.GetProperty("bytes").GetInt64() > 0, "no bytes moved");
        });
        // Offloads on by default: the kernel's bulk came in GSO super-frames, ours went out as TSO super-segments.
        Assert.True(toStack.GetProperty("tap_gso_rx").GetInt64() > 0, "no super-frame received");
        Assert.True(toKernel.GetProperty("tap_gso_tx").GetInt64() > 0, "no super-segment sent");
        Assert.Empty(BenchNamespacesOf(processId));
    }

    private static string[] BenchNamespacesOf(int processId) =>
        Directory.Exists("/var/run/netns") ? Directory.GetFiles("/var/run/netns", $"rxbench-{processId}-*") : [];

    private static async Task<(int ExitCode, string Stdout, string Stderr, int ProcessId)> RunCliAsync(TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "rx-netstack.dll"));
        foreach (string arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start rx-netstack");
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout, await stderr, process.Id);
    }

    private static string DotnetHost()
    {
        string? current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet") return current;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
    }
}
