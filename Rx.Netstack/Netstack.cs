using System.Diagnostics.Metrics;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack;

/// <summary>
/// The engine: one object that owns all protocol state. Applications talk to it only through commands
/// (<see cref="Execute"/> or <see cref="Commands"/>); devices talk to it through frames (<see cref="Attach"/>).
/// All work runs in <em>passes</em> on <see cref="Scheduler"/>; time is <c>Scheduler.Now</c>; one scheduler wake-up is armed
/// for the earliest deadline of all sockets. See docs/architecture.md.
/// </summary>
/// <remarks>
/// Replies are delivered on the engine's scheduler. Keep <c>OnNext</c> handlers short, or move them off with <c>ObserveOn</c>;
/// a handler that throws only hurts itself (the fault is counted as <see cref="NetstackStats.SubscriberFaults"/>).
/// </remarks>
public sealed partial class Netstack : IDisposable, IAsyncDisposable
{
    /// <summary>The last stack id handed out (ids tell one stack's handles from another's in one process).</summary>
    private static int s_nextStackId;

    // ---------------------------------------------------------------- state: the components, built in this order

    /// <summary>The counters every component writes (read by <see cref="GetStats"/> and the meter).</summary>
    private readonly NetstackCounters _counters = new();

    /// <summary>Every socket by handle; shared by the three demultiplexers (one handle space, one <see cref="NetstackOptions.MaxSockets"/>).</summary>
    private readonly SocketRegistry _sockets;

    /// <summary>When work runs: command admission and replies, the inbox, passes, timers, the flush list.</summary>
    private readonly PassScheduler _passes;

    /// <summary>The device, addresses, IP in and out, reassembly, ICMP.</summary>
    private readonly IpLayer _ip;

    /// <summary>Ethernet: frames, ARP, neighbour discovery, routes (idle on an IP device).</summary>
    private readonly Link.EthernetLayer _link;

    /// <summary>UDP sockets by local endpoint.</summary>
    private readonly UdpDemux _udp;

    /// <summary>Raw IP sockets.</summary>
    private readonly RawDemux _raw;

    /// <summary>TCP connections and listeners.</summary>
    private readonly TcpDemux _tcp;

    /// <summary>The last correlation id handed out by <see cref="NextRequestId"/>.</summary>
    private long _nextRequestId;

    /// <summary>This stack's meter (one per stack, all named <see cref="MeterName"/>; disposed with the stack).</summary>
    private readonly Meter _meter;

    /// <summary>The resolver over <see cref="NetstackOptions.DnsServers"/>, made on first use (see <see cref="NameResolver"/>).</summary>
    private INameResolver? _nameResolver;

    /// <summary>Without <see cref="NetstackOptions.DnsServers"/>: the resolver over the DHCP lease's DNS servers (see <see cref="NameResolver"/>).</summary>
    private LeaseResolver? _leaseResolver;

    /// <summary>With <see cref="NetstackOptions.Engines"/> &gt; 1, the other engines and the routing over them (this stack is
    /// engine 0); null with one engine. See docs/sharding.md.</summary>
    private readonly ShardSet? _shards;

    /// <summary>Creates a stack.</summary>
    /// <param name="options">Settings (defaults: <see cref="NetstackOptions"/>).</param>
    /// <param name="scheduler">Where all engine work runs and where time comes from. Default: an <see cref="EventLoopScheduler"/>
    /// that the stack owns and disposes. Pass a <c>TestScheduler</c> to drive time in tests.</param>
    public Netstack(NetstackOptions? options = null, IScheduler? scheduler = null)
    {
        Options = options ?? new NetstackOptions();
        Options.Validate();
        Id = Interlocked.Increment(ref s_nextStackId);
        // Bottom up: each component gets those below it; the few calls up (a frame's transport packet, a command) come to
        // this class, which routes them (see docs/architecture.md, "Components").
        _sockets = new SocketRegistry(Id, Options.MaxSockets);
        _passes = new PassScheduler(this, Options, _counters, _sockets, scheduler);
        _ip = new IpLayer(this, _passes, Options, _counters);
        // Ephemeral ports and ping identifiers differ per stack in one process, or repeat run after run with a RandomSeed.
        int seed = Options.RandomSeed ?? Id;
        _link = new Link.EthernetLayer(_ip, _passes, Options, _counters, seed);
        _ip.Link = _link;
        _ip.Multicast = new Link.MulticastMembership(_ip, _link, _passes, _counters, seed);
        _udp = new UdpDemux(_ip, _passes, _sockets, Options, _counters, seed);
        _raw = new RawDemux(_ip, _passes, _sockets, Options, _counters);
        _tcp = new TcpDemux(_ip, _passes, _sockets, Options, _counters, seed);
        _meter = CreateMeter();
        Commands = System.Reactive.Observer.Create<CommandRequest>(r => Route(new PendingRequest(r.Id, r.Command, r.ReplyTo)));
        if (Options.Engines > 1) _shards = new ShardSet(this, Options, scheduler);
    }

    /// <summary>The settings the stack was built with.</summary>
    public NetstackOptions Options { get; }

    /// <summary>A number that tells this stack's handles from another's.</summary>
    public int Id { get; }

    /// <summary>The scheduler the engine runs on; its clock is the stack's clock.</summary>
    public IScheduler Scheduler => _passes.Scheduler;

    /// <summary>The stack's interface addresses now.</summary>
    public IReadOnlyList<InterfaceAddress> Addresses => _ip.Addresses;

    /// <summary>The MTU in force: the attached device's, or <see cref="NetstackOptions.Mtu"/>.</summary>
    public int Mtu => _ip.Mtu;

    /// <summary>
    /// Attaches a device: its received frames feed the stack and the stack sends through it; its MTU becomes the stack's.
    /// One device at a time: attaching another replaces the first. Dispose the result to detach.
    /// </summary>
    public IDisposable Attach(IPacketDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(_passes.IsDisposed, this);
        if (device.Mtu < 576 && device.Mtu != 0)
            throw new ArgumentException($"Device MTU {device.Mtu} is below the IPv4 minimum of 576.", nameof(device));
        if (_shards is not null)
            throw new ArgumentException($"The stack has {Options.Engines} engines: attach a device with a queue for each (AttachQueues).", nameof(device));
        IDisposable attachment = _ip.Attach(device);
        if (device.Medium == LinkMedium.Ethernet) _passes.SchedulePass(); // DAD, announcements, router solicitation
        return attachment;
    }

    /// <summary>
    /// The command channel: each <see cref="CommandRequest"/> is answered on its own <see cref="CommandRequest.ReplyTo"/>
    /// with one reply followed by <c>OnCompleted</c>. Use <see cref="NextRequestId"/> for correlation ids.
    /// </summary>
    public IObserver<CommandRequest> Commands { get; }

    /// <summary>
    /// Every request as the engine takes it and every reply as it is sent — for logs and dashboards. Events are raised on the
    /// engine's scheduler and cost nothing while nobody subscribes.
    /// </summary>
    public IObservable<CommandEvent> Tap => _passes.Tap.IsolateSubscribers(this);

    /// <summary>Counts a subscriber whose handler threw (it is cut off; the engine and other subscribers go on).</summary>
    internal void CountSubscriberFault() => Interlocked.Increment(ref _counters.SubscriberFaults);

    /// <summary>A fresh correlation id.</summary>
    public long NextRequestId() => Interlocked.Increment(ref _nextRequestId);

    /// <summary>
    /// A cold observable of the reply to <paramref name="command"/>: subscribing submits it, the reply arrives as one
    /// <c>OnNext</c> then <c>OnCompleted</c> (a failure is a <see cref="Reply.Error"/> value, not <c>OnError</c>), and
    /// disposing the subscription before the reply cancels the request and removes it from whatever it waits on.
    /// </summary>
    public IObservable<Reply> Execute(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return Observable.Create<Reply>(observer =>
        {
            var request = new PendingRequest(NextRequestId(), command, observer);
            Route(request);
            return Disposable.Create((_passes, request), static state => state._passes.Cancel(state.request));
        });
    }

    /// <summary>A snapshot of the counters (of a stack with several engines, every engine's summed; docs/sharding.md).</summary>
    public NetstackStats GetStats() => _shards?.GetStats() ?? SnapshotStats();

    /// <summary>Snapshots of the counters every <paramref name="period"/>, on the engine's scheduler.</summary>
    public IObservable<NetstackStats> Stats(TimeSpan period) =>
        Observable.Interval(period, Scheduler).Select(_ => GetStats()).StartWith(Scheduler, GetStats());

    /// <summary>
    /// Completes every pending request with <see cref="NetstackErrorKind.StackDisposed"/>, resets connections, detaches the
    /// device, returns pooled buffers and stops the engine's own scheduler (if it made one). Called inside a pass (a reply
    /// handler), the teardown runs when that pass ends; <see cref="DisposeAsync"/> waits for it.
    /// </summary>
    public void Dispose()
    {
        if (_passes.IsDisposed) return;
        _meter.Dispose(); // its instruments disappear from listeners with the stack
        _shards?.DisposeOthers();
        _passes.Dispose();
    }

    /// <summary>
    /// Disposes the stack (<see cref="Dispose"/>) and completes once the teardown pass ran — every pending request answered
    /// with <see cref="NetstackErrorKind.StackDisposed"/>, connections reset, buffers returned — and the engine
    /// thread of the event loop the stack owns has ended. Called from inside a pass, it completes after that pass. With a
    /// scheduler you supplied, the teardown runs when that scheduler runs the pass in progress, if one is.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        if (_shards is { } shards) await shards.DisposeOthersAsync().ConfigureAwait(false);
        await _passes.TornDown.ConfigureAwait(false);
        if (_passes.EngineThread is { } thread && thread != Thread.CurrentThread)
        {
            // The loop ends once its current item returns; join it on a pool thread so no caller blocks.
            await Task.Run(thread.Join).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// True on a thread where blocking for the engine can never end: inside a pass (of any stack), inside a device's receive
    /// burst (<see cref="ReceiveBurst"/>) or on the event-loop thread this stack owns. Blocking calls of the library (the <c>Stream</c>'s synchronous <c>Read</c>/<c>Write</c>)
    /// check it and throw instead of deadlocking.
    /// </summary>
    internal bool IsOnEngineThread => _passes.IsOnEngineThread || (_shards?.IsOnEngineThread ?? false);

    /// <summary>Throws <see cref="InvalidOperationException"/> when <see cref="IsOnEngineThread"/>: <paramref name="operation"/>
    /// would wait for the engine that waits for it.</summary>
    internal void ThrowIfOnEngineThread(string operation)
    {
        if (IsOnEngineThread)
            throw new InvalidOperationException(
                $"{operation} blocks until the stack answers, but it was called on the stack's engine thread (in a reply handler, an " +
                "observable delivered on the engine, a continuation under NetstackOptions.RunContinuationsInline, or a device's " +
                "receive burst), which the " +
                "answer needs: it would never return. Use the async method, or move the work off the engine (ObserveOn, Task.Run).");
    }

    // ---------------------------------------------------------------- calls from the components, in a pass

    /// <summary>Routes a command to its family. Runs on the engine; never throws out (a fault is answered as an error).</summary>
    internal void Dispatch(PendingRequest request, Instant now)
    {
        try
        {
            switch (request.Command)
            {
                case Command.Stack.SetAddresses set:
                    if (set.Addresses is null || set.Addresses.Any(a => a.PrefixLength < 0 || a.PrefixLength > (a.Address.IsV6 ? 128 : 32) || a.Address.IsUnspecified || a.Address.IsMulticast))
                    {
                        _passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, "Every address must be unicast with a prefix length in range."));
                        break;
                    }
                    _ip.SetAddresses(set.Addresses);
                    _passes.Complete(request, Reply.Ok.Instance);
                    break;
                case Command.Udp udp: _udp.Execute(request, udp); break;
                case Command.Raw raw: _raw.Execute(request, raw); break;
                case Command.Icmp.Ping ping: _ip.ExecutePing(request, ping, now); break;
                case Command.TcpListen listen: _tcp.Execute(request, listen); break;
                case Command.TcpStream stream: _tcp.Execute(request, stream, now); break;
                case Command.Intercept intercept: DispatchIntercept(request, intercept, now); break;
                default:
                    _passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, $"Unknown command {request.Command.GetType().Name}."));
                    break;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A bug must not take the engine down: answer the request and count it.
            _counters.EngineFaults++;
            _passes.Fail(request, NetstackError.Of(NetstackErrorKind.EngineFault, $"The engine failed on {request.Command.GetType().Name}: {ex.GetType().Name}: {ex.Message}"));
        }
    }

    /// <summary>An interception command goes to the demultiplexer of its protocol (by the handle's kind where it names one).</summary>
    private void DispatchIntercept(PendingRequest request, Command.Intercept command, Instant now)
    {
        bool udp = command switch
        {
            Command.Intercept.StartUdp or Command.Intercept.RefuseFlow => true,
            Command.Intercept.Next next => next.Interceptor.Kind == SocketKind.UdpInterceptor,
            Command.Intercept.Close close => close.Interceptor.Kind == SocketKind.UdpInterceptor,
            _ => false,
        };
        if (udp) _udp.Execute(request, command, now);
        else _tcp.Execute(request, command, now);
    }

    /// <summary>True when an interceptor answers for <paramref name="destination"/> (the IP layer's check for an address not its own).</summary>
    internal bool Intercepts(NetAddress destination) => _tcp.Intercepts(destination) || _udp.Intercepts(destination);

    /// <summary>One frame of the inbox, in a pass: down to the IP layer.</summary>
    internal void Receive(in InboxFrame frame, Instant now)
    {
        if (!frame.FromLoopback && _link.IsActive) _link.Receive(frame.Bytes, frame.ChecksumTrusted, frame.Owner, now);
        else _ip.Receive(frame.Bytes, frame.ChecksumTrusted, frame.Owner, now, frame.Coalesced);
    }

    /// <summary>True when <paramref name="frame"/> is an IP packet (not a link-layer frame): the round may coalesce it.</summary>
    internal bool TakesIpPacket(in InboxFrame frame) => frame.FromLoopback || !_link.IsActive;

    /// <summary>The IP layer's raw delivery: a copy of the packet to every raw socket that wants it; true if any took it.</summary>
    internal bool DeliverRaw(in IpInfo ip, ReadOnlySpan<byte> packet) => _raw.Deliver(ip, packet);

    /// <summary>The IP layer's UDP delivery.</summary>
    internal void DeliverUdp(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> datagram, Instant now) => _udp.Receive(ip, packet, datagram, now);

    /// <summary>The IP layer's TCP delivery.</summary>
    internal void DeliverTcp(in IpInfo ip, ReadOnlySpan<byte> segment, Instant now) => _tcp.Receive(ip, segment, now);

    /// <summary>An ICMP error quoting a TCP segment we sent (<paramref name="segment"/>: the quoted TCP header, 8 bytes or more).</summary>
    internal void DeliverTcpIcmpError(in IcmpError error, ReadOnlySpan<byte> segment, Instant now) => _tcp.ReceiveIcmpError(error, segment, now);

    /// <summary>An ICMP error quoting a UDP datagram we sent.</summary>
    internal void DeliverUdpIcmpError(in IcmpError error, Instant now) => _udp.ReceiveIcmpError(error, now);

    /// <summary>The device's TCP segmentation offload changed: connections may send super-segments up to <paramref name="mtu"/> (0: none).</summary>
    internal void OnSegmentationOffloadChanged(int mtu) => _tcp.SetSegmentationOffload(mtu);

    /// <summary>
    /// A device's stream ended (noted by the IP layer, told by the next pass): if it is still the attached one, it is detached
    /// and the connections end; a device replaced in the meantime changes nothing.
    /// </summary>
    internal void OnDeviceLost(IPacketDevice device)
    {
        if (_ip.DetachIfAttached(device)) _tcp.OnDeviceLost();
    }

    /// <summary>The stack's part of the teardown (in the last pass): sockets, pings in flight, the device.</summary>
    internal void TearDownLayers(NetstackError error)
    {
        foreach (SocketState socket in _sockets.All().ToList())
        {
            socket.FailAll(error);
            // FailAll keeps a ring that still holds data; a disposed stack gives every pooled array back and empties its table.
            if (socket is TcpStreamSocketState connection) connection.Tcb.Fail(TcpError.Aborted);
            _sockets.Remove(socket);
        }
        _link.ReleaseLease(); // while the device is still attached
        _ip.TearDown(error);
        _link.Dispose();
    }
}
