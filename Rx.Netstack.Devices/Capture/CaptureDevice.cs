using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;

namespace Rx.Netstack.Devices;

/// <summary>
/// Middleware that records every frame passing through another device, in both directions, to an optional
/// <see cref="PcapWriter"/> and to the <see cref="Frames"/> stream. Frames themselves pass through unchanged.
/// </summary>
/// <remarks>
/// Capture is opt-in diagnostics, so <see cref="Frames"/> hands out copies (allocated only while someone
/// observes it). The wrapped device and the writer are not owned: dispose them yourself.
/// The inner device's <see cref="IPacketDevice.Received"/> is subscribed once however many subscribe here,
/// so each incoming frame is recorded once.
/// </remarks>
public sealed class CaptureDevice : IPacketDevice, IDisposable
{
    private readonly IPacketDevice _inner;
    private readonly IScheduler _clock;
    private readonly PcapWriter? _writer;
    private readonly Subject<CapturedFrame> _frames = new();
    private readonly Lock _gate = new();
    private readonly TransmitObserver _transmit;
    private bool _disposed;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The device to observe.</param>
    /// <param name="clock">The scheduler whose time stamps captured frames.</param>
    /// <param name="writer">Where to write a pcap file, or null for <see cref="Frames"/> only.</param>
    public CaptureDevice(IPacketDevice inner, IScheduler clock, PcapWriter? writer = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(clock);
        _inner = inner;
        _clock = clock;
        _writer = writer;
        _transmit = new TransmitObserver(this);
        Received = inner.Received
            .Do(frame => Record(CaptureDirection.In, frame.Span))
            .Publish()
            .RefCount();
    }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received { get; }

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <inheritdoc />
    public int Mtu => _inner.Mtu;

    /// <inheritdoc />
    public ChecksumOffload ChecksumOffload => _inner.ChecksumOffload;

    /// <summary>The inner device's: a capture then records TCP super-segments as the stack sent them (as tcpdump shows a
    /// TSO sender's packets before the card cuts them).</summary>
    public bool TcpSegmentationOffload => _inner.TcpSegmentationOffload;

    /// <summary>The inner device's medium (give a <see cref="PcapWriter"/> the same, so tools read the frames right).</summary>
    public LinkMedium Medium => _inner.Medium;

    /// <summary>Every frame passing, as a copy, with its direction and time. Completes on <see cref="Dispose"/>.</summary>
    public IObservable<CapturedFrame> Frames => _frames;

    /// <summary>Stops recording and completes <see cref="Frames"/>; frames still pass through.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _writer?.Flush();
            _frames.OnCompleted();
        }
    }

    private void Record(CaptureDirection direction, ReadOnlySpan<byte> frame)
    {
        lock (_gate)
        {
            if (_disposed) return;
            DateTimeOffset now = _clock.Now;
            _writer?.Write(frame, now);
            if (_frames.HasObservers) _frames.OnNext(new CapturedFrame(direction, now, frame.ToArray()));
        }
    }

    private sealed class TransmitObserver(CaptureDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value)
        {
            owner.Record(CaptureDirection.Out, value.Span);
            owner._inner.Transmit.OnNext(value);
        }

        public void OnError(Exception error) => owner._inner.Transmit.OnError(error);

        public void OnCompleted() => owner._inner.Transmit.OnCompleted();
    }
}
