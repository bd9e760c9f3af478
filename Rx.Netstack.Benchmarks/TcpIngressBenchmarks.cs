using System.Buffers.Binary;
using System.Collections;
using System.Reflection;
using BenchmarkDotNet.Attributes;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Benchmarks;

/// <summary>
/// One in-order TCP data segment (1460 bytes, IPv4) for an established connection through the engine's ingress: the device
/// hands the frame in, the pass parses IP and TCP, finds the connection, processes the segment (every second one is ACKed,
/// the ACK goes out to the device) — then the application side drains the receive buffer so the window stays open.
/// Everything runs inline on an <see cref="InlineScheduler"/> whose clock stands still: this is the steady state of the
/// data path, with no timer firing. The harness also rewrites the sequence number and checksum of the frame each time.
/// </summary>
[MemoryDiagnoser]
public class TcpIngressBenchmarks : IDisposable
{
    internal static readonly NetAddress Client = NetAddress.Parse("10.0.0.1"), Server = NetAddress.Parse("10.0.0.2");
    private const int PayloadLength = 1460;
    private const int TcpOffset = Ipv4Header.HeaderLength;

    private readonly InlineScheduler _scheduler = new();
    private readonly BenchDevice _device = new(1500);
    private readonly byte[] _frame = new byte[Ipv4Header.HeaderLength + TcpHeader.MinHeaderLength + PayloadLength];
    private readonly byte[] _drain = new byte[64 * 1024];
    private Netstack _stack = null!;
    private TcpControlBlock _tcb = null!;
    private SeqNumber _next, _ack;

    [GlobalSetup]
    public void Setup()
    {
        (_stack, _tcb, _ack) = Establish(_scheduler, _device);


        var data = new TcpHeader(40000, 80, TcpFlags.Ack | TcpFlags.Psh) { Sequence = new SeqNumber(1001), Acknowledgment = _ack, Window = 65535 };
        Build(data, PayloadLength).CopyTo(_frame, 0);
        _next = new SeqNumber(1001);
    }

    /// <summary>
    /// A stack at 10.0.0.2 with 256 KiB TCP buffers on <paramref name="device"/>, and one connection from 10.0.0.1:40000 to
    /// port 80 established by hand (SYN in, SYN-ACK out, ACK in, peer's next sequence 1001). Returns the stack, the
    /// connection's control block and the sequence number the peer acknowledges next (our ISN + 1).
    /// </summary>
    internal static (Netstack Stack, TcpControlBlock Tcb, SeqNumber Acknowledged) Establish(InlineScheduler scheduler, BenchDevice device)
    {
        var stack = new Netstack(new NetstackOptions
        {
            Addresses = [new(Server, 24)],
            Tcp = new TcpSettings { ReceiveBufferSize = 256 * 1024, SendBufferSize = 256 * 1024 },
            RunContinuationsInline = true, // the engine is what is measured: no thread-pool hop in the set-up's awaits
        }, scheduler);
        stack.Attach(device);
        TcpConnectionListener listener = stack.ListenTcpAsync(80).GetAwaiter().GetResult();
        Task<TcpConnection> accept = listener.AcceptAsync();

        var syn = new TcpHeader(40000, 80, TcpFlags.Syn) { Sequence = new SeqNumber(1000), Window = 65535, MaxSegmentSize = 1460 };
        device.Inject(Build(syn, 0));
        if (TcpHeader.TryParse(device.LastSent[Ipv4Header.HeaderLength..], Server, Client, out TcpHeader reply, out _) != WireError.None || !reply.Has(TcpFlags.Syn | TcpFlags.Ack))
            throw new InvalidOperationException("no SYN-ACK from the stack");
        var ack = new TcpHeader(40000, 80, TcpFlags.Ack) { Sequence = new SeqNumber(1001), Acknowledgment = reply.Sequence + 1, Window = 65535 };
        device.Inject(Build(ack, 0));
        if (!accept.IsCompletedSuccessfully) throw new InvalidOperationException("the connection was not accepted");
        // The engine's control block of that connection, to drive its buffers without a command per segment.
        return (stack, OnlyConnection(stack), reply.Sequence + 1);
    }

    internal static byte[] Build(TcpHeader header, int payloadLength)
    {
        int tcpLength = header.Length + payloadLength;
        byte[] frame = new byte[Ipv4Header.HeaderLength + tcpLength];
        new Random(3).NextBytes(frame.AsSpan(Ipv4Header.HeaderLength + header.Length));
        TcpHeader.Emit(frame.AsSpan(Ipv4Header.HeaderLength), header, payloadLength, Client, Server);
        Ipv4Header.Emit(frame, new Ipv4Header(Client, Server, IpProtocol.Tcp), tcpLength);
        return frame;
    }

    [Benchmark(Description = "TCP data segment in (1460 B, IPv4), ACK every second, drain")]
    public int DataSegmentIngress()
    {
        Rewrite(_frame, _next, _ack);
        _device.Inject(_frame);
        int n = _tcb.Receive(_drain);
        if (n != PayloadLength) throw new InvalidOperationException($"segment at {_next.Value} not delivered (got {n} bytes)");
        _next += PayloadLength;
        return n;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _stack.Dispose();
        _device.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The engine's control block of a stack's only connection (reflection, once, in set-up).</summary>
    internal static TcpControlBlock OnlyConnection(Netstack stack)
    {
        return stack.Tcp.Connections.Single().Tcb;
    }

    /// <summary>Rewrites the sequence and acknowledgment numbers of an IPv4 TCP frame and its TCP checksum.</summary>
    internal static void Rewrite(byte[] frame, SeqNumber sequence, SeqNumber acknowledgment)
    {
        Span<byte> tcp = frame.AsSpan(TcpOffset);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence.Value);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], acknowledgment.Value);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], 0);
        ushort checksum = Checksum.Finish(Checksum.Accumulate(tcp, Checksum.PseudoHeader(Client, Server, IpProtocol.Tcp, tcp.Length)));
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], checksum);
    }
}
