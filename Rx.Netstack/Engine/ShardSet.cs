using System.Collections.Concurrent;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Security.Cryptography;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Engine;

/// <summary>
/// The engines of a sharded <see cref="Netstack"/> (<see cref="NetstackOptions.Engines"/> &gt; 1) and the facade's routing
/// over them (docs/sharding.md). Engine 0 is the public <see cref="Netstack"/> itself (the <em>home</em> engine: UDP, raw,
/// ping, fragments); the others are whole engines of their own, each with its own pass scheduler, thread, socket table and
/// device queue. Nothing mutable is shared between engines: a command goes to the engine of its socket (by the handle's stack
/// id), a connect to the engine its flow will hash to, a listen to every engine (<see cref="ShardedListener"/>); stats and
/// the socket table are merged when read.
/// </summary>
internal sealed class ShardSet
{
    // ---------------------------------------------------------------- state

    /// <summary>The engines; [0] is the facade (home engine).</summary>
    private readonly Netstack[] _engines;

    /// <summary>The flow hash every engine shares (with its own index).</summary>
    private readonly FlowSharding _sharding;

    /// <summary>Listeners on every engine, by the handle the application holds (engine 0's).</summary>
    private readonly ConcurrentDictionary<SocketHandle, ShardedListener> _listeners = new();

    /// <summary>TCP interceptors on every engine, by the handle the application holds (engine 0's).</summary>
    private readonly ConcurrentDictionary<SocketHandle, ShardedInterceptor> _interceptors = new();

    /// <summary>The engine the last connect without a local port went to (round robin).</summary>
    private int _lastConnectEngine = -1;

    /// <summary>Frames moved between engines by the attached link's steering, per queue (null: no multi-queue link attached).</summary>
    private ShardPort.Steering[]? _steering;

    /// <summary>TCP packets the home engine moved to their flow's engine after reassembly or an IPv6 extension header walk.</summary>
    private long _movedAfterReassembly;

    /// <summary>Makes engines 1..N-1 beside <paramref name="home"/> (same options, one engine each, same scheduler if given).</summary>
    public ShardSet(Netstack home, NetstackOptions options, System.Reactive.Concurrency.IScheduler? scheduler)
    {
        int count = options.Engines;
        ulong key = options.RandomSeed is { } seed ? (ulong)new Random(seed).NextInt64() : BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        _sharding = new FlowSharding(count, 0, key);
        _engines = new Netstack[count];
        _engines[0] = home;
        NetstackOptions single = options with { Engines = 1 };
        for (int i = 1; i < count; i++)
        {
            _engines[i] = new Netstack(single, scheduler);
            _engines[i].SharePathMtuOf(home); // a path MTU is per destination, whichever engine learned it
        }
        for (int i = 0; i < count; i++) _engines[i].Tcp.Sharding = new FlowSharding(count, i, key);
        // Reassembled TCP (and TCP behind IPv6 extension headers) is steered home by rule; the home engine moves it on.
        _engines[0].JoinShards((engine, packet, checksumTrusted) =>
        {
            Interlocked.Increment(ref _movedAfterReassembly);
            _engines[engine].Passes.EnqueueFrame(packet, fromLoopback: false, checksumTrusted);
        });
    }

    /// <summary>The engines, home first.</summary>
    public IReadOnlyList<Netstack> Engines => _engines;

    /// <summary>The flow hash (engine 0's view).</summary>
    public FlowSharding Sharding => _sharding;

    /// <summary>Frames the link handed to one engine's queue that belonged to another (moved by <see cref="ShardPort"/>).</summary>
    public long FramesMoved => _steering?.Sum(s => Interlocked.Read(ref s.Moved)) ?? 0;

    /// <summary>TCP packets the home engine moved on to their flow's engine (after reassembly or an IPv6 extension header walk).</summary>
    public long PacketsMovedOn => Interlocked.Read(ref _movedAfterReassembly);

    /// <summary>True on any engine's thread or inside any engine's pass.</summary>
    public bool IsOnEngineThread => _engines.Any(e => e.Passes.IsOnEngineThread);

    // ---------------------------------------------------------------- devices

    /// <summary>Gives engine k queue k of <paramref name="device"/>, and steers each queue's frames to their engines.</summary>
    public IDisposable Attach(IMultiQueuePacketDevice device)
    {
        IReadOnlyList<IPacketDevice> queues = device.Queues;
        if (queues.Count != _engines.Length)
            throw new ArgumentException($"The stack has {_engines.Length} engines but the device has {queues.Count} queues: give each engine one.", nameof(device));
        var ports = queues.Select(q => new ShardPort(q)).ToArray();
        var attached = new CompositeDisposable();
        // Every engine takes its port before any queue is read, so no early frame finds its engine missing.
        for (int i = 0; i < ports.Length; i++) attached.Add(_engines[i].AttachEngine(ports[i]));
        var steering = new ShardPort.Steering[ports.Length];
        for (int i = 0; i < ports.Length; i++)
        {
            steering[i] = new ShardPort.Steering(ports, i, _sharding);
            attached.Add(queues[i].Received.Subscribe(steering[i]));
        }
        _steering = steering;
        // Detaching stops the reading first, then the engines let go of their ports.
        return Disposable.Create(attached, static a =>
        {
            foreach (IDisposable d in a.Reverse()) d.Dispose();
        });
    }

    // ---------------------------------------------------------------- commands

    /// <summary>Routes an application's request to its engine (any thread).</summary>
    public void Submit(PendingRequest request)
    {
        switch (request.Command)
        {
            case Command.Stack.SetAddresses:
                Broadcast(request);
                break;
            case Command.TcpListen.Listen listen:
                Listen(request, listen, 0, listen.Local, new SocketHandle[_engines.Length]);
                break;
            case Command.TcpListen.Accept accept when _listeners.TryGetValue(accept.Listener, out ShardedListener? listener):
                listener.Accept(request);
                break;
            case Command.TcpListen.Close close when _listeners.TryRemove(close.Listener, out ShardedListener? listener):
                listener.Close(request);
                break;
            case Command.Intercept.StartTcp start:
                StartIntercepting(request, start);
                break;
            case Command.Intercept.Next next when _interceptors.TryGetValue(next.Interceptor, out ShardedInterceptor? interceptor):
                interceptor.Next(request);
                break;
            case Command.Intercept.Accept accept when _interceptors.TryGetValue(accept.Interceptor, out ShardedInterceptor? interceptor):
                interceptor.Decide(request, accept.Offer);
                break;
            case Command.Intercept.Refuse refuse when _interceptors.TryGetValue(refuse.Interceptor, out ShardedInterceptor? interceptor):
                interceptor.Decide(request, refuse.Offer);
                break;
            case Command.Intercept.Close close when _interceptors.TryRemove(close.Interceptor, out ShardedInterceptor? interceptor):
                interceptor.Close(request);
                break;
            case Command.TcpStream.Connect connect:
                // An explicit local port fixes the flow and with it the engine; otherwise round robin, and that engine picks a
                // port that hashes to it (TcpDemux.Sharding).
                int engine = connect.Local is { Port: > 0 } local
                    ? _sharding.ShardOf(connect.Remote, local.Port)
                    : (int)((uint)Interlocked.Increment(ref _lastConnectEngine) % (uint)_engines.Length);
                _engines[engine].Passes.Submit(request);
                break;
            default:
                // A socket's command goes to the engine that issued its handle; UDP (intercepted flows too), raw and ping live on
                // the home engine.
                EngineOf(HandleOf(request.Command)).Passes.Submit(request);
                break;
        }
    }

    /// <summary>The engine that issued <paramref name="handle"/> (the home engine for none or a foreign one, which refuses it).</summary>
    public Netstack EngineOf(SocketHandle handle)
    {
        foreach (Netstack engine in _engines)
            if (engine.Id == handle.StackId) return engine;
        return _engines[0];
    }

    private static SocketHandle HandleOf(Command command) => command switch
    {
        Command.TcpStream.Send c => c.Socket,
        Command.TcpStream.Receive c => c.Socket,
        Command.TcpStream.ReceiveInto c => c.Socket,
        Command.TcpStream.ShutdownWrite c => c.Socket,
        Command.TcpStream.Close c => c.Socket,
        Command.TcpStream.Abort c => c.Socket,
        Command.TcpStream.GetInfo c => c.Socket,
        Command.TcpListen.Accept c => c.Listener,
        Command.TcpListen.Close c => c.Listener,
        Command.Udp.Send c => c.Socket,
        Command.Udp.Receive c => c.Socket,
        Command.Udp.ReceiveBatch c => c.Socket,
        Command.Udp.Close c => c.Socket,
        Command.Udp.JoinGroup c => c.Socket,
        Command.Udp.LeaveGroup c => c.Socket,
        Command.Udp.SetMulticastHopLimit c => c.Socket,
        Command.Raw.Send c => c.Socket,
        Command.Raw.Receive c => c.Socket,
        Command.Raw.Close c => c.Socket,
        Command.Intercept.Next c => c.Interceptor,
        Command.Intercept.Close c => c.Interceptor,
        Command.Intercept.RefuseFlow c => c.Flow,
        _ => default,
    };

    /// <summary>Submits a command of the facade's own to engine <paramref name="engine"/>; <paramref name="onReply"/> runs on that engine.</summary>
    public void SubmitInternal(int engine, Command command, Action<Reply> onReply, IAcceptSink? acceptSink = null)
    {
        PendingRequest request = InternalRequest(command, onReply);
        request.AcceptSink = acceptSink;
        _engines[engine].Passes.Submit(request);
    }

    /// <summary>A request of the facade's own, not yet submitted (for one the facade may cancel: submit it to its engine's
    /// <see cref="PassScheduler"/>, cancel it there); <paramref name="onReply"/> runs on the engine that answers it.</summary>
    public PendingRequest InternalRequest(Command command, Action<Reply> onReply) =>
        new(_engines[0].NextRequestId(), command, new ReplyObserver(onReply));

    /// <summary>Answers an application's request the facade handled itself; false when it was cancelled or answered already.</summary>
    public bool Answer(PendingRequest request, Reply reply)
    {
        if (!request.TryClaim()) return false;
        Deliver(request, reply);
        return true;
    }

    /// <summary>Asks <paramref name="pump"/> to pump <paramref name="engine"/> again after
    /// <see cref="NetstackRequests.TransientRetryDelay"/>: the engine refused its request with a full command queue.</summary>
    public void RetryPumpLater(IShardPump pump, int engine) =>
        Engines[engine].Scheduler.Schedule((pump, engine), NetstackRequests.TransientRetryDelay, static (_, state) =>
        {
            state.pump.Pump(state.engine);
            return Disposable.Empty;
        });

    /// <summary>Sends the reply of a request the facade claimed already.</summary>
    public void Deliver(PendingRequest request, Reply reply)
    {
        try
        {
            request.ReplyTo.OnNext(reply);
            request.ReplyTo.OnCompleted();
        }
        catch (Exception)
        {
            _engines[0].CountSubscriberFault(); // a subscriber that throws hurts only itself
        }
    }

    /// <summary>The same command on every engine; one answer: the first error, else the last reply.</summary>
    private void Broadcast(PendingRequest request)
    {
        int left = _engines.Length;
        Reply? error = null;
        for (int i = 0; i < _engines.Length; i++)
        {
            SubmitInternal(i, request.Command, reply =>
            {
                if (reply is Reply.Error) Interlocked.CompareExchange(ref error, reply, null);
                if (Interlocked.Decrement(ref left) == 0) Answer(request, Volatile.Read(ref error) ?? reply);
            });
        }
    }

    /// <summary>
    /// Listens on engine <paramref name="engine"/> and then the next, in order, each on the port the first one got (an
    /// ephemeral port is chosen once); a failure closes what was opened and is the answer.
    /// </summary>
    private void Listen(PendingRequest request, Command.TcpListen.Listen listen, int engine, NetEndpoint local, SocketHandle[] handles)
    {
        SubmitInternal(engine, listen with { Local = local }, reply =>
        {
            if (reply is not Reply.Listening listening)
            {
                for (int i = 0; i < engine; i++) SubmitInternal(i, new Command.TcpListen.Close(handles[i]), static _ => { });
                Answer(request, reply);
                return;
            }
            handles[engine] = listening.Listener;
            if (engine + 1 < _engines.Length)
            {
                Listen(request, listen, engine + 1, listening.Local, handles);
                return;
            }
            var listener = new ShardedListener(this, handles, listen.Backlog);
            _listeners[handles[0]] = listener;
            if (!Answer(request, new Reply.Listening(handles[0], listening.Local)))
            {
                // Cancelled meanwhile: nobody holds the handle, so nobody else can close it.
                if (_listeners.TryRemove(handles[0], out _)) listener.Close(null);
                return;
            }
            listener.Start();
        });
    }

    /// <summary>
    /// Starts a TCP interceptor on every engine, each with its share of the backlog (<see cref="ShardedInterceptor.BacklogShare"/>);
    /// the application holds engine 0's handle. A failure closes what was opened and is the answer.
    /// </summary>
    private void StartIntercepting(PendingRequest request, Command.Intercept.StartTcp start)
    {
        var handles = new SocketHandle[_engines.Length];
        var replies = new Reply[_engines.Length];
        int left = _engines.Length;
        for (int i = 0; i < _engines.Length; i++)
        {
            int engine = i;
            SubmitInternal(engine, start with { Backlog = ShardedInterceptor.BacklogShare(start.Backlog, engine, _engines.Length) }, reply =>
            {
                replies[engine] = reply;
                if (Interlocked.Decrement(ref left) != 0) return;
                // The last engine answered (on its thread); the others' replies are visible after the interlocked decrement.
                if (replies.FirstOrDefault(r => r is not Reply.Intercepting) is { } failure)
                {
                    for (int k = 0; k < replies.Length; k++)
                        if (replies[k] is Reply.Intercepting opened) SubmitInternal(k, new Command.Intercept.Close(opened.Interceptor), static _ => { });
                    Answer(request, failure);
                    return;
                }
                for (int k = 0; k < replies.Length; k++) handles[k] = ((Reply.Intercepting)replies[k]).Interceptor;
                var interceptor = new ShardedInterceptor(this, handles);
                _interceptors[handles[0]] = interceptor;
                if (!Answer(request, new Reply.Intercepting(handles[0])) && _interceptors.TryRemove(handles[0], out _))
                    interceptor.Close(null); // cancelled meanwhile: nobody holds the handle, so nobody else can close it
            });
        }
    }

    // ---------------------------------------------------------------- diagnostics

    /// <summary>Every engine's counters, summed (the timestamp is the home engine's).</summary>
    public NetstackStats GetStats()
    {
        NetstackStats total = _engines[0].EngineStats();
        for (int i = 1; i < _engines.Length; i++) total = Add(total, _engines[i].EngineStats());
        return total;
    }

    private static NetstackStats Add(NetstackStats a, NetstackStats b) => a with
    {
        FramesIn = a.FramesIn + b.FramesIn,
        BytesIn = a.BytesIn + b.BytesIn,
        FramesOut = a.FramesOut + b.FramesOut,
        BytesOut = a.BytesOut + b.BytesOut,
        Ipv4In = a.Ipv4In + b.Ipv4In,
        Ipv6In = a.Ipv6In + b.Ipv6In,
        UdpIn = a.UdpIn + b.UdpIn,
        UdpOut = a.UdpOut + b.UdpOut,
        TcpIn = a.TcpIn + b.TcpIn,
        TcpOut = a.TcpOut + b.TcpOut,
        IcmpIn = a.IcmpIn + b.IcmpIn,
        IcmpOut = a.IcmpOut + b.IcmpOut,
        FragmentsIn = a.FragmentsIn + b.FragmentsIn,
        DatagramsReassembled = a.DatagramsReassembled + b.DatagramsReassembled,
        FragmentsOut = a.FragmentsOut + b.FragmentsOut,
        TcpBytesIn = a.TcpBytesIn + b.TcpBytesIn,
        TcpBytesOut = a.TcpBytesOut + b.TcpBytesOut,
        UdpBytesIn = a.UdpBytesIn + b.UdpBytesIn,
        UdpBytesOut = a.UdpBytesOut + b.UdpBytesOut,
        IcmpBytesIn = a.IcmpBytesIn + b.IcmpBytesIn,
        IcmpBytesOut = a.IcmpBytesOut + b.IcmpBytesOut,
        RawIn = a.RawIn + b.RawIn,
        RawOut = a.RawOut + b.RawOut,
        TcpRetransmissions = a.TcpRetransmissions + b.TcpRetransmissions,
        SocketsByKind = Sum(a.SocketsByKind, b.SocketsByKind),
        ConnectionsByState = Sum(a.ConnectionsByState, b.ConnectionsByState),
        Drops = Sum(a.Drops, b.Drops),
        CommandsProcessed = a.CommandsProcessed + b.CommandsProcessed,
        Passes = a.Passes + b.Passes,
        PassesOnCaller = a.PassesOnCaller + b.PassesOnCaller,
        SegmentsCoalesced = a.SegmentsCoalesced + b.SegmentsCoalesced,
        WakeupsArmed = a.WakeupsArmed + b.WakeupsArmed,
        SubscriberFaults = a.SubscriberFaults + b.SubscriberFaults,
        SynCookiesSent = a.SynCookiesSent + b.SynCookiesSent,
        SynCookiesAccepted = a.SynCookiesAccepted + b.SynCookiesAccepted,
        CommandsWaited = a.CommandsWaited + b.CommandsWaited,
        CommandsRefused = a.CommandsRefused + b.CommandsRefused,
        EngineFaults = a.EngineFaults + b.EngineFaults,
        CommandQueueDepth = a.CommandQueueDepth + b.CommandQueueDepth,
        MembershipIn = a.MembershipIn + b.MembershipIn,
        MembershipOut = a.MembershipOut + b.MembershipOut,
        TcpFastRetransmits = a.TcpFastRetransmits + b.TcpFastRetransmits,
        TcpRecoveryEpisodes = a.TcpRecoveryEpisodes + b.TcpRecoveryEpisodes,
        TcpTimeouts = a.TcpTimeouts + b.TcpTimeouts,
        TcpTailLossProbes = a.TcpTailLossProbes + b.TcpTailLossProbes,
        TcpReorderTimeouts = a.TcpReorderTimeouts + b.TcpReorderTimeouts,
        TcpOutOfOrderDropped = a.TcpOutOfOrderDropped + b.TcpOutOfOrderDropped,
        TcpPawsDrops = a.TcpPawsDrops + b.TcpPawsDrops,
        TcpDuplicateSacksReceived = a.TcpDuplicateSacksReceived + b.TcpDuplicateSacksReceived,
        TcpDuplicateSacksSent = a.TcpDuplicateSacksSent + b.TcpDuplicateSacksSent,
        TcpSpuriousRetransmissionsUndone = a.TcpSpuriousRetransmissionsUndone + b.TcpSpuriousRetransmissionsUndone,
        TcpCongestionMarksReceived = a.TcpCongestionMarksReceived + b.TcpCongestionMarksReceived,
        TcpCongestionEchoResponses = a.TcpCongestionEchoResponses + b.TcpCongestionEchoResponses,
        TcpIcmpErrorsAccepted = a.TcpIcmpErrorsAccepted + b.TcpIcmpErrorsAccepted,
        TcpPathMtuReductions = a.TcpPathMtuReductions + b.TcpPathMtuReductions,
        TcpPathMtuBlackHoles = a.TcpPathMtuBlackHoles + b.TcpPathMtuBlackHoles,
        TcpPathMtuRaises = a.TcpPathMtuRaises + b.TcpPathMtuRaises,
        InterceptedSyns = a.InterceptedSyns + b.InterceptedSyns,
        InterceptedSynRetransmits = a.InterceptedSynRetransmits + b.InterceptedSynRetransmits,
        InterceptionsAccepted = a.InterceptionsAccepted + b.InterceptionsAccepted,
        InterceptionsRefused = a.InterceptionsRefused + b.InterceptionsRefused,
        InterceptionsWithdrawn = a.InterceptionsWithdrawn + b.InterceptionsWithdrawn,
        InterceptionsExpired = a.InterceptionsExpired + b.InterceptionsExpired,
        UdpFlowsOpened = a.UdpFlowsOpened + b.UdpFlowsOpened,
        UdpFlowsExpired = a.UdpFlowsExpired + b.UdpFlowsExpired,
    };

    private static Dictionary<TKey, TValue> Sum<TKey, TValue>(IReadOnlyDictionary<TKey, TValue> a, IReadOnlyDictionary<TKey, TValue> b)
        where TKey : notnull where TValue : System.Numerics.INumber<TValue>
    {
        var sum = new Dictionary<TKey, TValue>(a);
        foreach ((TKey key, TValue value) in b) sum[key] = sum.TryGetValue(key, out TValue? have) ? have + value : value;
        return sum;
    }

    /// <summary>
    /// The engines' socket tables as one stream: one first batch with every engine's sockets (once each engine gave its own),
    /// then each engine's batches as they come, one at a time. Handles carry their engine's id, so rows never collide.
    /// Completes when every engine's stream completed.
    /// </summary>
    public IObservable<IReadOnlyList<SocketTableChange>> SocketTable => Observable.Create<IReadOnlyList<SocketTableChange>>(observer =>
    {
        var gate = new object();
        var first = new IReadOnlyList<SocketTableChange>?[_engines.Length];
        var held = new List<IReadOnlyList<SocketTableChange>>();
        int firstsLeft = _engines.Length, open = _engines.Length;
        var subscriptions = new CompositeDisposable();
        for (int i = 0; i < _engines.Length; i++)
        {
            int engine = i;
            subscriptions.Add(_engines[i].EngineSocketTable.Subscribe(
                batch =>
                {
                    lock (gate)
                    {
                        if (firstsLeft > 0)
                        {
                            if (first[engine] is null)
                            {
                                first[engine] = batch;
                                if (--firstsLeft > 0) return;
                                observer.OnNext([.. first.SelectMany(b => b!)]);
                                foreach (IReadOnlyList<SocketTableChange> h in held) observer.OnNext(h);
                                held.Clear();
                            }
                            else held.Add(batch);
                            return;
                        }
                        observer.OnNext(batch);
                    }
                },
                error => { lock (gate) observer.OnError(error); },
                () => { lock (gate) if (--open == 0) observer.OnCompleted(); }));
        }
        return subscriptions;
    });

    // ---------------------------------------------------------------- lifetime

    /// <summary>Disposes engines 1..N-1 (the facade disposes the home engine itself).</summary>
    public void DisposeOthers()
    {
        for (int i = 1; i < _engines.Length; i++) _engines[i].Dispose();
    }

    /// <summary>Disposes engines 1..N-1 and waits for their teardown.</summary>
    public Task DisposeOthersAsync() => Task.WhenAll(_engines.Skip(1).Select(e => e.DisposeAsync().AsTask()));

    /// <summary>A reply observer for the facade's own commands.</summary>
    private sealed class ReplyObserver(Action<Reply> onReply) : IObserver<Reply>
    {
        public void OnNext(Reply value) => onReply(value);
        public void OnError(Exception error) => onReply(new Reply.Error(NetstackError.Of(NetstackErrorKind.EngineFault, error.Message)));
        public void OnCompleted() { }
    }
}
