using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench proxy</c>: bulk TCP from a client namespace to a server namespace two ways in one run — through
/// <c>rx-netstack proxy</c> (the clients' TUN interface, the proxy's stack, its upstream sockets in a middle namespace) and
/// through the kernel's own forwarding across the same middle namespace — each direction, each bounded in time and bytes.
/// The namespaces (created and always deleted here): clients 10.80.0.1 (veth to the middle, and the TUN 10.78.0.1 routing
/// 10.79.0.0/24), the middle 10.80.0.2 / 10.79.0.1 forwarding, the server 10.79.0.2 (reached through the proxy) and
/// 10.81.0.2 (the same listener, reached by kernel forwarding).
/// </summary>
internal static partial class BenchProxy
{
    public const string Interface = "rxbp0";
    private const int Port = 5301;
    private static readonly IPAddress ThroughProxy = IPAddress.Parse("10.79.0.2"), ThroughKernel = IPAddress.Parse("10.81.0.2");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>A safety bound on each transfer besides its time.</summary>
    private const double MaxBytesPerSecond = 4e9;

    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o, DemoConsole console)
    {
        string owner = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using var clients = NetworkNamespace.Create($"rxbpc-{owner}");
        using var middle = NetworkNamespace.Create($"rxbpm-{owner}");
        using var server = NetworkNamespace.Create($"rxbps-{owner}");
        void DeleteAll()
        {
            clients.Dispose();
            middle.Dispose();
            server.Dispose();
        }
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => DeleteAll());
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => DeleteAll());

        middle.Exec("ip", "link", "add", "rxbpm0", "type", "veth", "peer", "name", "rxbps0");
        middle.Exec("ip", "link", "set", "rxbps0", "netns", server.Name);
        middle.Exec("ip", "link", "add", "rxbpm1", "type", "veth", "peer", "name", "rxbpc0");
        middle.Exec("ip", "link", "set", "rxbpc0", "netns", clients.Name);
        middle.Exec("ip", "addr", "add", "10.79.0.1/24", "dev", "rxbpm0");
        middle.Exec("ip", "addr", "add", "10.80.0.2/24", "dev", "rxbpm1");
        middle.Exec("ip", "link", "set", "rxbpm0", "up");
        middle.Exec("ip", "link", "set", "rxbpm1", "up");
        middle.Exec("ip", "route", "add", "10.81.0.0/24", "via", "10.79.0.2");
        middle.Exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        server.Exec("ip", "addr", "add", "10.79.0.2/24", "dev", "rxbps0");
        server.Exec("ip", "addr", "add", "10.81.0.2/32", "dev", "rxbps0");
        server.Exec("ip", "link", "set", "rxbps0", "up");
        server.Exec("ip", "route", "add", "default", "via", "10.79.0.1");
        clients.Exec("ip", "addr", "add", "10.80.0.1/24", "dev", "rxbpc0");
        clients.Exec("ip", "link", "set", "rxbpc0", "up");
        clients.Exec("ip", "route", "add", "10.81.0.0/24", "via", "10.80.0.2");

        using Process proxy = StartProxy(middle);
        try
        {
            await WaitForBannerAsync(proxy);
            middle.Exec("ip", "link", "set", Interface, "netns", clients.Name);
            clients.Exec("ip", "addr", "add", "10.78.0.1/24", "dev", Interface);
            clients.Exec("ip", "link", "set", Interface, "up");
            clients.Exec("ip", "route", "add", "10.79.0.0/24", "dev", Interface);
            using Socket listener = server.Run(() =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Any, Port));
                socket.Listen(16);
                return socket;
            });

            if (!o.Json) console.Line("warm-up (not measured) …");
            var warmUp = o with { Seconds = Math.Min(0.5, o.Seconds) };
            foreach (IPAddress path in (IPAddress[])[ThroughProxy, ThroughKernel])
                await MeasureAsync(clients, listener, path, upload: true, warmUp);

            var results = new List<BenchResult>();
            foreach (bool upload in (bool[])[true, false])
            {
                foreach (IPAddress path in (IPAddress[])[ThroughProxy, ThroughKernel])
                {
                    if (!o.Json) console.Line($"{Describe(path, upload)} …");
                    results.Add(await MeasureAsync(clients, listener, path, upload, o));
                }
            }
            return results;
        }
        finally
        {
            if (!proxy.HasExited)
            {
                _ = Kill(proxy.Id, 15 /* SIGTERM: the proxy resets what is open and exits */);
                if (!proxy.WaitForExit(Patience)) proxy.Kill(entireProcessTree: true);
            }
        }
    }

    private static string Describe(IPAddress path, bool upload) =>
        $"{(upload ? "client → server" : "server → client")} {(path.Equals(ThroughProxy) ? "through rx-netstack proxy" : "through kernel forwarding")}";

    /// <summary>This program's own `proxy` command in <paramref name="ns"/>, quiet, intercepting the server's prefix.</summary>
    private static Process StartProxy(NetworkNamespace ns)
    {
        string self = Environment.ProcessPath ?? "dotnet";
        string[] program = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [self, typeof(BenchProxy).Assembly.Location] : [self];
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string arg in (string[])["netns", "exec", ns.Name, .. program, "proxy", "--device", Interface, "--address", "10.78.0.2/24",
            "--intercept", "10.79.0.0/24", "--quiet"])
            info.ArgumentList.Add(arg);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start rx-netstack proxy");
    }

    private static async Task WaitForBannerAsync(Process proxy)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (await proxy.StandardOutput.ReadLineAsync(deadline.Token) is { } line)
            if (line.Contains("Ctrl-C or SIGTERM stops.", StringComparison.Ordinal))
            {
                _ = proxy.StandardOutput.ReadToEndAsync(CancellationToken.None); // keep its pipe drained
                _ = proxy.StandardError.ReadToEndAsync(CancellationToken.None);
                return;
            }
        throw new InvalidOperationException($"rx-netstack proxy ended before it was ready: {await proxy.StandardError.ReadToEndAsync(deadline.Token)}");
    }

    /// <summary>One bulk transfer for <see cref="BenchOptions.Duration"/>: the sender writes, shuts down, the receiver counts to EOF.</summary>
    private static async Task<BenchResult> MeasureAsync(NetworkNamespace clients, Socket listener, IPAddress path, bool upload, BenchOptions o)
    {
        using Socket client = clients.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using var deadline = new CancellationTokenSource(Patience + o.Duration);
        Task<Socket> accepting = listener.AcceptAsync(deadline.Token).AsTask();
        await client.ConnectAsync(new IPEndPoint(path, Port), deadline.Token);
        using Socket served = await accepting;
        (Socket sender, Socket receiver) = upload ? (client, served) : (served, client);
        Task<long> receiving = Task.Run(async () =>
        {
            byte[] buffer = new byte[256 * 1024];
            long total = 0;
            for (int n; (n = await receiver.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0;) total += n;
            return total;
        });
        byte[] chunk = new byte[o.Write];
        long sent = 0, limit = (long)(MaxBytesPerSecond * o.Seconds);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < o.Duration && sent < limit) sent += await sender.SendAsync(chunk, SocketFlags.None, deadline.Token);
        sender.Shutdown(SocketShutdown.Send);
        long received = await receiving;
        TimeSpan elapsed = clock.Elapsed;
        if (received != sent) throw new InvalidOperationException($"sent {sent} bytes but {received} arrived");
        return new BenchResult("proxy", Describe(path, upload),
        [
            ("mb_per_s", received / 1e6 / elapsed.TotalSeconds), ("bytes", received), ("seconds", elapsed.TotalSeconds), ("write", o.Write),
        ]);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
