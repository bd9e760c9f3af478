using System.Buffers.Binary;
using System.Diagnostics;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench reflect</c>: a stack of N engines against a peer that costs almost nothing — a <em>reflector</em> on each queue of
/// an in-memory N-queue link, which answers every TCP segment of the stack with the one segment a peer would send, built in
/// place and without state (no kernel, no second stack, no checksums: the link offloads them). So the stack is the bottleneck
/// and <c>--engines 1</c> against <c>--engines 2</c> shows what a second engine buys (issue 16; docs/sharding.md).
/// Two measurements: bulk from the stack over <c>--parallel</c> connections (the reflector acknowledges each segment), and
/// connections per second accepted by the stack (the reflector is the client: SYN, then ACK with FIN, then the last ACK).
/// </summary>
internal static class BenchReflect
{
    internal static readonly NetAddress StackAddress = NetAddress.Parse("10.81.0.2");
    internal static readonly NetAddress PeerAddress = NetAddress.Parse("10.81.0.1");

    /// <summary>The reflector's discard port (bulk) and the stack's listening port (connections).</summary>
    internal const ushort SinkPort = 9, ListenPort = 80;

    /// <summary>A safety bound on bytes per second besides the time.</summary>
    private const double MaxBytesPerSecond = 20e9;

    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o, DemoConsole console)
    {
        var results = new List<BenchResult>();
        if (!o.Json) console.Line($"bulk from the stack, {o.Parallel} connections …");
        results.Add(await BulkAsync(o));
        if (!o.Json) console.Line($"connections per second, {o.Parallel} reflected clients …");
        results.Add(await ConnectionsAsync(o));
        return results;
    }

    /// <summary>N queues of an in-memory link, their peer ends answered by reflectors; the stack on the queues (on
    /// <paramref name="scheduler"/> if given, with inline continuations: tests drive it in virtual time).</summary>
    internal sealed class Rig : IMultiQueuePacketDevice, IDisposable
    {
        private readonly (PipeDevice A, PipeDevice B)[] _pairs;
        private readonly IDisposable[] _subscriptions;

        public Rig(BenchOptions o, bool clientMode, System.Reactive.Concurrency.IScheduler? scheduler = null)
        {
            int mtu = 1500;
            _pairs = [.. Enumerable.Range(0, o.Engines).Select(_ => PipeDevice.CreatePair(mtu, checksumOffload: ChecksumOffload.Both, tcpSegmentationOffload: o.Offloads))];
            Reflectors = [.. _pairs.Select((p, i) => new Reflector(p.B, clientMode, laneBase: i * 3000))];
            _subscriptions = [.. _pairs.Select((p, i) => p.B.Received.Subscribe(Reflectors[i]))];
            var settings = new TcpSettings { SendBufferSize = o.Buffer, ReceiveBufferSize = o.Buffer };
            Stack = new Netstack(new NetstackOptions
            {
                Addresses = [new InterfaceAddress(StackAddress, 24)], Engines = o.Engines, Tcp = settings, RunContinuationsInline = scheduler is not null,
            }, scheduler);
            Attachment = o.Engines > 1 ? Stack.AttachQueues(this) : Stack.Attach(_pairs[0].A);
        }

        public Reflector[] Reflectors { get; }
        public Netstack Stack { get; }
        private IDisposable Attachment { get; }
        public IReadOnlyList<IPacketDevice> Queues => [.. _pairs.Select(p => (IPacketDevice)p.A)];

        public void Dispose()
        {
            Attachment.Dispose();
            foreach (IDisposable s in _subscriptions) s.Dispose();
            Stack.Dispose();
            foreach ((PipeDevice a, PipeDevice b) in _pairs)
            {
                a.Dispose();
                b.Dispose();
            }
        }
    }

    private static async Task<BenchResult> BulkAsync(BenchOptions o)
    {
        using var rig = new Rig(o, clientMode: false);
        var connections = new List<TcpConnection>();
        for (int i = 0; i < o.Parallel; i++) connections.Add(await rig.Stack.ConnectTcpAsync(new NetEndpoint(PeerAddress, SinkPort)));
        byte[] block = new byte[o.Write];
        using var stop = new CancellationTokenSource();
        long limit = (long)(MaxBytesPerSecond * o.Seconds);
        long queued = 0;
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long ackedBefore = rig.Reflectors.Sum(r => r.BytesAcked);
        var clock = Stopwatch.StartNew();
        async Task SendLoopAsync(TcpConnection connection)
        {
            while (!stop.IsCancellationRequested && Interlocked.Add(ref queued, block.Length) < limit)
            {
                try { await connection.SendAsync(block, stop.Token); }
                catch (OperationCanceledException) { return; }
            }
        }
        Task[] loops = [.. connections.Select(c => Task.Run(() => SendLoopAsync(c)))];
        await Task.Delay(o.Duration);
        long acked = rig.Reflectors.Sum(r => r.BytesAcked) - ackedBefore;
        double seconds = clock.Elapsed.TotalSeconds;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        await stop.CancelAsync();
        await Task.WhenAll(loops);
        foreach (TcpConnection c in connections) await c.AbortAsync();
        return new BenchResult("reflect", $"stack → reflector, {o.Engines} engine(s)", [
            ("mb_per_s", acked / seconds / 1e6),
            ("connections", o.Parallel),
            ("bytes", acked),
            ("seconds", seconds),
            ("cpu_percent", 100 * cpu.TotalSeconds / seconds),
            ("acks_sent", rig.Reflectors.Sum(r => r.SegmentsSent)),
        ]);
    }

    private static async Task<BenchResult> ConnectionsAsync(BenchOptions o)
    {
        using var rig = new Rig(o, clientMode: true);
        await using TcpConnectionListener listener = await rig.Stack.ListenTcpAsync(ListenPort, backlog: 4096);
        using var stop = new CancellationTokenSource();
        async Task AcceptLoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                TcpConnection server;
                try { server = await listener.AcceptAsync(stop.Token); }
                catch (OperationCanceledException) { return; }
                _ = server.CloseAsync(); // the client sent its FIN with its ACK: closing ends the connection (LAST-ACK)
            }
        }
        Task[] acceptors = [.. Enumerable.Range(0, Math.Max(2, o.Engines)).Select(_ => Task.Run(AcceptLoopAsync))];
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        // Each reflector opens its share of the clients; each finished connection opens the next (a closed loop).
        for (int i = 0; i < o.Parallel; i++) rig.Reflectors[i % rig.Reflectors.Length].OpenClient(StackAddress, PeerAddress, ListenPort);
        await Task.Delay(o.Duration);
        long completed = rig.Reflectors.Sum(r => r.ConnectionsCompleted);
        double seconds = clock.Elapsed.TotalSeconds;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        foreach (Reflector r in rig.Reflectors) r.Stop();
        await stop.CancelAsync();
        await Task.WhenAll(acceptors);
        return new BenchResult("reflect", $"connections/s, {o.Engines} engine(s)", [
            ("connections_per_s", completed / seconds),
            ("connections", completed),
            ("clients", o.Parallel),
            ("seconds", seconds),
            ("cpu_percent", 100 * cpu.TotalSeconds / seconds),
            ("resets", rig.Reflectors.Sum(r => r.ResetsSeen)),
        ]);
    }

    /// <summary>
    /// The cheap peer of one queue. Every TCP segment from the stack gets the answer a correct peer would give, computed from
    /// that segment alone: a SYN a SYN-ACK; data (and a FIN) a cumulative ACK (the link neither loses nor reorders, so
    /// acknowledging each segment's end is exact); as a client, a SYN-ACK the ACK with our FIN, and the stack's FIN the last ACK,
    /// after which the client's port opens the next connection. Checksums are left zero: the link offloads them. Called only
    /// from its queue's engine (one thread at a time), except <see cref="OpenClient"/> at the start.
    /// </summary>
    internal sealed class Reflector(PipeDevice end, bool clientMode, int laneBase) : IObserver<ReadOnlyMemory<byte>>
    {
        private const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Ack = 0x10;
        private const uint ClientIsn = 1_000_000;

        /// <summary>The answer being built (one at a time per reflector: its engine's thread).</summary>
        private readonly byte[] _out = new byte[64];

        /// <summary>The next client port of this reflector's lane (10,000 + laneBase + 0 … 2,047, cycling).</summary>
        private int _nextPort;

        private volatile bool _stopped;

        /// <summary>Data bytes acknowledged (bulk).</summary>
        public long BytesAcked;

        /// <summary>Connections that ended with our last ACK (client mode).</summary>
        public long ConnectionsCompleted;

        /// <summary>Segments this reflector sent.</summary>
        public long SegmentsSent;

        /// <summary>Resets from the stack (none expected).</summary>
        public long ResetsSeen;

        /// <summary>Stops opening new client connections.</summary>
        public void Stop() => _stopped = true;

        /// <summary>Opens one client connection to the stack (SYN from this lane's next port).</summary>
        public void OpenClient(NetAddress stack, NetAddress peer, ushort port)
        {
            lock (_out) SendSyn(stack, peer, port);
        }

        private void SendSyn(NetAddress stack, NetAddress peer, ushort port)
        {
            ushort source = (ushort)(10_000 + laneBase + (_nextPort++ & 2047));
            Span<byte> ip = _out;
            int length = WriteIpv4(ip, peer, stack, tcpLength: 24);
            Span<byte> tcp = ip[20..];
            WriteTcp(tcp, source, port, ClientIsn, 0, Syn, headerLength: 24, window: 65535);
            tcp[20] = 2; tcp[21] = 4; BinaryPrimitives.WriteUInt16BigEndian(tcp[22..], 1460); // MSS
            Emit(length);
        }

        public void OnNext(ReadOnlyMemory<byte> frame)
        {
            ReadOnlySpan<byte> ip = frame.Span;
            if (ip.Length < 40 || ip[0] != 0x45 || ip[9] != 6) return;
            int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
            ReadOnlySpan<byte> tcp = ip[20..Math.Min(total, ip.Length)];
            ushort sourcePort = BinaryPrimitives.ReadUInt16BigEndian(tcp), destinationPort = BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]);
            uint seq = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), ack = BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]);
            int headerLength = (tcp[12] >> 4) * 4;
            byte flags = tcp[13];
            int payload = tcp.Length - headerLength;
            NetAddress stack = NetAddress.ReadV4(ip[12..]), peer = NetAddress.ReadV4(ip[16..]);
            lock (_out)
            {
                if ((flags & Rst) != 0)
                {
                    ResetsSeen++;
                    return;
                }
                if ((flags & Syn) != 0 && (flags & Ack) == 0)
                {
                    // The stack connects to us: SYN-ACK with MSS and window scale 7 (an 8 MiB window).
                    int length = WriteIpv4(_out, peer, stack, tcpLength: 28);
                    Span<byte> o = _out.AsSpan(20);
                    WriteTcp(o, destinationPort, sourcePort, Isn(sourcePort), seq + 1, Syn | Ack, headerLength: 28, window: 65535);
                    o[20] = 2; o[21] = 4; BinaryPrimitives.WriteUInt16BigEndian(o[22..], 1460);
                    o[24] = 1; o[25] = 3; o[26] = 3; o[27] = 7;
                    Emit(length);
                    return;
                }
                if ((flags & (Syn | Ack)) == (Syn | Ack))
                {
                    // Our client's SYN answered: ACK it and send our FIN at once (a request of nothing, then goodbye).
                    int length = WriteIpv4(_out, peer, stack, tcpLength: 20);
                    WriteTcp(_out.AsSpan(20), destinationPort, sourcePort, ack, seq + 1, Ack | Fin, headerLength: 20, window: 65535);
                    Emit(length);
                    return;
                }
                int consumed = payload + ((flags & Fin) != 0 ? 1 : 0);
                if (consumed == 0) return; // a pure ACK needs no answer
                BytesAcked += payload;
                // In client mode a FIN from the stack (after ours) is the last segment of the connection: the last ACK ends it.
                bool last = clientMode && (flags & Fin) != 0;
                // In server mode a FIN gets ours with the ACK (the stack's close of a bulk connection).
                byte answer = !clientMode && (flags & Fin) != 0 ? (byte)(Ack | Fin) : Ack;
                int n = WriteIpv4(_out, peer, stack, tcpLength: 20);
                WriteTcp(_out.AsSpan(20), destinationPort, sourcePort, ack, seq + (uint)consumed, answer, headerLength: 20, window: 65535);
                Emit(n);
                if (last)
                {
                    ConnectionsCompleted++;
                    if (!_stopped) SendSyn(stack, peer, sourcePort);
                }
            }
        }

        private static uint Isn(ushort port) => 7_000_000u + port * 1_000u;

        private static int WriteIpv4(Span<byte> ip, NetAddress source, NetAddress destination, int tcpLength)
        {
            ip[..20].Clear();
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + tcpLength));
            ip[8] = 64;
            ip[9] = 6;
            source.WriteTo(ip[12..16]);
            destination.WriteTo(ip[16..20]);
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Ipv4HeaderChecksum(ip[..20]));
            return 20 + tcpLength;
        }

        private static ushort Ipv4HeaderChecksum(ReadOnlySpan<byte> header)
        {
            uint sum = 0;
            for (int i = 0; i < header.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(header[i..]);
            while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
            return (ushort)~sum;
        }

        private static void WriteTcp(Span<byte> tcp, ushort source, ushort destination, uint seq, uint ack, int flags, int headerLength, ushort window)
        {
            tcp[..headerLength].Clear();
            BinaryPrimitives.WriteUInt16BigEndian(tcp, source);
            BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], destination);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
            tcp[12] = (byte)(headerLength / 4 << 4);
            tcp[13] = (byte)flags;
            BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], window);
        }

        private void Emit(int length)
        {
            SegmentsSent++;
            end.Transmit.OnNext(new ReadOnlyMemory<byte>(_out, 0, length));
        }

        public void OnError(Exception error) { }

        public void OnCompleted() { }
    }
}
