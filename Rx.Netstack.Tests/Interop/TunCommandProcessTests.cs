using Rx.Netstack.Devices;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>The real `rx-netstack tun` process, started inside a namespace, served to the kernel, stopped with SIGTERM.</summary>
[Collection(InteropCollection.Name)]
public sealed class TunCommandProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [NamespaceFact("ping", "curl", "nc", "tshark")]
    public async Task Tun_command_serves_the_kernel_and_stops_cleanly_on_sigterm()
    {
        using var ns = NetworkNamespace.Create("rxcli");
        ns.Exec("ip", "tuntap", "add", "dev", InteropRig.Interface, "mode", "tun");
        ns.Exec("ip", "addr", "add", $"{InteropRig.KernelV4}/24", "dev", InteropRig.Interface);
        ns.Exec("ip", "-6", "addr", "add", $"{InteropRig.KernelV6}/64", "dev", InteropRig.Interface, "nodad");
        ns.Exec("ip", "link", "set", InteropRig.Interface, "up");
        string pcap = Path.Combine(Path.GetTempPath(), $"rx-cli-{Guid.NewGuid():N}.pcap");

        using var cli = CliProcess.Start(ns, "tun", "--device", InteropRig.Interface, "--address", $"{InteropRig.StackV4}/24", "--address", $"{InteropRig.StackV6}", "--pcap", pcap);
        try
        {
            await cli.WaitForLineAsync(line => line.Contains("Ctrl-C or SIGTERM stops."), Patience);

            Assert.Contains("3 received", ns.Exec("ping", "-c", "3", "-i", "0.2", "-W", "5", "-s", "2000", InteropRig.StackV4.ToString()));
            Assert.Contains("3 received", ns.Exec("ping", "-c", "3", "-i", "0.2", "-W", "5", InteropRig.StackV6.ToString()));
            Assert.Contains("<h1>rx-netstack</h1>", ns.Exec("curl", "-sS", "--max-time", "10", $"http://{InteropRig.StackV4}/"));

            // Discard prints the byte count and SHA-256 of what came.
            string zeros = Convert.ToHexStringLower(SHA256.HashData(new byte[1_000_000]));
            ns.Exec("bash", "-c", $"head -c 1000000 /dev/zero | nc -N {InteropRig.StackV4} 9");
            await cli.WaitForLineAsync(line => line.Contains($"1000000 bytes, SHA-256 {zeros}"), Patience);

            // A connection still open at SIGTERM is closed gracefully: the kernel reads our FIN (end of stream), no reset.
            using var open = ns.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
            using var deadline = new CancellationTokenSource(Patience);
            await open.ConnectAsync(new IPEndPoint(InteropRig.StackV4, 7), deadline.Token);
            await open.SendAsync("ping\n"u8.ToArray(), SocketFlags.None, deadline.Token);
            var buffer = new byte[64];
            Assert.Equal(5, await open.ReceiveAsync(buffer, SocketFlags.None, deadline.Token));

            cli.Signal(15 /* SIGTERM */);
            Assert.Equal(0, await open.ReceiveAsync(buffer, SocketFlags.None, deadline.Token));
            Assert.Equal(0, await cli.WaitForExitAsync(Patience));
            Assert.Contains(cli.Lines, line => line.StartsWith($"closed {InteropRig.Interface}", StringComparison.Ordinal));

            // The capture it wrote holds the handshakes, readable by tshark.
            var synAcks = Tshark.Fields(pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 1", "ip.src");
            Assert.True(synAcks.Length >= 3, $"{synAcks.Length} SYN-ACKs in the CLI's capture");
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n--- rx-netstack output ---\n{string.Join('\n', cli.Lines)}");
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    /// <summary>The CLI (rx-netstack.dll next to the tests) run with `ip netns exec`, its output collected line by line.</summary>
    private sealed class CliProcess : IDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _lines = new();
        private readonly SemaphoreSlim _newLine = new(0);

        private CliProcess(Process process) => _process = process;

        public IEnumerable<string> Lines => _lines;

        public static CliProcess Start(NetworkNamespace ns, params string[] args)
        {
            var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (string arg in (string[])["netns", "exec", ns.Name, DotnetHost(), Path.Combine(AppContext.BaseDirectory, "rx-netstack.dll"), .. args])
                info.ArgumentList.Add(arg);
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
            _lines.Enqueue(line);
            _newLine.Release();
        }

        public async Task WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
        {
            using var deadline = new CancellationTokenSource(timeout);
            while (!_lines.Any(match))
            {
                if (_process.HasExited && !_lines.Any(match)) throw new InvalidOperationException($"rx-netstack exited ({_process.ExitCode}) before the expected line");
                try { await _newLine.WaitAsync(TimeSpan.FromMilliseconds(200), deadline.Token); }
                catch (OperationCanceledException) { throw new TimeoutException($"no expected line from rx-netstack within {timeout.TotalSeconds} s"); }
            }
        }

        public void Signal(int signal)
        {
            // `ip netns exec` execs the program in place, so this pid is the CLI's.
            if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill failed: errno {Marshal.GetLastPInvokeError()}");
        }

        public async Task<int> WaitForExitAsync(TimeSpan timeout)
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            return _process.ExitCode;
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }

        private static string DotnetHost()
        {
            string? current = Environment.ProcessPath;
            if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet") return current;
            return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int kill(int pid, int signal);
    }
}
