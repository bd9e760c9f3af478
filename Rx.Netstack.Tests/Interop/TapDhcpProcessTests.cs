using System.Net;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// `rx-netstack tap --dhcp` against dnsmasq: the CLI's TAP interface and a veth on a bridge; dnsmasq serves DHCP on the
/// veth's other end in a second namespace (10.77.10.1, range .50–.60, a 2-minute lease with T1 at 4 s). The stack is
/// bound, renews on the clock, answers ping at its leased address, and releases the lease when stopped.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class TapDhcpProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly IPAddress ServerV4 = IPAddress.Parse("10.77.10.1");

    [NamespaceFact("dnsmasq", "ping")]
    public async Task Tap_command_gets_and_renews_its_address_from_dnsmasq()
    {
        using var lan = NetworkNamespace.Create("rxdlan");
        using var server = NetworkNamespace.Create("rxdsrv");
        lan.Exec("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0");
        lan.Exec("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1");
        lan.Exec("ip", "link", "set", "veth1", "netns", server.Name);
        lan.Exec("ip", "link", "set", "veth0", "master", "br0");
        lan.Exec("ip", "link", "set", "veth0", "up");
        lan.Exec("ip", "link", "set", "br0", "up");
        server.Exec("ip", "addr", "add", $"{ServerV4}/24", "dev", "veth1");
        server.Exec("ip", "link", "set", "veth1", "up");
        string leases = Path.Combine(Path.GetTempPath(), $"rx-dnsmasq-{Guid.NewGuid():N}.leases");
        string pidFile = leases + ".pid";
        // No DNS (port 0), DHCP only on veth1, T1 4 s and T2 8 s so a renewal comes soon; the lease itself is dnsmasq's minimum.
        server.Exec("dnsmasq", "--port=0", "--interface=veth1", "--bind-interfaces", "--dhcp-range=10.77.10.50,10.77.10.60,2m",
            "--dhcp-option=option:router,10.77.10.1", "--dhcp-option=option:T1,4s", "--dhcp-option=option:T2,8s",
            $"--dhcp-leasefile={leases}", $"--pid-file={pidFile}", "--no-hosts", "--no-resolv");
        using var cli = CliProcess.Start(lan, "tap", "--device", "rxtap1", "--dhcp", "--mac", "02:00:00:77:10:02");
        try
        {
            await cli.WaitForLineAsync(line => line.Contains("Ctrl-C or SIGTERM stops."), Patience);
            lan.Exec("ip", "link", "set", "rxtap1", "master", "br0");
            lan.Exec("ip", "link", "set", "rxtap1", "up");
            await cli.WaitForLineAsync(line => line.StartsWith("dhcp bound: 10.77.10.", StringComparison.Ordinal), Patience);
            string bound = cli.Lines.First(line => line.StartsWith("dhcp bound:", StringComparison.Ordinal));
            string address = bound["dhcp bound: ".Length..].Split('/')[0];
            Assert.Contains("router 10.77.10.1", bound);
            Assert.Contains("3 received", server.Exec("ping", "-c", "3", "-i", "0.2", "-w", "20", address));
            Assert.Contains("02:00:00:77:10:02", File.ReadAllText(leases));
            // A renewal at T1 (4 s), unicast to the server, acknowledged.
            await cli.WaitForLineAsync(line => line.StartsWith($"dhcp renewed: {address}/", StringComparison.Ordinal), Patience);
            cli.Signal(15 /* SIGTERM */);
            Assert.Equal(0, await cli.WaitForExitAsync(Patience));
            // Stopping released the lease (RFC 2131 §4.4.6): dnsmasq took it back and dropped it from its lease file.
            Assert.Contains(cli.Lines, line => line.StartsWith($"dhcp released: {address}/", StringComparison.Ordinal));
            await WaitForFileAsync(leases, text => !text.Contains("02:00:00:77:10:02", StringComparison.Ordinal), Patience);
            Assert.DoesNotContain("02:00:00:77:10:02", File.ReadAllText(leases));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n--- rx-netstack output ---\n{string.Join('\n', cli.Lines)}");
        }
        finally
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid))
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } // gone already
            File.Delete(leases);
            File.Delete(pidFile);
        }
    }

    /// <summary>Waits until <paramref name="done"/> holds for the file's text, looking again on each change the file system
    /// reports (watched first, so no change between is missed), or until <paramref name="patience"/> runs out.</summary>
    private static async Task WaitForFileAsync(string path, Func<string, bool> done, TimeSpan patience)
    {
        using var watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!, Path.GetFileName(path));
        using var changed = new SemaphoreSlim(0);
        FileSystemEventHandler signal = (_, _) => changed.Release();
        watcher.Changed += signal;
        watcher.Created += signal;
        watcher.Renamed += (_, _) => changed.Release(); // dnsmasq may write a new file and rename it over the old
        watcher.EnableRaisingEvents = true;
        using var deadline = new CancellationTokenSource(patience);
        while (!done(File.ReadAllText(path)))
        {
            try { await changed.WaitAsync(deadline.Token); }
            catch (OperationCanceledException) { return; }
        }
    }
}
