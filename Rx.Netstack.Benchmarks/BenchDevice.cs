using System.Reactive.Subjects;

namespace Rx.Netstack.Benchmarks;

/// <summary>A device the benchmark drives: <see cref="Inject"/> feeds the stack; what the stack sends is counted and the last frame kept.</summary>
public sealed class BenchDevice : IPacketDevice, IObserver<ReadOnlyMemory<byte>>, IDisposable
{
    /// <summary>Releases the received-frames subject.</summary>
    public void Dispose() => _received.Dispose();

    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly byte[] _last = new byte[65536];

    public BenchDevice(int mtu = 1500) => Mtu = mtu;

    public IObservable<ReadOnlyMemory<byte>> Received => _received;
    public IObserver<ReadOnlyMemory<byte>> Transmit => this;
    public int Mtu { get; }

    /// <summary>Frames the stack sent.</summary>
    public long SentFrames { get; private set; }

    /// <summary>The last frame the stack sent.</summary>
    public ReadOnlySpan<byte> LastSent => _last.AsSpan(0, LastSentLength);

    private int LastSentLength { get; set; }

    public void Inject(ReadOnlyMemory<byte> frame) => _received.OnNext(frame);

    void IObserver<ReadOnlyMemory<byte>>.OnNext(ReadOnlyMemory<byte> value)
    {
        SentFrames++;
        value.Span.CopyTo(_last);
        LastSentLength = value.Length;
    }

    void IObserver<ReadOnlyMemory<byte>>.OnError(Exception error) { }
    void IObserver<ReadOnlyMemory<byte>>.OnCompleted() { }
}
