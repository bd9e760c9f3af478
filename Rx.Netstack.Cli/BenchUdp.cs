using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench udp</c>: one sender writes datagrams as fast as its sends complete for the duration; the figure is what the
/// receiver got, per second of the transfer, and how many were lost (UDP has no flow control: a slow receiver drops).
/// </summary>
internal static class BenchUdp
{
    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o)
    {
        var stack = await MeasureStackAsync(o);
        var kernel = await MeasureKernelAsync(o);
        return [Result("rx-netstack", stack, o, kernel.Received / kernel.Elapsed.TotalSeconds), Result("kernel-loopback", kernel, o, null)];
    }

    private static BenchResult Result(string target, Counts c, BenchOptions o, double? kernelRate)
    {
        double rate = c.Received / c.Elapsed.TotalSeconds;
        var figures = new List<(string, object)>
        {
            ("datagrams_per_s", rate), ("mb_per_s", rate * o.DatagramSize / 1e6), ("sent", c.Sent), ("received", c.Received),
            ("lost_percent", c.Sent == 0 ? 0.0 : 100.0 * (c.Sent - c.Received) / c.Sent), ("size", o.DatagramSize), ("seconds", c.Elapsed.TotalSeconds),
        };
        if (kernelRate is { } k) figures.Add(("ratio_to_kernel", rate / k));
        return new BenchResult("udp", target, figures);
    }

    private readonly record struct Counts(long Sent, long Received, TimeSpan Elapsed);

    /// <summary>Runs the sender for the duration while a receiver counts (<paramref name="receiveSome"/> returns how many datagrams
    /// it received); stops the receiver once it has been quiet for 200 ms.</summary>
    private static async Task<Counts> RunAsync(TimeSpan duration, Func<Task> sendOne, Func<CancellationToken, Task<int>> receiveSome)
    {
        long received = 0;
        TimeSpan lastReceipt = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        Task receiving = Task.Run(async () =>
        {
            for (long i = 0; i < BenchTransfers.MaxIterations && !stop.IsCancellationRequested; i++)
            {
                int n;
                try { n = await receiveSome(stop.Token); }
                catch (OperationCanceledException) { return; }
                Interlocked.Add(ref received, n);
                lastReceipt = clock.Elapsed;
            }
        });
        long sent = 0;
        while (sent < BenchTransfers.MaxIterations && clock.Elapsed < duration)
        {
            await sendOne();
            sent++;
        }
        TimeSpan sendEnd = clock.Elapsed;
        for (int quiet = 0; quiet < 50; quiet++) // at most 10 s of draining
        {
            long before = Interlocked.Read(ref received);
            await Task.Delay(200);
            if (Interlocked.Read(ref received) == before) break;
        }
        stop.Cancel();
        await receiving.WaitAsync(TimeSpan.FromSeconds(10));
        return new Counts(sent, Interlocked.Read(ref received), lastReceipt > sendEnd ? lastReceipt : sendEnd);
    }

    private static async Task<Counts> MeasureStackAsync(BenchOptions o)
    {
        using var net = new DemoNetwork(o.Mtu, checksumOffload: o.Checksums, configure: opt => opt with
        {
            UdpReceiveQueueLength = 4096,
            UdpReceiveBufferSize = 16 << 20,
            UdpSendBufferSize = Math.Max(o.DatagramSize, 4096),
        });
        await using UdpSocket server = await net.B.BindUdpAsync(5300);
        await using UdpSocket client = await net.A.BindUdpAsync();
        byte[] payload = new byte[o.DatagramSize];
        var destination = new NetEndpoint(DemoNetwork.B4, 5300);
        // The stack's batch receive takes every datagram queued in one request (the kernel side has no recvmmsg in .NET).
        return await RunAsync(o.Duration, () => client.SendAsync(payload, destination),
            async ct => (await server.ReceiveBatchAsync(cancellationToken: ct)).Count);
    }

    private static async Task<Counts> MeasureKernelAsync(BenchOptions o)
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 16 << 20 };
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(server.LocalEndPoint!);
        byte[] payload = new byte[o.DatagramSize], buffer = new byte[65536];
        return await RunAsync(o.Duration,
            async () => await client.SendAsync(payload, SocketFlags.None),
            async ct =>
            {
                await server.ReceiveAsync(buffer, SocketFlags.None, ct);
                return 1;
            });
    }
}
