using BenchmarkDotNet.Attributes;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;
using Rx.Netstack.Wire;
using static Rx.Netstack.Benchmarks.TcpIngressBenchmarks;

namespace Rx.Netstack.Benchmarks;

/// <summary>
/// One TCP data segment (1460 bytes, IPv4) out of the engine in steady state: the application side queues 1460 bytes, the
/// peer's ACK of the previous segment comes in, and the pass that processes it emits the new segment to the device.
/// Inline scheduler, clock standing still (see <see cref="TcpIngressBenchmarks"/>).
/// </summary>
[MemoryDiagnoser]
public class TcpEgressBenchmarks : IDisposable
{
    private const int PayloadLength = 1460;
    private readonly InlineScheduler _scheduler = new();
    private readonly BenchDevice _device = new(1500);
    private readonly byte[] _payload = new byte[PayloadLength];
    private byte[] _ackFrame = [];
    private Netstack _stack = null!;
    private TcpControlBlock _tcb = null!;
    private SeqNumber _peerSequence, _acknowledged;

    [GlobalSetup]
    public void Setup()
    {
        (_stack, _tcb, _acknowledged) = Establish(_scheduler, _device);
        _peerSequence = new SeqNumber(1001);
        _ackFrame = Build(new TcpHeader(40000, 80, TcpFlags.Ack) { Sequence = _peerSequence, Acknowledgment = _acknowledged, Window = 65535 }, 0);
    }

    [Benchmark(Description = "TCP data segment out (1460 B, IPv4), clocked by the peer's ACK")]
    public long DataSegmentEgress()
    {
        if (_tcb.Send(_payload) != PayloadLength) throw new InvalidOperationException("the send buffer is full");
        long before = _device.SentFrames;
        Rewrite(_ackFrame, _peerSequence, _acknowledged);
        _device.Inject(_ackFrame);
        if (_device.SentFrames == before) throw new InvalidOperationException("no segment went out");
        if (TcpHeader.TryParse(_device.LastSent[Ipv4Header.HeaderLength..], Server, Client, out TcpHeader sent, out ReadOnlySpan<byte> data) != WireError.None)
            throw new InvalidOperationException("the stack sent a bad segment");
        _acknowledged = sent.Sequence + data.Length;
        return _device.SentFrames;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _stack.Dispose();
        _device.Dispose();
        GC.SuppressFinalize(this);
    }
}
