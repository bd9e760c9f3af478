using System.Reactive.Subjects;
using Rx.Netstack;

namespace Rx.Netstack.Tests.Support;

/// <summary>A device a test drives by hand: <see cref="Inject"/> feeds the stack, <see cref="Sent"/> holds copies of what it sent.</summary>
public sealed class ManualDevice : IPacketDevice, IDisposable
{
    /// <summary>Completes and releases the received-frames subject.</summary>
    public void Dispose() => _received.Dispose();

    private readonly Subject<ReadOnlyMemory<byte>> _received = new();

    public ManualDevice(int mtu = 1500)
    {
        Mtu = mtu;
        Transmit = System.Reactive.Observer.Create<ReadOnlyMemory<byte>>(frame => Sent.Add(frame.ToArray()), _ => { }, () => Completed = true);
    }

    public List<byte[]> Sent { get; } = [];
    public bool Completed { get; private set; }
    public IObservable<ReadOnlyMemory<byte>> Received => _received;
    public IObserver<ReadOnlyMemory<byte>> Transmit { get; }
    public int Mtu { get; }
    public ChecksumOffload ChecksumOffload { get; init; }
    public bool TcpSegmentationOffload { get; init; }
    public LinkMedium Medium { get; init; }

    public void Inject(byte[] frame) => _received.OnNext(frame);
    public void Fail(Exception error) => _received.OnError(error);
    public void Complete() => _received.OnCompleted();
}
