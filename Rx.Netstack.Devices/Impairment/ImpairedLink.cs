using System.Reactive.Concurrency;
using System.Reactive.Subjects;

namespace Rx.Netstack.Devices;

/// <summary>
/// Middleware that makes another device a bad link: loss, delay and jitter, duplication, reordering,
/// corruption and a bandwidth limit, each direction with its own options, all timed on a scheduler and decided
/// by a seeded <see cref="Random"/>, so a run under a <c>TestScheduler</c> is exactly repeatable.
/// </summary>
/// <remarks>
/// Outbound frames (<see cref="Transmit"/>) are impaired before they reach the inner device; inbound frames
/// (the inner <see cref="IPacketDevice.Received"/>) before they reach <see cref="Received"/>. Each direction
/// draws from its own random source, so traffic one way never changes what happens the other way.
/// The inner device is subscribed at construction and is not owned: dispose it yourself.
/// </remarks>
public sealed class ImpairedLink : IPacketDevice, IDisposable
{
    private readonly IPacketDevice _inner;
    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly LinkImpairer _outbound;
    private readonly LinkImpairer _inbound;
    private readonly TransmitObserver _transmit;
    private readonly IDisposable _innerSubscription;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The device whose link is impaired.</param>
    /// <param name="scheduler">The clock and timer of every delay.</param>
    /// <param name="outbound">What happens to transmitted frames; default none.</param>
    /// <param name="inbound">What happens to received frames; default none.</param>
    /// <param name="seed">Seed of the random decisions: the same seed and traffic give the same outcome.</param>
    public ImpairedLink(IPacketDevice inner, IScheduler scheduler, ImpairmentOptions? outbound = null,
        ImpairmentOptions? inbound = null, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(scheduler);
        outbound ??= ImpairmentOptions.None;
        inbound ??= ImpairmentOptions.None;
        outbound.Validate();
        inbound.Validate();
        _inner = inner;
        Outbound = outbound;
        Inbound = inbound;
        _outbound = new LinkImpairer(scheduler, outbound, seed, inner.Transmit);
        _inbound = new LinkImpairer(scheduler, inbound, unchecked(seed ^ (int)0x9E3779B9), _received);
        _transmit = new TransmitObserver(_outbound);
        _innerSubscription = inner.Received.Subscribe(_inbound.Offer, _inbound.Close, () => _inbound.Close(null));
    }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received => _received;

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <inheritdoc />
    public int Mtu => _inner.Mtu;

    /// <summary>
    /// The inner device's checksum offload, less what corruption undoes: a direction that corrupts frames cannot vouch for
    /// them (Receive is dropped when inbound corrupts, Transmit when outbound does). Forwarding it matters for a device whose
    /// frames carry partial checksums, such as a <see cref="TunDevice"/> with offloads: a stack that verified them would drop them all.
    /// </summary>
    public ChecksumOffload ChecksumOffload
    {
        get
        {
            ChecksumOffload offload = _inner.ChecksumOffload;
            if (Inbound.Corruption > 0) offload &= ~ChecksumOffload.Receive;
            if (Outbound.Corruption > 0) offload &= ~ChecksumOffload.Transmit;
            return offload;
        }
    }

    /// <summary>
    /// Always false, whatever the inner device does: loss, delay and corruption are meant per MTU-sized packet, as on a wire,
    /// and a super-segment would take the fate of up to 44 of them at once. The stack sends ordinary segments through it.
    /// </summary>
    public bool TcpSegmentationOffload => false;

    /// <summary>The inner device's medium: frames are delayed, lost or corrupted whatever they carry.</summary>
    public LinkMedium Medium => _inner.Medium;

    /// <summary>The options applied to transmitted frames.</summary>
    public ImpairmentOptions Outbound { get; }

    /// <summary>The options applied to received frames.</summary>
    public ImpairmentOptions Inbound { get; }

    /// <summary>What was done to transmitted frames.</summary>
    public ImpairmentCounters OutboundCounters => _outbound.Counters;

    /// <summary>What was done to received frames.</summary>
    public ImpairmentCounters InboundCounters => _inbound.Counters;

    /// <summary>Detaches from the inner device, discards frames in flight and completes <see cref="Received"/>.</summary>
    public void Dispose()
    {
        _innerSubscription.Dispose();
        _outbound.Discard();
        _inbound.Discard();
        _received.OnCompleted();
    }

    private sealed class TransmitObserver(LinkImpairer outbound) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => outbound.Offer(value);

        public void OnError(Exception error) => outbound.Close(error);

        public void OnCompleted() => outbound.Close(null);
    }
}
