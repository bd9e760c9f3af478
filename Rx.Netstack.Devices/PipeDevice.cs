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
/// <para>In both modes a frame longer than <see cref="Mtu"/> is dropped and counted in <see cref="DroppedOversize"/> — except,
/// with <see cref="TcpSegmentationOffload"/>, a TCP super-segment, which crosses whole (see there).
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

    /// <summary>The longest frame that crosses: the MTU, plus an Ethernet header with a VLAN tag on an Ethernet pipe.</summary>
    private readonly int _longestFrame;

    /// <summary>The Ethernet header with an 802.1Q tag: what a frame may add to the MTU's IP packet.</summary>
    private const int EthernetFrameOverhead = 18;

    private PipeDevice(int mtu, LinkState link, ChecksumOffload checksumOffload, bool tcpSegmentationOffload, LinkMedium medium)
    {
        Mtu = mtu;
        Medium = medium;
        _longestFrame = medium == LinkMedium.Ethernet ? mtu + EthernetFrameOverhead : mtu;
        ChecksumOffload = checksumOffload;
        TcpSegmentationOffload = tcpSegmentationOffload;
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
    /// <param name="tcpSegmentationOffload">True lets TCP super-segments of up to 64 KiB cross the link whole, as Linux's veth
    /// pairs and virtio links pass GSO packets (see <see cref="TcpSegmentationOffload"/>; on Ethernet in untagged frames); needs
    /// <see cref="ChecksumOffload.Both"/>. False by default: every frame is at most <paramref name="mtu"/> bytes.</param>
    /// <param name="medium"><see cref="LinkMedium.Ethernet"/> makes the pipe a crossover cable: both stacks then speak
    /// Ethernet (ARP, neighbour discovery) and the <paramref name="mtu"/> is the largest IP packet, each frame up to 18 bytes
    /// longer. IP by default.</param>
    /// <exception cref="ArgumentException">A scheduler was given without a capacity, or segmentation offload without
    /// checksum offload.</exception>
    public static (PipeDevice A, PipeDevice B) CreatePair(int mtu = 1500, int? capacity = null, IScheduler? scheduler = null,
        ChecksumOffload checksumOffload = ChecksumOffload.None, bool tcpSegmentationOffload = false, LinkMedium medium = LinkMedium.Ip)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 1);
        if (capacity is { } c) ArgumentOutOfRangeException.ThrowIfLessThan(c, 1, nameof(capacity));
        else if (scheduler is not null)
            throw new ArgumentException("A scheduler is only used by a queued pipe: give a capacity too.", nameof(scheduler));
        if (tcpSegmentationOffload && checksumOffload != ChecksumOffload.Both)
            throw new ArgumentException("Segmentation offload needs checksum offload both ways (ChecksumOffload.Both).", nameof(tcpSegmentationOffload));

        var link = new LinkState();
        var a = new PipeDevice(mtu, link, checksumOffload, tcpSegmentationOffload, medium);
        var b = new PipeDevice(mtu, link, checksumOffload, tcpSegmentationOffload, medium);
        a._peer = b;
        b._peer = a;
        if (capacity is { } cap)
        {
            var on = scheduler ?? TaskPoolScheduler.Default;
            int longest = tcpSegmentationOffload ? Math.Max(a._longestFrame, MaxSuperSegment + EthernetFrameOverhead) : a._longestFrame;
            a._toPeer = new FrameQueue(b._received, on, cap, longest);
            b._toPeer = new FrameQueue(a._received, on, cap, longest);
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

    /// <inheritdoc />
    public LinkMedium Medium { get; }

    /// <summary>
    /// True when a TCP packet longer than <see cref="Mtu"/> (a stack's super-segment of whole MSS-sized segments) crosses the
    /// link as it is instead of being dropped: the link stands for one whose far end would cut it and coalesce it again (GSO
    /// and GRO), so the cutting is skipped, as between the two ends of a Linux veth pair. The receiving stack takes it as the
    /// train of segments it stands for (Rx.Netstack does, as it takes GSO packets from a TUN device). Set by
    /// <see cref="CreatePair"/>; both ends alike.
    /// </summary>
    public bool TcpSegmentationOffload { get; }

    /// <summary>The longest super-segment the link carries: an IPv6 header plus the largest payload length.</summary>
    private const int MaxSuperSegment = 40 + 65535;

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
        if (frame.Length > _longestFrame && !(TcpSegmentationOffload && IsTcpSuperSegment(frame.Span)))
        {
            Interlocked.Increment(ref _droppedOversize);
            return;
        }
        if (_toPeer is null) _peer._received.OnNext(frame);
        else if (!_toPeer.TryEnqueue(frame.Span)) Interlocked.Increment(ref _droppedQueueFull);
    }

    /// <summary>True for an IPv4 or IPv6 packet (no extension headers) carrying TCP and no longer than a super-segment may be;
    /// on an Ethernet pipe, in an untagged frame (as TAP devices cut them).</summary>
    private bool IsTcpSuperSegment(ReadOnlySpan<byte> frame)
    {
        const byte tcp = 6;
        if (Medium == LinkMedium.Ethernet)
        {
            const int header = 14;
            if (frame.Length < header || !(frame[12] == 0x08 && frame[13] == 0x00 || frame[12] == 0x86 && frame[13] == 0xDD)) return false;
            frame = frame[header..];
        }
        if (frame.Length > MaxSuperSegment || frame.IsEmpty) return false;
        return (frame[0] >> 4) switch
        {
            4 => frame.Length >= 20 && frame[9] == tcp,
            6 => frame.Length >= 40 && frame[6] == tcp,
            _ => false,
        };
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
