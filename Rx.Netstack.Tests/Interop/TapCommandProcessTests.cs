using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// `rx-netstack tap` as a host of its own on a Linux bridge: the CLI's TAP interface and a veth are ports of a bridge in one
/// namespace; the veth's other end is a kernel host in a second namespace (10.77.9.1, fd77:9::1). The kernel host pings,
/// curls and echoes 10 MB through the bridge (over IPv4 and, with offloads, IPv6 too), and its neighbour tables show the
/// stack's own MAC address. With offloads on (the default) the kernel's TCP hands the stack Ethernet super-frames and the stack
/// hands it TSO super-segments: the CLI's closing counters must show both, so the test fails if offloads silently stay off.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class TapCommandProcessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string StackMac = "02:00:00:77:09:02";
    private static readonly IPAddress HostV4 = IPAddress.Parse("10.77.9.1"), StackV4 = IPAddress.Parse("10.77.9.2");
    private static readonly IPAddress HostV6 = IPAddress.Parse("fd77:9::1"), StackV6 = IPAddress.Parse("fd77:9::2");

    [NamespaceFact("ping", "curl", "bash")]
    public Task Tap_command_is_a_host_on_a_linux_bridge() => HostOnBridge(offloads: true);

    [NamespaceFact("ping", "curl", "bash")]
    public Task Tap_command_without_offloads_is_a_host_on_a_linux_bridge() => HostOnBridge(offloads: false);

    /// <summary>
    /// The bridge port towards the kernel host takes neither checksums nor segmentation (its transmit checksumming off, so
    /// TSO goes too), and the host's end checks every checksum (its receive checksumming off): the kernel cuts the stack's
    /// super-frames and finishes their checksums from the seeds in software, and the host's TCP counts any wrong one.
    /// </summary>
    [NamespaceFact("ping", "curl", "bash")]
    public Task Tap_command_super_frames_are_cut_and_finished_right_by_the_kernel() => HostOnBridge(offloads: true, softwarePort: true);

    private static async Task HostOnBridge(bool offloads, bool softwarePort = false)
    {
        using var lan = NetworkNamespace.Create("rxlan");
        using var host = NetworkNamespace.Create("rxhost");
        lan.Exec("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0");
        lan.Exec("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1");
        lan.Exec("ip", "link", "set", "veth1", "netns", host.Name);
        lan.Exec("ip", "link", "set", "veth0", "master", "br0");
        lan.Exec("ip", "link", "set", "veth0", "up");
        lan.Exec("ip", "link", "set", "br0", "up");
        host.Exec("ip", "addr", "add", $"{HostV4}/24", "dev", "veth1");
        host.Exec("ip", "-6", "addr", "add", $"{HostV6}/64", "dev", "veth1", "nodad");
        host.Exec("ip", "link", "set", "veth1", "up");
        if (softwarePort)
        {
            SetChecksumOffload(lan, "veth0", transmit: true, on: false);
            SetChecksumOffload(host, "veth1", transmit: false, on: false);
        }

        using var cli = CliProcess.Start(lan, "tap", "--device", "rxtap0", "--address", $"{StackV4}/24", "--address", $"{StackV6}/64", "--mac", StackMac,
            "--offloads", offloads ? "on" : "off");
        try
        {
            await cli.WaitForLineAsync(line => line.Contains("Ctrl-C or SIGTERM stops."), Patience);
            Assert.Contains(cli.Lines, line => line.Contains(offloads ? "offloads on)" : "offloads off: not requested", StringComparison.Ordinal));
            lan.Exec("ip", "link", "set", "rxtap0", "master", "br0");
            lan.Exec("ip", "link", "set", "rxtap0", "up");

            // -w: keep asking until three replies or the deadline (the stack's IPv6 address is tentative for its first second).
            Assert.Contains("3 received", host.Exec("ping", "-c", "3", "-i", "0.2", "-w", "20", StackV4.ToString()));
            Assert.Contains("3 received", host.Exec("ping", "-c", "3", "-i", "0.2", "-w", "20", "-s", "3000", StackV4.ToString()));
            Assert.Contains("3 received", KernelPing.UntilAnswered(host, StackV6.ToString()));
            Assert.Contains("<h1>rx-netstack</h1>", host.Exec("curl", "-sS", "--max-time", "10", $"http://{StackV4}/"));
            Assert.Contains("<h1>rx-netstack</h1>", host.Exec("curl", "-sS", "--max-time", "10", $"http://[{StackV6}]/"));

            // 10 MB through the echo service and back, intact.
            await EchoAsync(host, new IPEndPoint(StackV4, 7));
            if (offloads) await EchoAsync(host, new IPEndPoint(StackV6, 7));

            // The kernel host learned the stack's own MAC for both addresses (ARP and NDP).
            string neighbours = host.Exec("ip", "neigh", "show", "dev", "veth1");
            Assert.Contains($"{StackV4} lladdr {StackMac}", neighbours);
            Assert.Contains($"{StackV6} lladdr {StackMac}", neighbours);

            cli.Signal(15 /* SIGTERM */);
            Assert.Equal(0, await cli.WaitForExitAsync(Patience));
            Assert.Contains(cli.Lines, line => line.StartsWith("frames in/out", StringComparison.Ordinal) && line.Contains("ARP in/out", StringComparison.Ordinal));

            // "super-frames in/out R/S, device drops in/out D/T": with offloads, the echo's bulk went both ways in super-frames.
            string counters = Assert.Single(cli.Lines, line => line.StartsWith("super-frames in/out ", StringComparison.Ordinal));
            var match = System.Text.RegularExpressions.Regex.Match(counters, @"^super-frames in/out (\d+)/(\d+), device drops in/out (\d+)/(\d+)$");
            Assert.True(match.Success, counters);
            long superIn = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), superOut = long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
            if (offloads)
            {
                Assert.True(superIn > 0, $"no GSO super-frame received: {counters}");
                Assert.True(superOut > 0, $"no TSO super-segment sent: {counters}");
            }
            else
            {
                Assert.Equal((0, 0), (superIn, superOut));
            }
            Assert.Equal("0", match.Groups[3].Value); // no malformed virtio-net header
            if (softwarePort) Assert.Equal(0, TcpChecksumErrors(host)); // every piece the kernel cut had the right checksum
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n--- rx-netstack output ---\n{string.Join('\n', cli.Lines)}");
        }
    }

    /// <summary>Turns a device's transmit or receive checksum offload on or off (the legacy ethtool ioctls ETHTOOL_STXCSUM and
    /// ETHTOOL_SRXCSUM, what <c>ethtool -K DEV tx|rx off</c> does), and checks it took.</summary>
    private static unsafe void SetChecksumOffload(NetworkNamespace ns, string device, bool transmit, bool on) => ns.Run(() =>
    {
        const uint setTx = 0x17, getTx = 0x16, setRx = 0x15, getRx = 0x14;
        const nuint SIOCETHTOOL = 0x8946;
        int socket = LinuxNative.Socket(LinuxNative.AF_INET, LinuxNative.SOCK_DGRAM | LinuxNative.SOCK_CLOEXEC, 0);
        Assert.True(socket >= 0);
        try
        {
            uint Call(uint command, uint value)
            {
                uint* ethtoolValue = stackalloc uint[2] { command, value }; // struct ethtool_value
                byte* request = stackalloc byte[40];                          // struct ifreq: the name, then ifr_data
                new Span<byte>(request, 40).Clear();
                System.Text.Encoding.ASCII.GetBytes(device, new Span<byte>(request, 15));
                *(nint*)(request + 16) = (nint)ethtoolValue;
                Assert.True(LinuxNative.Ioctl(socket, SIOCETHTOOL, request) == 0, $"ethtool ioctl 0x{command:x} on {device}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
                return ethtoolValue[1];
            }
            Call(transmit ? setTx : setRx, on ? 1u : 0u);
            Assert.Equal(on ? 1u : 0u, Call(transmit ? getTx : getRx, 0));
        }
        finally
        {
            LinuxNative.Close(socket);
        }
        return 0;
    });

    /// <summary>The namespace's TCP InCsumErrors (/proc/net/snmp: a header line of names, then one of values).</summary>
    private static long TcpChecksumErrors(NetworkNamespace ns)
    {
        string[] tcp = [.. ns.Exec("cat", "/proc/net/snmp").Split('\n').Where(line => line.StartsWith("Tcp:", StringComparison.Ordinal))];
        Assert.Equal(2, tcp.Length);
        string[] names = tcp[0].Split(' ', StringSplitOptions.RemoveEmptyEntries), values = tcp[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(values[Array.IndexOf(names, "InCsumErrors")], CultureInfo.InvariantCulture);
    }

    /// <summary>10 MB from the kernel host through the stack's echo service and back, byte for byte, both directions at once.</summary>
    private static async Task EchoAsync(NetworkNamespace host, IPEndPoint echo)
    {
        byte[] data = RandomNumberGenerator.GetBytes(10_000_000);
        using var socket = host.Run(() => new Socket(echo.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await socket.ConnectAsync(echo, deadline.Token);
        Task send = Task.Run(async () =>
        {
            for (int at = 0; at < data.Length; at += 65536)
                await socket.SendAsync(data.AsMemory(at, Math.Min(65536, data.Length - at)), SocketFlags.None, deadline.Token);
            socket.Shutdown(SocketShutdown.Send);
        });
        var received = new MemoryStream(data.Length);
        var buffer = new byte[65536];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0) received.Write(buffer, 0, n);
        await send;
        Assert.Equal(data.Length, received.Length);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
    }
}
