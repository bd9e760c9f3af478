using System.Collections.Concurrent;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;

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
    private static int s_nextStackId;

    private readonly IScheduler _scheduler;
    private readonly EventLoopScheduler? _ownedScheduler;
    private readonly object _engineLock = new();
    private readonly ConcurrentQueue<PendingRequest> _commandQueue = new();
    private readonly ConcurrentQueue<PendingRequest> _cancelQueue = new();
    private readonly Subject<CommandEvent> _tap = new();
    private readonly SocketRegistry _sockets;
    private readonly TimerQueue _timers = new();
    private readonly List<SocketState> _dirty = [];
    private readonly NetstackCounters _counters = new();
    private long _nextRequestId;
    private int _queuedCommands;      // in _commandQueue, cancelled ones included until the engine skips them
    private int _passScheduled;
    private bool _inPass;
    private volatile bool _disposed;
    private bool _tornDown;

    /// <summary>Creates a stack.</summary>
    /// <param name="options">Settings (defaults: <see cref="NetstackOptions"/>).</param>
    /// <param name="scheduler">Where all engine work runs and where time comes from. Default: an <see cref="EventLoopScheduler"/>
    /// that the stack owns and disposes. Pass a <c>TestScheduler</c> to drive time in tests.</param>
    public Netstack(NetstackOptions? options = null, IScheduler? scheduler = null)
    {
        Options = options ?? new NetstackOptions();
        Options.Validate();
        Id = Interlocked.Increment(ref s_nextStackId);
        if (scheduler is null)
        {
            var loop = new EventLoopScheduler(start => _engineThread = new Thread(start) { IsBackground = true, Name = $"Rx.Netstack engine #{Id}" });
            _scheduler = loop;
            _ownedScheduler = loop;
        }
        else
        {
            _scheduler = scheduler;
        }
        _sockets = new SocketRegistry(Id, Options.MaxSockets);
        InitializeIp();
        CreateMeter();
        Commands = System.Reactive.Observer.Create<CommandRequest>(r => Submit(new PendingRequest(r.Id, r.Command, r.ReplyTo)));
    }

    /// <summary>The settings the stack was built with.</summary>
    public NetstackOptions Options { get; }

    /// <summary>A number that tells this stack's handles from another's.</summary>
    public int Id { get; }

    /// <summary>The scheduler the engine runs on; its clock is the stack's clock.</summary>
    public IScheduler Scheduler => _scheduler;

    /// <summary>
    /// The command channel: each <see cref="CommandRequest"/> is answered on its own <see cref="CommandRequest.ReplyTo"/>
    /// with one reply followed by <c>OnCompleted</c>. Use <see cref="NextRequestId"/> for correlation ids.
    /// </summary>
    public IObserver<CommandRequest> Commands { get; }

    /// <summary>
    /// Every request as the engine takes it and every reply as it is sent — for logs and dashboards. Events are raised on the
    /// engine's scheduler and cost nothing while nobody subscribes.
    /// </summary>
    public IObservable<CommandEvent> Tap => _tap.IsolateSubscribers(this);

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
            Submit(request);
            return Disposable.Create((this, request), static state => state.Item1.Cancel(state.request));
        });
    }

    /// <summary>
    /// Takes a request into the command queue. Past <see cref="NetstackOptions.CommandQueueCapacity"/> it waits its turn for
    /// room (the engine takes that many per round, in order); only past <see cref="NetstackOptions.CommandQueueLimit"/> (closes
    /// excepted), or after disposal, is it refused at once. Never blocks: a caller on the engine's own thread must get an answer.
    /// </summary>
    private void Submit(PendingRequest request)
    {
        if (_disposed)
        {
            Reject(request, NetstackError.Of(NetstackErrorKind.StackDisposed, "The stack has been disposed."));
            return;
        }
        int depth = Interlocked.Increment(ref _queuedCommands);
        if (depth > Options.CommandQueueLimit && !ReleasesASocket(request.Command))
        {
            Interlocked.Decrement(ref _queuedCommands);
            Interlocked.Increment(ref _counters.CommandsRefused);
            Reject(request, NetstackError.Of(NetstackErrorKind.CommandQueueFull,
                $"{Options.CommandQueueLimit} commands are waiting for the engine (NetstackOptions.CommandQueueLimit): something submits " +
                "commands without waiting for their replies."));
            return;
        }
        if (depth > Options.CommandQueueCapacity) Interlocked.Increment(ref _counters.CommandsWaited);
        _commandQueue.Enqueue(request);
        SchedulePass();
    }

    /// <summary>
    /// Closes and aborts are never refused: they free what the queue's bound protects, and there is at most one per socket
    /// worth sending. Refusing them would leave the connection open for good (a CLOSE-WAIT nobody ends).
    /// </summary>
    private static bool ReleasesASocket(Command command) =>
        command is Command.TcpStream.Close or Command.TcpStream.Abort or Command.TcpListen.Close or Command.Udp.Close or Command.Raw.Close;

    private static void Reject(PendingRequest request, NetstackError error)
    {
        if (!request.TryClaim()) return;
        request.ReplyTo.OnNext(new Reply.Error(error));
        request.ReplyTo.OnCompleted();
    }

    /// <summary>Withdraws a request; false when the engine claimed it first (its reply is coming and must not be replaced).</summary>
    private bool Cancel(PendingRequest request)
    {
        if (!request.TryClaim()) return false; // already answered, or being answered
        _cancelQueue.Enqueue(request);
        SchedulePass();
        return true;
    }

    /// <summary>Sends the reply of a request (on the engine) unless it was cancelled or already answered.</summary>
    internal bool Complete(PendingRequest request, Reply reply)
    {
        request.Queue?.Remove(request);
        if (!request.TryClaim()) return false;
        Deliver(request, reply);
        return true;
    }

    /// <summary>Sends the reply of a request this engine has claimed already (taken out of its wait queue).</summary>
    internal void Deliver(PendingRequest request, Reply reply)
    {
        request.Queue?.Remove(request);
        if (_tap.HasObservers) _tap.OnNext(new CommandEvent.Replied(request.Id, reply));
        try
        {
            request.ReplyTo.OnNext(reply);
            request.ReplyTo.OnCompleted();
        }
        catch (Exception)
        {
            // A subscriber that throws hurts only itself; the engine goes on.
            _counters.SubscriberFaults++;
        }
    }

    /// <summary>A snapshot of the counters.</summary>
    public NetstackStats GetStats() => SnapshotStats();

    /// <summary>Snapshots of the counters every <paramref name="period"/>, on the engine's scheduler.</summary>
    public IObservable<NetstackStats> Stats(TimeSpan period) =>
        Observable.Interval(period, _scheduler).Select(_ => SnapshotStats()).StartWith(_scheduler, SnapshotStats());

    /// <summary>
    /// Completes every pending request with <see cref="NetstackErrorKind.StackDisposed"/>, resets connections, detaches the
    /// device, returns pooled buffers and stops the engine's own scheduler (if it made one). Called inside a pass (a reply
    /// handler), the teardown runs when that pass ends; <see cref="DisposeAsync"/> waits for it.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _meter?.Dispose(); // its instruments disappear from listeners with the stack
        lock (_engineLock)
        {
            if (_inPass) { SchedulePass(); }
            else TearDown();
        }
        _ownedScheduler?.Dispose();
    }

    private void TearDown()
    {
        if (_tornDown) return;
        _tornDown = true;
        var error = NetstackError.Of(NetstackErrorKind.StackDisposed, "The stack has been disposed.");
        while (_commandQueue.TryDequeue(out var request)) Complete(request, new Reply.Error(error));
        while (_cancelQueue.TryDequeue(out _)) { }
        foreach (SocketState socket in _sockets.All().ToList())
        {
            socket.FailAll(error);
            // FailAll keeps a ring that still holds data; a disposed stack gives every pooled array back and empties its table.
            if (socket is TcpStreamSocketState connection) connection.Tcb.Fail(Tcp.TcpError.Aborted);
            _sockets.Remove(socket);
        }
        _pinger?.FailAll(error); // pings in flight are not sockets: they must hear of the disposal too
        TearDownIp();
        _timers.Clear();
        _armedWake?.Dispose();
        _armedWake = null;
        _socketTableTracker?.Complete();
        _tap.OnCompleted();
        _tornDownSignal.TrySetResult();
    }
}
