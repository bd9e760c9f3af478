using System.Reactive.Concurrency;
using System.Reactive.Subjects;

namespace Rx.Netstack.Devices;

/// <summary>
/// One end of an in-memory point-to-point link: what one end transmits, the other end receives.
/// Made in pairs by <see cref="CreatePair"/>.
/// </summary>
/// <remarks>
/// <para><b>Synchronous mode</b> (no capacity): <c>A.Transmit.OnNext(frame)</c> calls B's <see cref="Received"/>
/// subscribers on the same thread, with the same borrowed frame; nothing is copied or allocated.</para>
/// <para><b>Queued mode</b> (a capacity): each frame is copied into a pooled buffer and queued; the queue is
/// delivered on the scheduler, so a sender never re-enters the receiver. A frame arriving at a full queue is
/// dropped and counted in <see cref="DroppedQueueFull"/>.</para>
/// <para>In both modes a frame longer than <see cref="Mtu"/> is dropped and counted in <see cref="DroppedOversize"/>.
/// Closing either end (<see cref="Dispose"/>, or <c>OnCompleted</c>/<c>OnError</c> on <see cref="Transmit"/>)
/// closes the link: both ends' <see cref="Received"/> complete, and the other end sees the error, if any.</para>
/// </remarks>
public sealed class PipeDevice : IPacketDevice, IDisposable
{
    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly LinkState _link;
    private readonly TransmitObserver _transmit;
    private PipeDevice _peer = null!;
    private FrameQueue? _toPeer;
    private long _droppedOversize;
    private long _droppedQueueFull;

    private PipeDevice(int mtu, LinkState link, ChecksumOffload checksumOffload)
    {
        Mtu = mtu;
        ChecksumOffload = checksumOffload;
        _link = link;
        _transmit = new TransmitObserver(this);
    }

    /// <summary>Creates the two ends of a link.</summary>
    /// <param name="mtu">The largest frame the link carries; longer frames are dropped and counted.</param>
    /// <param name="capacity">Null for synchronous hand-off; otherwise the number of frames each direction queues
    /// before it drops.</param>
    /// <param name="scheduler">Where queued frames are delivered (queued mode only);
    /// default <see cref="TaskPoolScheduler.Default"/>.</param>
    /// <param name="checksumOffload"><see cref="ChecksumOffload.Both"/> lets both stacks skip TCP and UDP checksums, as
    /// Linux's loopback does: a frame on this link cannot be corrupted. Both ends get the same setting; none by default.</param>
    /// <exception cref="ArgumentException">A scheduler was given without a capacity.</exception>
    public static (PipeDevice A, PipeDevice B) CreatePair(int mtu = 1500, int? capacity = null, IScheduler? scheduler = null,
        ChecksumOffload checksumOffload = ChecksumOffload.None)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 1);
        if (capacity is { } c) ArgumentOutOfRangeException.ThrowIfLessThan(c, 1, nameof(capacity));
        else if (scheduler is not null)
            throw new ArgumentException("A scheduler is only used by a queued pipe: give a capacity too.", nameof(scheduler));

        var link = new LinkState();
        var a = new PipeDevice(mtu, link, checksumOffload);
        var b = new PipeDevice(mtu, link, checksumOffload);
        a._peer = b;
        b._peer = a;
        if (capacity is { } cap)
        {
            var on = scheduler ?? TaskPoolScheduler.Default;
            a._toPeer = new FrameQueue(b._received, on, cap, mtu);
            b._toPeer = new FrameQueue(a._received, on, cap, mtu);
        }
        return (a, b);
    }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received => _received;

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <inheritdoc />
    public int Mtu { get; }

    /// <inheritdoc />
    public ChecksumOffload ChecksumOffload { get; }

    /// <summary>True when frames are queued and delivered on a scheduler rather than handed over synchronously.</summary>
    public bool IsQueued => _toPeer is not null;

    /// <summary>Frames this end transmitted that were dropped (too long or queue full).</summary>
    public long Dropped => DroppedOversize + DroppedQueueFull;

    /// <summary>Frames this end transmitted that were longer than <see cref="Mtu"/>.</summary>
    public long DroppedOversize => Interlocked.Read(ref _droppedOversize);

    /// <summary>Frames this end transmitted while the queue towards the other end was full.</summary>
    public long DroppedQueueFull => Interlocked.Read(ref _droppedQueueFull);

    /// <summary>Closes the link at once: frames still queued are discarded; both ends' <see cref="Received"/> complete.</summary>
    public void Dispose() => CloseLink(error: null, discardPending: true);

    private void Send(ReadOnlyMemory<byte> frame)
    {
        if (Volatile.Read(ref _link.Closed) != 0) return;
        if (frame.Length > Mtu)
        {
            Interlocked.Increment(ref _droppedOversize);
            return;
        }
        if (_toPeer is null) _peer._received.OnNext(frame);
        else if (!_toPeer.TryEnqueue(frame.Span)) Interlocked.Increment(ref _droppedQueueFull);
    }

    private void CloseLink(Exception? error, bool discardPending)
    {
        if (Interlocked.Exchange(ref _link.Closed, 1) != 0) return;
        _peer.CompleteReceived(error, discardPending);
        CompleteReceived(null, discardPending);
    }

    private void CompleteReceived(Exception? error, bool discardPending)
    {
        // In queued mode the frames towards this end flow through the peer's queue: completion follows them.
        if (_peer._toPeer is { } incoming)
        {
            incoming.Close(discardPending, error);
        }
        else if (error is not null)
        {
            _received.OnError(error);
        }
        else
        {
            _received.OnCompleted();
        }
    }

    private sealed class LinkState
    {
        public int Closed;
    }

    private sealed class TransmitObserver(PipeDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => owner.Send(value);

        public void OnError(Exception error) => owner.CloseLink(error, discardPending: false);

        public void OnCompleted() => owner.CloseLink(error: null, discardPending: false);
    }
}
