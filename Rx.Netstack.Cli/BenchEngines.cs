using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench engines</c>: a stack of N engines (<see cref="NetstackOptions.Engines"/>) against the Linux kernel over a multi-queue
/// TUN device at MTU 1500, in a network namespace this command creates and always deletes. The kernel is the cheap peer: bulk
/// TCP over <c>--parallel</c> connections each way (the kernel writes 256 KiB at a time or reads until end of stream), then
/// connections per second (kernel clients connect, the stack accepts and closes, the client reads the end and closes).
/// Every figure comes with the CPU the process took: user time is mostly the stack, system time mostly the kernel peer and
/// the TUN reads and writes (docs/sharding.md).
/// </summary>
internal static class BenchEngines
{
    public const string Interface = "rxbe0";
    public const int Mtu = 1500;
    private static readonly IPAddress KernelAddress = IPAddress.Parse("10.79.0.1");
    private static readonly NetAddress StackAddress = NetAddress.Parse("10.79.0.2");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>A safety bound on a transfer besides its time.</summary>
    private const double MaxBytesPerSecond = 8e9;

    /// <summary>A safety bound on connections per run besides its time (the kernel client's ephemeral ports).</summary>
    private const int MaxConnections = 25_000;

    private const int KernelWrite = 256 * 1024;

    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o, DemoConsole console)
    {
        using var ns = NetworkNamespace.Create($"rxbeng-{Environment.ProcessId}");
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => ns.Dispose());
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => ns.Dispose());
        MultiQueueTunDevice? tun = null;
        Netstack? stack = null;
        try
        {
            tun = ns.Run(() => MultiQueueTunDevice.Open(Interface, o.Engines, offloads: o.Offloads));
            if (!o.Json && tun.OffloadsOffReason is { } why) console.Line($"TUN offloads off: {why}");
            ns.Exec("ip", "link", "set", Interface, "mtu", Mtu.ToString(CultureInfo.InvariantCulture));
            ns.Exec("ip", "addr", "add", $"{KernelAddress}/24", "dev", Interface);
            ns.Exec("ip", "link", "set", Interface, "up");
            var settings = new TcpSettings { SendBufferSize = o.Buffer, ReceiveBufferSize = o.Buffer };
            stack = new Netstack(new NetstackOptions { Addresses = [new InterfaceAddress(StackAddress, 24)], Engines = o.Engines, Tcp = settings });
            using IDisposable attachment = stack.AttachQueues(tun);

            if (!o.Json) console.Line("warm-up (not measured) …");
            var warmUp = o with { Seconds = Math.Min(0.5, o.Seconds) };
            await BulkAsync(ns, stack, tun, warmUp, 6000, kernelSends: true);
            await ConnectRateAsync(ns, stack, tun, warmUp, 6001);

            var results = new List<BenchResult>();
            if (!o.Json) console.Line($"linux → rx-netstack, {o.Parallel} connections …");
            results.Add(await BulkAsync(ns, stack, tun, o, 6010, kernelSends: true));
            if (!o.Json) console.Line($"rx-netstack → linux, {o.Parallel} connections …");
            results.Add(await BulkAsync(ns, stack, tun, o, 6011, kernelSends: false));
            if (!o.Json) console.Line($"connections per second, {o.Parallel} kernel clients …");
            results.Add(await ConnectRateAsync(ns, stack, tun, o, 6012));
            return results;
        }
        finally
        {
            if (stack is not null) await stack.DisposeAsync();
            tun?.Dispose();
        }
    }

    /// <summary>Kernel TCP sockets of the namespace, made 256 at a time (any thread).</summary>
    private sealed class SocketSupply(NetworkNamespace ns) : IDisposable
    {
        private readonly Lock _gate = new();
        private readonly Queue<Socket> _ready = new();

        public Socket Take()
        {
            lock (_gate)
            {
                if (_ready.Count == 0)
                    foreach (Socket s in ns.Run(() => Enumerable.Range(0, 256).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToArray()))
                        _ready.Enqueue(s);
                return _ready.Dequeue();
            }
        }

        public void Dispose()
        {
            lock (_gate) while (_ready.TryDequeue(out Socket? s)) s.Dispose();
        }
    }

    /// <summary>A kernel TCP socket in the namespace.</summary>
    private static Socket KernelSocket(NetworkNamespace ns) => ns.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));

    /// <summary>CPU the process used (user, system) and the wall clock, for the figures' CPU columns.</summary>
    private readonly record struct CpuMark(TimeSpan User, TimeSpan System, long Ticks)
    {
        public static CpuMark Now()
        {
            using var process = Process.GetCurrentProcess();
            return new CpuMark(process.UserProcessorTime, process.PrivilegedProcessorTime, Stopwatch.GetTimestamp());
        }

        /// <summary>User and system CPU since <paramref name="start"/>, in percent of one core.</summary>
        public (double User, double System) Since(CpuMark start)
        {
            double wall = Stopwatch.GetElapsedTime(start.Ticks, Ticks).TotalSeconds;
            return ((User - start.User).TotalSeconds / wall * 100, (System - start.System).TotalSeconds / wall * 100);
        }
    }

    private static (string, object)[] Common(BenchOptions o, MultiQueueTunDevice tun, (double User, double System) cpu) =>
    [
        ("engines", o.Engines), ("connections", o.Parallel), ("offloads", tun.OffloadsOffReason is null ? "on" : "off"),
        ("cpu_user_pct", Math.Round(cpu.User)), ("cpu_sys_pct", Math.Round(cpu.System)),
        ("tun_tx_dropped", tun.Devices.Sum(d => d.TransmitDropped)),
    ];

    /// <summary>Bulk over <see cref="BenchOptions.Parallel"/> connections one way; the figure is what the receivers read.</summary>
    private static async Task<BenchResult> BulkAsync(NetworkNamespace ns, Netstack stack, MultiQueueTunDevice tun, BenchOptions o, ushort port, bool kernelSends)
    {
        int n = o.Parallel;
        var kernel = new Socket[n];
        var ours = new TcpConnection[n];
        Socket? kernelListener = null;
        TcpConnectionListener? listener = null;
        try
        {
            if (kernelSends)
            {
                listener = await stack.ListenTcpAsync(port, backlog: 1024);
                for (int i = 0; i < n; i++)
                {
                    Task<TcpConnection> accept = listener.AcceptAsync();
                    kernel[i] = KernelSocket(ns);
                    await kernel[i].ConnectAsync(new IPEndPoint(StackAddress.ToIPAddress(), port)).WaitAsync(Patience);
                    ours[i] = await accept.WaitAsync(Patience);
                }
            }
            else
            {
                kernelListener = KernelSocket(ns);
                kernelListener.Bind(new IPEndPoint(KernelAddress, port));
                kernelListener.Listen(n);
                for (int i = 0; i < n; i++)
                {
                    Task<Socket> accept = kernelListener.AcceptAsync();
                    ours[i] = await stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(KernelAddress), port)).WaitAsync(Patience);
                    kernel[i] = await accept.WaitAsync(Patience);
                }
            }

            long perConnection = (long)(MaxBytesPerSecond * o.Seconds / n);
            CpuMark start = CpuMark.Now();
            var clock = Stopwatch.StartNew();
            var senders = new Task<long>[n];
            var receivers = new Task<long>[n];
            for (int i = 0; i < n; i++)
            {
                int k = i;
                receivers[k] = Task.Run(() => kernelSends ? ReadAllAsync(ours[k]) : ReadAllAsync(kernel[k]));
                senders[k] = Task.Run(() => kernelSends
                    ? SendForAsync(kernel[k], o.Duration, perConnection, clock)
                    : SendForAsync(ours[k], o.Write, o.Duration, perConnection, clock));
            }
            long sent = (await Task.WhenAll(senders)).Sum();
            long received = (await Task.WhenAll(receivers).WaitAsync(o.Duration + TimeSpan.FromSeconds(30))).Sum();
            TimeSpan elapsed = clock.Elapsed;
            var cpu = CpuMark.Now().Since(start);
            if (received != sent) throw new InvalidOperationException($"sent {sent} bytes but {received} arrived");
            double rate = received / 1e6 / elapsed.TotalSeconds;
            return new BenchResult("engines", kernelSends ? "linux → rx-netstack bulk" : "rx-netstack → linux bulk",
                [("mb_per_s", rate), .. Common(o, tun, cpu), ("bytes", received), ("seconds", elapsed.TotalSeconds)]);
        }
        finally
        {
            foreach (Socket? s in kernel) s?.Dispose();
            kernelListener?.Dispose();
            foreach (TcpConnection? c in ours)
                if (c is not null) _ = c.AbortAsync();
            if (listener is not null) await listener.DisposeAsync();
        }
    }

    private static async Task<long> SendForAsync(Socket socket, TimeSpan duration, long maxBytes, Stopwatch clock)
    {
        byte[] data = new byte[KernelWrite];
        new Random(6).NextBytes(data);
        long sent = 0;
        for (long i = 0; i < BenchTransfers.MaxIterations && clock.Elapsed < duration && sent < maxBytes; i++)
            sent += await socket.SendAsync(data, SocketFlags.None);
        socket.Shutdown(SocketShutdown.Send);
        return sent;
    }

    private static async Task<long> SendForAsync(TcpConnection connection, int write, TimeSpan duration, long maxBytes, Stopwatch clock)
    {
        byte[] data = new byte[write];
        new Random(6).NextBytes(data);
        long sent = 0;
        for (long i = 0; i < BenchTransfers.MaxIterations && clock.Elapsed < duration && sent < maxBytes; i++)
        {
            await connection.SendAsync(data);
            sent += data.Length;
        }
        await connection.ShutdownWriteAsync();
        return sent;
    }

    private static async Task<long> ReadAllAsync(Socket socket)
    {
        byte[] buffer = new byte[256 * 1024];
        long total = 0;
        for (long i = 0; i < BenchTransfers.MaxIterations; i++)
        {
            int got = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (got == 0) break;
            total += got;
        }
        return total;
    }

    private static async Task<long> ReadAllAsync(TcpConnection connection)
    {
        byte[] buffer = new byte[256 * 1024];
        long total = 0;
        for (long i = 0; i < BenchTransfers.MaxIterations; i++)
        {
            int got = await connection.ReadAsync(buffer);
            if (got == 0) break;
            total += got;
        }
        return total;
    }

    /// <summary>
    /// Connections per second: <see cref="BenchOptions.Parallel"/> kernel clients in loops connect, read until the stack's FIN
    /// (the stack accepts and closes at once) and close; bounded by time and <see cref="MaxConnections"/>.
    /// </summary>
    private static async Task<BenchResult> ConnectRateAsync(NetworkNamespace ns, Netstack stack, MultiQueueTunDevice tun, BenchOptions o, ushort port)
    {
        TcpConnectionListener listener = await stack.ListenTcpAsync(port, backlog: 4096);
        using var stop = new CancellationTokenSource();
        long accepted = 0;
        async Task AcceptLoopAsync()
        {
            for (long i = 0; i < BenchTransfers.MaxIterations; i++)
            {
                TcpConnection connection;
                try { connection = await listener.AcceptAsync(stop.Token); }
                catch (OperationCanceledException) { return; }
                catch (Commands.NetstackException) { return; }
                Interlocked.Increment(ref accepted);
                _ = connection.CloseAsync();
            }
        }
        // Several accepts outstanding, as a server's accept threads would have.
        Task[] acceptors = [.. Enumerable.Range(0, 4).Select(_ => Task.Run(AcceptLoopAsync))];
        var endpoint = new IPEndPoint(StackAddress.ToIPAddress(), port);
        // A socket is made in the namespace by a thread that enters it; one such thread per 256 sockets, not per connection,
        // so the peer's cost per connection is the kernel's own.
        using var supply = new SocketSupply(ns);
        long done = 0;
        CpuMark start = CpuMark.Now();
        var clock = Stopwatch.StartNew();
        async Task ClientAsync()
        {
            byte[] buffer = new byte[16];
            while (clock.Elapsed < o.Duration && Interlocked.Read(ref done) < MaxConnections)
            {
                using Socket socket = supply.Take();
                await socket.ConnectAsync(endpoint).WaitAsync(Patience);
                while (await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Patience) > 0) { }
                Interlocked.Increment(ref done);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, o.Parallel).Select(_ => Task.Run(ClientAsync)));
        TimeSpan elapsed = clock.Elapsed;
        var cpu = CpuMark.Now().Since(start);
        await stop.CancelAsync();
        await Task.WhenAll(acceptors);
        await listener.DisposeAsync();
        return new BenchResult("engines", "connections per second",
            [("conn_per_s", done / elapsed.TotalSeconds), .. Common(o, tun, cpu), ("connections", done), ("seconds", elapsed.TotalSeconds)]);
    }
}
