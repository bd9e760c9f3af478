using System.Reactive.Subjects;

namespace Rx.Netstack.Tests.Support;

/// <summary>
/// A device for the allocation tests: keeps the last frame the stack sent in a fixed buffer (no copy allocated), counts the
/// frames, and lets a test inject frames.
/// </summary>
internal sealed class SinkDevice(LinkMedium medium = LinkMedium.Ip) : IPacketDevice, IObserver<ReadOnlyMemory<byte>>, IDisposable
{
    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly byte[] _last = new byte[65536];
    private int _lastLength;

    public IObservable<ReadOnlyMemory<byte>> Received => _received;
    public IObserver<ReadOnlyMemory<byte>> Transmit => this;
    public int Mtu => 1500;
    public LinkMedium Medium => medium;
    public long SentFrames { get; private set; }
    public ReadOnlySpan<byte> LastSent => _last.AsSpan(0, _lastLength);

    public void Inject(byte[] frame) => _received.OnNext(frame);

    public void OnNext(ReadOnlyMemory<byte> value)
    {
        SentFrames++;
        value.Span.CopyTo(_last);
        _lastLength = value.Length;
    }

    public void OnError(Exception error) { }
    public void OnCompleted() { }
    public void Dispose() => _received.Dispose();
}
