using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench tun</c>: the Linux kernel against our stack over a TUN device at MTU 1500, in a network namespace this command
/// creates and always deletes (smoltcp's benchmark against Linux). A TCP bulk transfer each way — kernel → stack, then
/// stack → kernel — for each socket buffer size (TcpSettings on our side, SO_SNDBUF/SO_RCVBUF on the kernel's), each
/// bounded in time and in bytes; MB/s beside issue 6's targets.
/// </summary>
internal static class BenchTun
{
    public const string Interface = "rxbt0";
    public const int Mtu = 1500;
    internal static readonly IPAddress KernelAddress = IPAddress.Parse("10.78.0.1");
    internal static readonly NetAddress StackAddress = NetAddress.Parse("10.78.0.2");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>The sizes measured without --buffer, and issue 6's targets in MB/s for each (kernel → stack, stack → kernel).</summary>
    private static readonly (int Buffer, double KernelToStack, double StackToKernel)[] Targets =
    [
        (64 * 1024, 340, 265),
        (1024 * 1024, 570, 330),
    ];

    /// <summary>A safety bound on each transfer besides its time: more than a TUN link at MTU 1500 moves in that time.</summary>
    private const double MaxBytesPerSecond = 4e9;

    private const int SOL_SOCKET = 1, SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33;

    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o, IReadOnlyList<int> buffers, DemoConsole console)
    {
        // The process id in the name says whose namespace it is (several benches may run at once; one left behind names its owner).
        using var ns = NetworkNamespace.Create($"rxbench-{Environment.ProcessId}");
        // Ctrl-C or SIGTERM: delete the namespace before the process goes (the default action still ends it).
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => ns.Dispose());
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => ns.Dispose());
        TunDevice? tun = null;
        Netstack? stack = null;
        try
        {
            tun = ns.Run(() => TunDevice.Open(Interface, offloads: o.Offloads));
            if (!o.Json && tun.OffloadsOffReason is { } why) console.Line($"TUN offloads off: {why}");
            ns.Exec("ip", "link", "set", Interface, "mtu", Mtu.ToString(System.Globalization.CultureInfo.InvariantCulture));
            ns.Exec("ip", "addr", "add", $"{KernelAddress}/24", "dev", Interface);
            ns.Exec("ip", "link", "set", Interface, "up");
            if (tun.Mtu != Mtu) throw new InvalidOperationException($"TUN device {Interface} opened with MTU {tun.Mtu}, not {Mtu}");
            stack = new Netstack(new NetstackOptions { Addresses = [new InterfaceAddress(StackAddress, 24)] });
            using var attachment = stack.Attach(tun);

            ushort port = 5201;
            // Warm-up, not measured: in a 3 s run the JIT's tiers would otherwise still be compiling the hot path.
            var warmUp = o with { Seconds = Math.Min(0.5, o.Seconds) };
            if (!o.Json) console.Line("warm-up (not measured) …");
            await MeasureAsync(ns, stack, tun, warmUp, buffers[0], port++, kernelSends: true, 0);
            await MeasureAsync(ns, stack, tun, warmUp, buffers[0], port++, kernelSends: false, 0);

            var results = new List<BenchResult>();
            foreach (int buffer in buffers)
            {
                var target = Targets.FirstOrDefault(t => t.Buffer == buffer);
                if (!o.Json) console.Line($"{Label(buffer)} buffers: linux → rx-netstack …");
                results.Add(await MeasureAsync(ns, stack, tun, o, buffer, port++, kernelSends: true, target.KernelToStack));
                if (!o.Json) console.Line($"{Label(buffer)} buffers: rx-netstack → linux …");
                results.Add(await MeasureAsync(ns, stack, tun, o, buffer, port++, kernelSends: false, target.StackToKernel));
            }
            return results;
        }
        finally
        {
            stack?.Dispose();
            tun?.Dispose();
        }
    }

    private static async Task<BenchResult> MeasureAsync(NetworkNamespace ns, Netstack stack, TunDevice tun, BenchOptions o, int buffer,
        ushort port, bool kernelSends, double target)
    {
        var settings = new TcpSettings { SendBufferSize = buffer, ReceiveBufferSize = buffer };
        long droppedBefore = tun.TransmitDropped, gsoBefore = tun.GsoPacketsReceived, gsoSentBefore = tun.GsoPacketsSent;
        await using var pair = kernelSends
            ? await KernelToStackAsync(ns, stack, settings, buffer, port)
            : await StackToKernelAsync(ns, stack, settings, buffer, port);
        var (sent, received, elapsed) = await BulkAsync(pair, o.Write, o.Duration, (long)(MaxBytesPerSecond * o.Seconds));
        if (received != sent) throw new InvalidOperationException($"sent {sent} bytes but {received} arrived");
        double rate = received / 1e6 / elapsed.TotalSeconds;
        return new BenchResult("tun", kernelSends ? "linux → rx-netstack" : "rx-netstack → linux",
        [
            ("buffer", Label(buffer)), ("mb_per_s", rate), ("target_mb_per_s", target > 0 ? (object)target : "-"),
            ("meets_target", target > 0 ? (rate >= target ? "yes" : "NO") : "-"),
            ("bytes", received), ("seconds", elapsed.TotalSeconds), ("mtu", Mtu),
            ("kernel_sndbuf", pair.KernelSocket.SendBufferSize), ("kernel_rcvbuf", pair.KernelSocket.ReceiveBufferSize),
            ("tun_tx_dropped", tun.TransmitDropped - droppedBefore), ("offloads", tun.Offloads ? "on" : "off"),
            ("tun_gso_rx", tun.GsoPacketsReceived - gsoBefore), ("tun_gso_tx", tun.GsoPacketsSent - gsoSentBefore),
        ]);
    }

    internal static string Label(int buffer) => buffer % (1024 * 1024) == 0 ? $"{buffer / (1024 * 1024)} MiB" : $"{buffer / 1024.0:0.#} KiB";

    /// <summary>A kernel TCP socket inside the namespace with both buffers forced to <paramref name="buffer"/> (root may exceed rmem_max/wmem_max).</summary>
    internal static Socket KernelSocket(NetworkNamespace ns, int buffer) => ns.Run(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.SetRawSocketOption(SOL_SOCKET, SO_SNDBUFFORCE, BitConverter.GetBytes(buffer));
        socket.SetRawSocketOption(SOL_SOCKET, SO_RCVBUFFORCE, BitConverter.GetBytes(buffer));
        return socket;
    });

    internal static async Task<TunStreamPair> KernelToStackAsync(NetworkNamespace ns, Netstack stack, TcpSettings settings, int buffer, ushort port)
    {
        TcpConnectionListener listener = await stack.ListenTcpAsync(port, settings: settings);
        Socket kernel = KernelSocket(ns, buffer);
        try
        {
            Task<TcpConnection> accept = listener.AcceptAsync();
            await kernel.ConnectAsync(new IPEndPoint(StackAddress.ToIPAddress(), port)).WaitAsync(Patience);
            TcpConnection connection = await accept.WaitAsync(Patience);
            return new TunStreamPair(kernel, connection, kernelSends: true, listener, null);
        }
        catch
        {
            kernel.Dispose();
            await listener.DisposeAsync();
            throw;
        }
    }

    internal static async Task<TunStreamPair> StackToKernelAsync(NetworkNamespace ns, Netstack stack, TcpSettings settings, int buffer, ushort port)
    {
        // Buffers set on the listener before listen(): the accepted socket inherits them and its window scale follows.
        Socket listener = KernelSocket(ns, buffer);
        try
        {
            listener.Bind(new IPEndPoint(KernelAddress, port));
            listener.Listen(1);
            Task<Socket> accept = listener.AcceptAsync();
            TcpConnection connection = await stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(KernelAddress), port), settings)
                .WaitAsync(Patience);
            Socket kernel = await accept.WaitAsync(Patience);
            return new TunStreamPair(kernel, connection, kernelSends: false, null, listener);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The sender writes <paramref name="writeSize"/> bytes at a time until <paramref name="duration"/> has passed or
    /// <paramref name="maxBytes"/> went, then shuts down; the figure is what the receiver read until end of stream.
    /// </summary>
    internal static async Task<(long Sent, long Received, TimeSpan Elapsed)> BulkAsync(TunStreamPair pair, int writeSize, TimeSpan duration, long maxBytes)
    {
        byte[] data = new byte[writeSize];
        new Random(6).NextBytes(data);
        var clock = Stopwatch.StartNew();

        async Task<long> ReceiveAsync()
        {
            byte[] buffer = new byte[64 * 1024];
            long total = 0;
            for (long i = 0; i < BenchTransfers.MaxIterations; i++)
            {
                int n = await pair.ReadAsync(buffer);
                if (n == 0) break;
                total += n;
            }
            return total;
        }

        Task<long> receiving = Task.Run(ReceiveAsync);
        long sent = 0;
        for (long i = 0; i < BenchTransfers.MaxIterations && clock.Elapsed < duration && sent < maxBytes; i++)
        {
            await pair.SendAsync(data);
            sent += data.Length;
        }
        await pair.ShutdownSenderAsync();
        long received = await receiving.WaitAsync(duration + TimeSpan.FromSeconds(30));
        return (sent, received, clock.Elapsed);
    }

    /// <summary>One kernel socket and one connection of our stack, joined over the TUN device; one of them sends.</summary>
    internal sealed class TunStreamPair(Socket kernel, TcpConnection connection, bool kernelSends, TcpConnectionListener? stackListener, Socket? kernelListener)
        : IAsyncDisposable
    {
        public Socket KernelSocket => kernel;

        /// <summary>Our stack's end of the pair.</summary>
        public TcpConnection Connection => connection;

        public async ValueTask SendAsync(ReadOnlyMemory<byte> data)
        {
            if (!kernelSends)
            {
                await connection.SendAsync(data);
                return;
            }
            while (!data.IsEmpty) data = data[await kernel.SendAsync(data, SocketFlags.None)..];
        }

        public ValueTask<int> ReadAsync(Memory<byte> buffer) =>
            kernelSends ? connection.ReadAsync(buffer) : kernel.ReceiveAsync(buffer, SocketFlags.None);

        public Task ShutdownSenderAsync()
        {
            if (!kernelSends) return connection.ShutdownWriteAsync();
            kernel.Shutdown(SocketShutdown.Send);
            return Task.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            kernel.Dispose();
            kernelListener?.Dispose();
            try { await connection.CloseAsync().WaitAsync(Patience); }
            catch (Exception) { /* the stack's disposal ends whatever is left */ }
            if (stackListener is not null) await stackListener.DisposeAsync();
        }
    }
}
