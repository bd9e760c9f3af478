using System.Globalization;
using System.Runtime.InteropServices;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench tcp</c>: a bulk transfer between two stacks over the pipe, then the same over the kernel's loopback — the host's
/// (MTU 65536, GSO), and as root also on the loopback of a namespace made for the run, at the pipe's MTU and, with
/// <c>--offloads off</c>, without segmentation offload: frames of the size ours move (<see cref="KernelSameMtu"/>).
/// </summary>
internal static class BenchTcp
{
    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o, DemoConsole console)
    {
        var settings = new TcpSettings { SendBufferSize = o.Buffer, ReceiveBufferSize = o.Buffer };
        await WarmUpBothAsync(o, settings);
        (long stackBytes, TimeSpan stackTime, double idleBytes, EngineWork work) = await MeasureStackAsync(o, settings, console, inline: false);
        (long inlineBytes, TimeSpan inlineTime, _, EngineWork inlineWork) =
            await MeasureStackAsync(o with { IdleConnections = 0 }, settings, console, inline: true);
        (long kernelBytes, TimeSpan kernelTime) = await MeasureKernelAsync(o);
        BenchResult? sameMtu = await KernelSameMtu.MeasureAsync(o, console);

        double stackRate = stackBytes / 1e6 / stackTime.TotalSeconds;
        double inlineRate = inlineBytes / 1e6 / inlineTime.TotalSeconds;
        double kernelRate = kernelBytes / 1e6 / kernelTime.TotalSeconds;
        // The ratio to the namespace's row, where there is one (its name says per frame or same MTU).
        (string, object)[] RatioToSameMtu(double rate) =>
            sameMtu is null ? [] : [(KernelSameMtu.RatioName(o), rate / (double)sameMtu["mb_per_s"]!)];
        return
        [
            new("tcp", "rx-netstack", [("mb_per_s", stackRate), ("bytes", stackBytes), ("seconds", stackTime.TotalSeconds), ("mtu", o.Mtu),
                ("checksums", o.Checksums == ChecksumOffload.Both ? "offload" : "compute"), ("tso", Tso(o)),
                ("buffer", o.Buffer), ("write", o.Write), ("idle_connections", o.IdleConnections),
                .. (o.IdleConnections > 0 ? new (string, object)[] { ("idle_bytes_per_connection_end", idleBytes) } : []),
                ("frames_per_mb", work.Frames / (stackBytes / 1e6)), ("passes_per_mb", work.Passes / (stackBytes / 1e6)),
                ("passes_on_caller_percent", work.Passes == 0 ? 0 : 100.0 * work.PassesOnCaller / work.Passes),
                ("allocated_bytes_per_mb", work.AllocatedBytes / (stackBytes / 1e6)),
                ("ratio_to_kernel", stackRate / kernelRate), .. RatioToSameMtu(stackRate)]),
            new("tcp", "rx-netstack-inline", [("mb_per_s", inlineRate), ("bytes", inlineBytes), ("seconds", inlineTime.TotalSeconds), ("mtu", o.Mtu),
                ("checksums", o.Checksums == ChecksumOffload.Both ? "offload" : "compute"), ("tso", Tso(o)), ("buffer", o.Buffer), ("write", o.Write),
                ("frames_per_mb", inlineWork.Frames / (inlineBytes / 1e6)), ("passes_per_mb", inlineWork.Passes / (inlineBytes / 1e6)),
                ("passes_on_caller_percent", inlineWork.Passes == 0 ? 0 : 100.0 * inlineWork.PassesOnCaller / inlineWork.Passes),
                ("allocated_bytes_per_mb", inlineWork.AllocatedBytes / (inlineBytes / 1e6)),
                ("ratio_to_kernel", inlineRate / kernelRate), .. RatioToSameMtu(inlineRate)]),
            new("tcp", "kernel-loopback", [("mb_per_s", kernelRate), ("bytes", kernelBytes), ("seconds", kernelTime.TotalSeconds), ("mtu", 65536),
                ("buffer", o.Buffer), ("write", o.Write)]),
            .. (sameMtu is null ? Array.Empty<BenchResult>() : [sameMtu]),
        ];
    }

    /// <summary>An unmeasured transfer on its own connection before each measured one, on both sides alike: the JIT is still
    /// compiling the hot path during the first few hundred milliseconds (as in <c>bench tun</c>).</summary>
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(0.5);

    /// <summary>
    /// Warms both stack rows before either is measured. They share most of their code, and the JIT's tiers (tier 0, the
    /// instrumented tier, tier 1) take seconds to settle: without this the first row measured — the default — ran partly on
    /// unoptimized code while the second ran on the first one's tier-1 code (22 % of the default row's samples were in the
    /// JIT; with tiered compilation off the two rows came within 0.83× of each other).
    /// </summary>
    private static async Task WarmUpBothAsync(BenchOptions o, TcpSettings settings)
    {
        foreach (bool inline in (bool[])[false, true, false, true])
        {
            using var net = new DemoNetwork(o.Mtu, checksumOffload: o.Checksums, segmentationOffload: o.Offloads,
                configure: opt => Configure(opt, inline));
            await using var pair = await StackStreamPair.OpenAsync(net, 5004, settings);
            await BenchTransfers.BulkAsync(pair, o.Write, o.Buffer, WarmUp);
        }
    }

    /// <summary>Both stacks of a stack row: the default options, continuations inline or on the thread pool.</summary>
    private static NetstackOptions Configure(NetstackOptions options, bool inline) =>
        options with { RunContinuationsInline = inline };

    /// <summary>Whether the pipe passed super-segments whole (segmentation offload needs checksum offload).</summary>
    private static string Tso(BenchOptions o) => o.Offloads && o.Checksums == ChecksumOffload.Both ? "on" : "off";

    /// <summary>What both engines did during the transfer: frames sent, passes run, and how many of those on a caller's thread.</summary>
    private readonly record struct EngineWork(long Frames, long Passes, long PassesOnCaller, long AllocatedBytes)
    {
        public static EngineWork Of(DemoNetwork net)
        {
            NetstackStats a = net.A.GetStats(), b = net.B.GetStats();
            return new(a.FramesOut + b.FramesOut, a.Passes + b.Passes, a.PassesOnCaller + b.PassesOnCaller, GC.GetTotalAllocatedBytes(precise: true));
        }

        public static EngineWork operator -(EngineWork x, EngineWork y) =>
            new(x.Frames - y.Frames, x.Passes - y.Passes, x.PassesOnCaller - y.PassesOnCaller, x.AllocatedBytes - y.AllocatedBytes);
    }

    /// <summary>Stack to stack; <paramref name="inline"/> lets continuations run where replies complete
    /// (<see cref="NetstackOptions.RunContinuationsInline"/>) instead of on the thread pool.</summary>
    private static async Task<(long, TimeSpan, double, EngineWork)> MeasureStackAsync(BenchOptions o, TcpSettings settings, DemoConsole console,
        bool inline)
    {
        using var net = new DemoNetwork(o.Mtu, checksumOffload: o.Checksums, segmentationOffload: o.Offloads,
            configure: opt => Configure(opt, inline));
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var idle = await OpenIdleConnectionsAsync(net, o.IdleConnections, console, o.Json);
        // Managed memory per connection end (engine socket, control block, friendly TcpConnection), both stacks counted.
        double idleBytes = o.IdleConnections == 0 ? 0 : (GC.GetTotalMemory(forceFullCollection: true) - before) / (2.0 * o.IdleConnections);
        await using (var warmUp = await StackStreamPair.OpenAsync(net, 5003, settings))
            await BenchTransfers.BulkAsync(warmUp, o.Write, o.Buffer, WarmUp);
        await using var pair = await StackStreamPair.OpenAsync(net, 5001, settings);
        EngineWork workBefore = EngineWork.Of(net);
        var (bytes, elapsed) = await BenchTransfers.BulkAsync(pair, o.Write, o.Buffer, o.Duration);
        EngineWork work = EngineWork.Of(net) - workBefore;
        GC.KeepAlive(idle);
        return (bytes, elapsed, idleBytes, work);
    }

    private static async Task<(long, TimeSpan)> MeasureKernelAsync(BenchOptions o)
    {
        await using (var warmUp = await KernelStreamPair.OpenAsync(o.Buffer, noDelay: false))
            await BenchTransfers.BulkAsync(warmUp, o.Write, o.Buffer, WarmUp);
        await using var pair = await KernelStreamPair.OpenAsync(o.Buffer, noDelay: false);
        return await BenchTransfers.BulkAsync(pair, o.Write, o.Buffer, o.Duration);
    }

    /// <summary>
    /// The kernel row like ours (issue 16): the same transfer over the loopback of a namespace made for the run (root), whose
    /// <c>lo</c> has the pipe's MTU and, with <c>--offloads off</c>, <c>gso_max_segs 1</c>, so TCP builds one MSS per packet
    /// (<c>sk_gso_max_segs</c> caps the segments per skb; <c>lo</c> does no GRO, its receive path is <c>netif_rx</c>).
    /// Both sockets run our stacks' congestion control, CUBIC: under the host's default here, BBR, the kernel paces each
    /// 1,448-byte packet on a timer, which also reordered them across the two cores (a probe of this transfer moved
    /// 49–77 MB/s with BBR, 230–282 with CUBIC; docs/benchmarks.md). Checked per run, not assumed:
    /// <c>segments_per_frame</c> is the namespace's TCP OutSegs (which counts MSS-sized segments, GSO or not) over the
    /// packets <c>lo</c> sent; 1 means no packet carried more than one segment (with GSO at MTU 1500 it was 15.6).
    /// </summary>
    internal static class KernelSameMtu
    {
        /// <summary>The row's name: per frame with <c>--offloads off</c>, else the same MTU with GSO.</summary>
        public static string RowName(BenchOptions o) => o.Offloads ? "kernel-loopback-same-mtu" : "kernel-loopback-per-frame";

        /// <summary>The name of our rows' ratio to it.</summary>
        public static string RatioName(BenchOptions o) => o.Offloads ? "ratio_to_kernel_same_mtu" : "ratio_to_kernel_per_frame";

        /// <summary>The kernel algorithm for our stacks' default (<see cref="TcpSettings.CongestionControl"/>).</summary>
        private static string Congestion => new TcpSettings().CongestionControl switch
        {
            CongestionControlAlgorithm.NewReno => "reno",
            CongestionControlAlgorithm.Bbr => "bbr",
            _ => "cubic",
        };

        private const int IPPROTO_TCP = 6, TCP_MAXSEG = 2;

        /// <summary>The row, or null when this machine cannot make it (said in one line: the other rows carry on).</summary>
        public static async Task<BenchResult?> MeasureAsync(BenchOptions o, DemoConsole console)
        {
            void Say(string line)
            {
                if (o.Json) Console.Error.WriteLine(line);
                else console.Line(line);
            }
            if (NetworkNamespace.WhyNamespacesUnsupported() is { } why)
            {
                Say($"no {RowName(o)} row: {why}");
                return null;
            }
            NetworkNamespace ns;
            try
            {
                // The process id in the name says whose namespace it is, should one be left behind.
                ns = NetworkNamespace.Create($"rxbench-tcp-{Environment.ProcessId}");
            }
            catch (InvalidOperationException e)
            {
                Say($"no {RowName(o)} row: {e.Message}");
                return null;
            }
            using (ns)
            {
                // Ctrl-C or SIGTERM: delete the namespace before the process goes (the default action still ends it).
                using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => ns.Dispose());
                using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => ns.Dispose());
                try
                {
                    ns.Exec("ip", "link", "set", "lo", "mtu", o.Mtu.ToString(CultureInfo.InvariantCulture));
                    if (!o.Offloads) ns.Exec("ip", "link", "set", "lo", "gso_max_segs", "1");
                }
                catch (InvalidOperationException e)
                {
                    Say($"no {RowName(o)} row: {e.Message}");
                    return null;
                }
                return await MeasureInAsync(ns, o, console);
            }
        }

        private static async Task<BenchResult> MeasureInAsync(NetworkNamespace ns, BenchOptions o, DemoConsole console)
        {
            await using (var warmUp = await KernelStreamPair.OpenAsync(o.Buffer, noDelay: false, ns, Congestion))
                await BenchTransfers.BulkAsync(warmUp, o.Write, o.Buffer, WarmUp);
            long segmentsBefore = BenchLoss.KernelTcpCounter(ns, "OutSegs"), framesBefore = LoopbackPacketsSent(ns);
            long bytes;
            TimeSpan elapsed;
            string congestion;
            int mss;
            await using (var pair = await KernelStreamPair.OpenAsync(o.Buffer, noDelay: false, ns, Congestion))
            {
                congestion = BenchLoss.UseCongestionControl(pair.Client, Congestion);
                byte[] value = new byte[4];
                pair.Client.GetRawSocketOption(IPPROTO_TCP, TCP_MAXSEG, value);
                mss = BitConverter.ToInt32(value);
                (bytes, elapsed) = await BenchTransfers.BulkAsync(pair, o.Write, o.Buffer, o.Duration);
            }
            long segments = BenchLoss.KernelTcpCounter(ns, "OutSegs") - segmentsBefore, frames = LoopbackPacketsSent(ns) - framesBefore;
            double segmentsPerFrame = frames == 0 ? 0 : (double)segments / frames;
            // Equal without GSO (every segment a packet of its own); a super-packet counts many segments as one packet.
            if (!o.Offloads && segmentsPerFrame > 1.01)
                Console.Error.WriteLine($"warning: {RowName(o)}: {segmentsPerFrame:0.00} TCP segments per packet on lo: the kernel still segmented late");
            return new BenchResult("tcp", RowName(o),
            [
                ("mb_per_s", bytes / 1e6 / elapsed.TotalSeconds), ("bytes", bytes), ("seconds", elapsed.TotalSeconds), ("mtu", o.Mtu),
                ("tso", o.Offloads ? "on" : "off"), ("buffer", o.Buffer), ("write", o.Write),
                ("frames_per_mb", frames / (bytes / 1e6)), ("segments_per_frame", segmentsPerFrame), ("mss", mss), ("congestion", congestion),
            ]);
        }

        /// <summary>Packets the namespace's <c>lo</c> has sent (/proc/net/dev: each packet either way passes it once).</summary>
        private static long LoopbackPacketsSent(NetworkNamespace ns)
        {
            foreach (string line in ns.Exec("cat", "/proc/net/dev").Split('\n'))
            {
                string[] fields = line.Split([' ', ':'], StringSplitOptions.RemoveEmptyEntries);
                // lo: rx bytes packets errs drop fifo frame compressed multicast, then tx bytes packets …
                if (fields.Length > 10 && fields[0] == "lo") return long.Parse(fields[10], CultureInfo.InvariantCulture);
            }
            throw new InvalidOperationException($"no lo in /proc/net/dev of namespace {ns.Name}");
        }
    }

    /// <summary>Opens <paramref name="count"/> established connections A → B that then sit idle (default settings, empty buffers).</summary>
    private static async Task<List<TcpConnection>> OpenIdleConnectionsAsync(DemoNetwork net, int count, DemoConsole console, bool json)
    {
        var all = new List<TcpConnection>(count * 2);
        if (count == 0) return all;
        await using TcpConnectionListener listener = await net.B.ListenTcpAsync(5002, backlog: 1024);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        Task accepting = Task.Run(async () =>
        {
            for (int i = 0; i < count && DateTime.UtcNow < deadline; i++)
            {
                var c = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(30));
                lock (all) all.Add(c);
            }
        });
        using var gate = new SemaphoreSlim(16);
        var connecting = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync();
            try
            {
                var c = await net.A.ConnectTcpAsync(new NetEndpoint(DemoNetwork.B4, 5002)).WaitAsync(TimeSpan.FromSeconds(30));
                lock (all) all.Add(c);
            }
            finally { gate.Release(); }
        }).ToList();
        await Task.WhenAll(connecting);
        await accepting;
        if (!json) console.Line($"{count:N0} idle established connections open");
        return all;
    }
}
