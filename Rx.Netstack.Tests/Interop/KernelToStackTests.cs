using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using System.Text.RegularExpressions;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>The Linux kernel as the client: its ping, curl and sockets talk to our stack's services through a TUN device.</summary>
[Collection(InteropCollection.Name)]
public sealed partial class KernelToStackTests
{
    [NamespaceFact("ping")]
    public async Task Kernel_pings_the_stack_over_ipv4_and_ipv6_including_fragmented_echoes_both_ways()
    {
        await using var rig = await InteropRig.StartAsync(serve: false);

        foreach (var (target, size) in new[] { (InteropRig.StackV4, 56), (InteropRig.StackV4, 3000), (InteropRig.StackV6, 56), (InteropRig.StackV6, 3000) })
        {
            string output = rig.Namespace.Exec("ping", "-c", "3", "-i", "0.2", "-W", "5", "-s", size.ToString(CultureInfo.InvariantCulture), target.ToString());
            Assert.Contains("3 packets transmitted, 3 received", output);
            Assert.Contains($"{size + 8} bytes from {target}", output); // the reply carries the whole payload back
        }

        var stats = rig.Stack.GetStats();
        // 3000 bytes over a 1500-byte MTU: the kernel's requests arrived in fragments and our replies left in fragments.
        Assert.True(stats.DatagramsReassembled >= 6, $"reassembled {stats.DatagramsReassembled}");
        Assert.True(stats.FragmentsOut >= 12, $"fragments out {stats.FragmentsOut}");
    }

    [NamespaceFact("curl")]
    public async Task Curl_gets_the_counters_page_twice_over_one_kept_alive_connection_on_ipv4_and_ipv6()
    {
        await using var rig = await InteropRig.StartAsync();

        foreach (string host in new[] { InteropRig.StackV4.ToString(), $"[{InteropRig.StackV6}]" })
        {
            string output = rig.Namespace.Exec("curl", "-sS", "--max-time", "10", "-w", "\n<<status=%{http_code} connects=%{num_connects}>>\n",
                $"http://{host}/", $"http://{host}/stats.txt");
            Assert.Contains("<h1>rx-netstack</h1>", output);
            Assert.Contains("TCP segments in / out", output);
            Assert.Matches(@"frames in / out: [\d,]+ / [\d,]+", output);
            Assert.Matches(@"passes / on the caller / wake-ups armed: [1-9][\d,]* / [\d,]+ / [\d,]+", output);
            // The second request reused the first connection (keep-alive, Content-Length framing).
            Assert.Equal(["<<status=200 connects=1>>", "<<status=200 connects=0>>"], StatusLine().Matches(output).Select(m => m.Value));
        }
        Assert.Equal(4, rig.Services!.Http.RequestsServed);
    }

    [NamespaceFact]
    public async Task Ten_megabytes_through_tcp_echo_come_back_intact()
    {
        await using var rig = await InteropRig.StartAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        byte[] data = TransferCheck.RandomBytes(10_000_000, seed: 7);

        var client = rig.KernelSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(InteropRig.StackV4, 7), deadline.Token);
        var receiving = TransferCheck.ReceiveAllAsync(client, deadline.Token);
        await TransferCheck.SendAllAsync(client, data, deadline.Token);
        var (bytes, sha) = await receiving;

        Assert.Equal(data.Length, bytes);
        Assert.Equal(TransferCheck.Sha256(data), sha);
    }

    [NamespaceFact]
    public async Task Data_sent_to_discard_is_reported_with_its_sha256()
    {
        await using var rig = await InteropRig.StartAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        byte[] data = TransferCheck.RandomBytes(3_000_000, seed: 9);
        var report = rig.Services!.Discard.Reports.FirstAsync().ToTask();

        var client = rig.KernelSocket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(InteropRig.StackV6, 9), deadline.Token);
        await TransferCheck.SendAllAsync(client, data, deadline.Token);

        var done = await report.WaitAsync(deadline.Token);
        Assert.Equal(data.Length, done.Bytes);
        Assert.Equal(TransferCheck.Sha256(data), done.Sha256);
        Assert.Equal(new IPEndPoint(InteropRig.KernelV6, ((IPEndPoint)client.LocalEndPoint!).Port), done.Remote.ToIPEndPoint());
    }

    [NamespaceFact]
    public async Task Chargen_sends_the_rfc864_pattern_until_the_kernel_closes()
    {
        await using var rig = await InteropRig.StartAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var client = rig.KernelSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(InteropRig.StackV4, 19), deadline.Token);

        var received = new byte[2_000_000];
        int filled = 0;
        while (filled < received.Length)
            filled += await client.ReceiveAsync(received.AsMemory(filled), SocketFlags.None, deadline.Token);
        int clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;
        client.Close(); // unread data → the kernel resets: chargen must take that as the end

        byte[] pattern = Rx.Netstack.Cli.Services.TcpChargenService.Pattern.ToArray();
        for (int i = 0; i < received.Length; i += pattern.Length)
            Assert.True(received.AsSpan(i, Math.Min(pattern.Length, received.Length - i)).SequenceEqual(pattern.AsSpan(0, Math.Min(pattern.Length, received.Length - i))), $"pattern differs at {i}");
        Assert.StartsWith(" !\"#$%&'()*+,-./0123456789", Encoding.ASCII.GetString(received, 0, 30));

        // The service notices the close and ends the connection.
        var closed = await rig.Services!.Chargen.ConnectionsClosed.FirstAsync().ToTask().WaitAsync(deadline.Token);
        Assert.Equal(clientPort, closed.Port);
    }

    [NamespaceFact]
    public async Task Kernel_udp_datagrams_are_echoed_on_ipv4_and_ipv6()
    {
        await using var rig = await InteropRig.StartAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        foreach (var target in new[] { InteropRig.StackV4, InteropRig.StackV6 })
        {
            var socket = rig.KernelSocket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(new IPEndPoint(target, 7));
            var buffer = new byte[2048];
            for (int i = 0; i < 5; i++)
            {
                byte[] message = Encoding.ASCII.GetBytes($"datagram {i} to {target}");
                await socket.SendAsync(message, SocketFlags.None, deadline.Token);
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
                Assert.Equal(message, buffer[..read]);
            }
        }
    }

    [GeneratedRegex(@"<<status=\d+ connects=\d+>>")]
    private static partial Regex StatusLine();
}
