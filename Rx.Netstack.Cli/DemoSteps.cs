using System.Diagnostics;
using System.Globalization;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;
using System.Text;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>A demo step that did not do what it should; the message says what went wrong.</summary>
internal sealed class DemoStepFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The steps of <c>demo</c>, each a short, self-checking use of the public API between the two stacks.</summary>
internal static class DemoSteps
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Sensor readings sent as UDP datagrams from A to B; a LINQ query over B's <c>Received</c> averages them per sensor.</summary>
    public static async Task UdpWithLinqAsync(DemoNetwork net, DemoConsole console)
    {
        const int Readings = 24;
        await using UdpSocket server = await net.B.BindUdpAsync(5000);
        await using UdpSocket client = await net.A.BindUdpAsync();

        // The query: parse "sensor value" text, keep plausible values, average per sensor, over the first 24 datagrams.
        Task<IList<(string Sensor, double Average, int Count)>> query =
            (from datagram in server.Received.Take(Readings)
             let text = Encoding.UTF8.GetString(datagram.Data.Span)
             let parts = text.Split(' ')
             let reading = (Sensor: parts[0], Celsius: double.Parse(parts[1], CultureInfo.InvariantCulture))
             where reading.Celsius > -50
             group reading by reading.Sensor into bySensor
             from summary in bySensor.Aggregate((Sum: 0.0, Count: 0), (acc, r) => (acc.Sum + r.Celsius, acc.Count + 1))
             select (bySensor.Key, summary.Sum / summary.Count, summary.Count))
            .ToList().Timeout(StepTimeout).ToTask();

        var destination = new NetEndpoint(DemoNetwork.B4, 5000);
        for (int i = 0; i < Readings; i++)
        {
            double celsius = 18 + (i * 7 % 10) * 0.5;
            string text = string.Create(CultureInfo.InvariantCulture, $"sensor-{i % 3} {celsius:F1}");
            await client.SendAsync(Encoding.UTF8.GetBytes(text), destination);
        }
        IList<(string Sensor, double Average, int Count)> result = await Expect(query, "the LINQ query over UDP datagrams");
        if (result.Sum(r => r.Count) != Readings) throw new DemoStepFailedException($"expected {Readings} readings, the query saw {result.Sum(r => r.Count)}");
        console.Line($"sent {Readings} datagrams {client.Local} → {destination}");
        console.Line("query: server.Received.Take(24) → parse → group by sensor → average");
        foreach (var (sensor, average, count) in result.OrderBy(r => r.Sensor))
            console.Ok(string.Create(CultureInfo.InvariantCulture, $"{sensor}: {count} readings, average {average:F2} °C"));
    }

    /// <summary>ICMP echo from A to B over IPv4 and IPv6.</summary>
    public static async Task PingAsync(DemoNetwork net, DemoConsole console)
    {
        foreach (NetAddress target in new[] { DemoNetwork.B4, DemoNetwork.B6 })
        {
            for (ushort seq = 1; seq <= 3; seq++)
            {
                var reply = await Expect(net.A.Ping(target, 56, TimeSpan.FromSeconds(1), seq).ToTask(), $"ping {target}");
                console.Ok(string.Create(CultureInfo.InvariantCulture,
                    $"{reply.PayloadSize + 8} bytes from {reply.From}: icmp_seq={reply.SequenceNumber} time={reply.RoundTripTime.TotalMilliseconds:F3} ms"));
            }
        }
    }

    /// <summary>An echo server on B (every accepted connection echoes what it receives) and a client on A, over IPv4 and IPv6.</summary>
    public static async Task TcpEchoAsync(DemoNetwork net, DemoConsole console)
    {
        await using TcpConnectionListener listener4 = await net.B.ListenTcpAsync(7);
        await using TcpConnectionListener listener6 = await net.B.ListenTcpAsync(7, ipv6: true);
        // The echo server: a stream of accepted connections, each a stream of chunks sent back in order.
        using IDisposable echo = listener4.Accepted.Merge(listener6.Accepted)
            .SelectMany(connection => connection.Received
                .Select(chunk => Observable.FromAsync(ct => connection.SendAsync(chunk, ct)))
                .Concat()
                .Finally(() => _ = connection.CloseAsync()))
            .Subscribe(_ => { }, _ => { });

        foreach (NetAddress server in new[] { DemoNetwork.B4, DemoNetwork.B6 })
        {
            await using TcpConnection client = await Expect(net.A.ConnectTcpAsync(new NetEndpoint(server, 7)), $"connect to {server} port 7");
            using var reader = new StreamReader(client.AsStream(), Encoding.UTF8, leaveOpen: true);
            foreach (string message in new[] { "hello, stack", $"from {client.Local}", "bye" })
            {
                await client.SendAsync(Encoding.UTF8.GetBytes(message + "\n"));
                string? back = await Expect(reader.ReadLineAsync(), $"the echo of \"{message}\"");
                if (back != message) throw new DemoStepFailedException($"sent \"{message}\", the echo was \"{back}\"");
                console.Ok($"{client.Local} → {client.Remote}: \"{message}\" echoed");
            }
        }
    }

    /// <summary>
    /// A bulk transfer A → B: <paramref name="totalBytes"/> (or what fits in <paramref name="timeLimit"/>) written in 64 KiB
    /// writes with 256 KiB socket buffers, read on B, and verified with SHA-256 on both sides.
    /// </summary>
    public static async Task BulkTransferAsync(DemoNetwork net, DemoConsole console, long totalBytes, TimeSpan timeLimit)
    {
        var settings = new TcpSettings { SendBufferSize = 256 * 1024, ReceiveBufferSize = 256 * 1024 };
        await using TcpConnectionListener listener = await net.B.ListenTcpAsync(9000, settings: settings);
        Task<TcpConnection> accepting = listener.AcceptAsync();
        await using TcpConnection sender = await Expect(net.A.ConnectTcpAsync(new NetEndpoint(DemoNetwork.B4, 9000), settings), "connect for the bulk transfer");
        await using TcpConnection receiver = await Expect(accepting, "accept for the bulk transfer");

        byte[] pattern = new byte[1 << 20];
        new Random(2024).NextBytes(pattern);
        long received = 0;

        async Task<byte[]> ReceiveAllAsync()
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[256 * 1024];
            int n;
            while ((n = await receiver.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                Interlocked.Add(ref received, n);
            }
            return hash.GetHashAndReset();
        }

        async Task<(byte[] Hash, long Bytes)> SendAllAsync(Stopwatch clock)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            const int Write = 64 * 1024;
            long sent = 0;
            while (sent < totalBytes && clock.Elapsed < timeLimit)
            {
                int offset = (int)(sent % pattern.Length);
                int length = (int)Math.Min(Math.Min(Write, pattern.Length - offset), totalBytes - sent);
                await sender.SendAsync(pattern.AsMemory(offset, length));
                hash.AppendData(pattern, offset, length);
                sent += length;
            }
            await sender.ShutdownWriteAsync();
            return (hash.GetHashAndReset(), sent);
        }

        // The live table is fed by the stacks' own diagnostics streams (Netstack.Stats), five snapshots a second.
        var latest = (A: net.A.GetStats(), B: net.B.GetStats());
        using IDisposable liveStats = net.A.Stats(TimeSpan.FromMilliseconds(200))
            .CombineLatest(net.B.Stats(TimeSpan.FromMilliseconds(200)), (a, b) => (A: a, B: b))
            .Subscribe(pair => latest = pair);
        var clock = Stopwatch.StartNew();
        var (sentHash, sentBytes, receivedHash) = await console.WithProgressAsync("A → B", totalBytes, () => Interlocked.Read(ref received), async () =>
        {
            Task<byte[]> receiving = ReceiveAllAsync();
            var (hash, bytes) = await SendAllAsync(clock);
            byte[] receivedHash = await Expect(receiving, "the end of the bulk transfer", timeLimit + StepTimeout);
            return (hash, bytes, receivedHash);
        }, () => CounterRows(latest.A, latest.B), CounterHeader);
        clock.Stop();

        long got = Interlocked.Read(ref received);
        if (got != sentBytes) throw new DemoStepFailedException($"sent {sentBytes} bytes, received {got}");
        if (!sentHash.AsSpan().SequenceEqual(receivedHash)) throw new DemoStepFailedException("the SHA-256 of what arrived differs from what was sent");
        double seconds = clock.Elapsed.TotalSeconds;
        console.Ok(string.Create(CultureInfo.InvariantCulture,
            $"{sentBytes / 1e6:F1} MB in {seconds:F2} s = {sentBytes / 1e6 / seconds:F1} MB/s (MTU {net.Mtu}, 256 KiB buffers, 64 KiB writes)"));
        console.Ok($"SHA-256 equal on both sides: {Convert.ToHexStringLower(sentHash)[..16]}…");
        if (sentBytes < totalBytes) console.Line($"stopped at the {timeLimit.TotalSeconds:F0} s limit before {totalBytes / 1e6:F0} MB");
    }

    /// <summary>Both stacks' counters side by side.</summary>
    public static void Counters(DemoNetwork net, DemoConsole console) =>
        console.Table("NetstackStats", CounterHeader, CounterRows(net.A.GetStats(), net.B.GetStats()));

    private static readonly string[] CounterHeader = ["counter", "A (10.0.0.1)", "B (10.0.0.2)"];

    private static List<IReadOnlyList<string>> CounterRows(Diagnostics.NetstackStats a, Diagnostics.NetstackStats b)
    {
        static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "frames in", N(a.FramesIn), N(b.FramesIn) },
            new[] { "frames out", N(a.FramesOut), N(b.FramesOut) },
            new[] { "bytes in", N(a.BytesIn), N(b.BytesIn) },
            new[] { "bytes out", N(a.BytesOut), N(b.BytesOut) },
            new[] { "IPv4 in", N(a.Ipv4In), N(b.Ipv4In) },
            new[] { "IPv6 in", N(a.Ipv6In), N(b.Ipv6In) },
            new[] { "UDP in / out", $"{N(a.UdpIn)} / {N(a.UdpOut)}", $"{N(b.UdpIn)} / {N(b.UdpOut)}" },
            new[] { "TCP in / out", $"{N(a.TcpIn)} / {N(a.TcpOut)}", $"{N(b.TcpIn)} / {N(b.TcpOut)}" },
            new[] { "ICMP in / out", $"{N(a.IcmpIn)} / {N(a.IcmpOut)}", $"{N(b.IcmpIn)} / {N(b.IcmpOut)}" },
            new[] { "TCP retransmissions", N(a.TcpRetransmissions), N(b.TcpRetransmissions) },
            new[] { "commands processed", N(a.CommandsProcessed), N(b.CommandsProcessed) },
            new[] { "drops", N(a.TotalDrops), N(b.TotalDrops) },
        };
        foreach (var reason in a.Drops.Keys.Union(b.Drops.Keys).OrderBy(r => r))
            rows.Add(new[] { $"  drop: {reason}", N(a.Drops.GetValueOrDefault(reason)), N(b.Drops.GetValueOrDefault(reason)) });
        foreach (var state in a.ConnectionsByState.Keys.Union(b.ConnectionsByState.Keys).Order())
            rows.Add(new[] { $"  TCP {state}", N(a.ConnectionsByState.GetValueOrDefault(state)), N(b.ConnectionsByState.GetValueOrDefault(state)) });
        return rows;
    }

    /// <summary>Awaits <paramref name="task"/>, failing the step with a clear message after a timeout.</summary>
    private static async Task<T> Expect<T>(Task<T> task, string what, TimeSpan? timeout = null)
    {
        try
        {
            return await task.WaitAsync(timeout ?? StepTimeout);
        }
        catch (TimeoutException e)
        {
            throw new DemoStepFailedException($"timed out waiting for {what}", e);
        }
        catch (NetstackException e)
        {
            throw new DemoStepFailedException($"{what} failed: {e.Message}", e);
        }
    }

    private static Task<T> Expect<T>(ValueTask<T> task, string what) => Expect(task.AsTask(), what);
}
