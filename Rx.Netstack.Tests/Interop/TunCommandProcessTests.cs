using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>The real `rx-netstack tun` process, started inside a namespace, served to the kernel, stopped with SIGTERM.</summary>
[Collection(InteropCollection.Name)]
public sealed class TunCommandProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [NamespaceFact("ping", "curl", "nc", "bash", "tshark")]
    public async Task Tun_command_serves_the_kernel_and_stops_cleanly_on_sigterm()
    {
        using var ns = NetworkNamespace.Create("rxcli");
        ns.Exec("ip", "tuntap", "add", "dev", InteropRig.Interface, "mode", "tun");
        ns.Exec("ip", "addr", "add", $"{InteropRig.KernelV4}/24", "dev", InteropRig.Interface);
        ns.Exec("ip", "-6", "addr", "add", $"{InteropRig.KernelV6}/64", "dev", InteropRig.Interface, "nodad");
        ns.Exec("ip", "link", "set", InteropRig.Interface, "up");
        string pcap = Path.Combine(Path.GetTempPath(), $"rx-cli-{Guid.NewGuid():N}.pcap");

        using var cli = CliProcess.Start(ns, "tun", "--device", InteropRig.Interface, "--address", $"{InteropRig.StackV4}/24", "--address", $"{InteropRig.StackV6}", "--pcap", pcap, "--discard-sha256");
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
}
