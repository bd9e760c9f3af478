using System.Reactive.Disposables;
using System.Threading.Channels;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli.Dashboard;

/// <summary>
/// What one browser is shown of one stack. It subscribes to the stack's own observables — <see cref="Netstack.Stats"/>
/// every period, the <see cref="Netstack.SocketTable"/> change sets, <see cref="SocketTableExtensions.InfoUpdates"/> of up to
/// <see cref="MaxChartedConnections"/> TCP connections, the pings — and keeps only what the browser has not been sent yet,
/// coalesced: the latest counters (rates measured from the last counters written), one change per socket row, the latest
/// connection samples, the last <see cref="MaxPendingPings"/> pings. So a browser that reads slowly costs at most the size of
/// the socket table, never a queue that grows; what it missed is counted in <see cref="Coalesced"/>.
/// </summary>
/// <remarks>
/// The observables deliver on the stack's engine (inside its pass), so each handler only updates this state under a short
/// lock; the writer (<see cref="DashboardHub"/>) takes it on its own thread once per counters tick — at most one burst of
/// events per period, however busy the socket table is. Subscriptions are disposed outside the lock: disposing a socket-table
/// subscription takes the engine's lock, which a handler here holds while it waits for ours.
/// </remarks>
internal sealed class DashboardSession : IDisposable
{
    /// <summary>TCP connections charted at once; others wait for a slot (first come, first charted).</summary>
    public const int MaxChartedConnections = 6;

    /// <summary>Pings kept for a browser that has not read them yet; older ones are dropped and counted.</summary>
    public const int MaxPendingPings = 64;

    private readonly DashboardSource _source;
    private readonly TimeSpan _period;
    private readonly Func<int> _clients;
    private readonly CompositeDisposable _subscriptions = [];
    private readonly Channel<bool> _ready = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Lock _gate = new();

    // Guarded by _gate. The table as the browser will have it once the pending changes are written.
    private readonly Dictionary<SocketHandle, SocketInfo> _rows = [];
    private readonly Dictionary<SocketHandle, SocketTableChange> _changes = [];
    private bool _reset = true; // the first batch is a snapshot: it replaces whatever the browser shows
    private readonly Dictionary<SocketHandle, ChartedConnection> _charted = [];
    private readonly LinkedList<SocketHandle> _waiting = new();
    private readonly Dictionary<SocketHandle, LinkedListNode<SocketHandle>> _waitingNodes = [];
    private bool _chartsShown; // the browser shows connection charts: an empty sample must remove them
    private NetstackStats? _written, _stats;
    private ConnectionSample[]? _samples;
    private readonly Queue<PingSample> _pings = new();
    private long _coalesced;
    private bool _ended, _disposed;
    private int _firstBatch; // 1 once the first socket batch (the snapshot) signalled the writer

    public DashboardSession(DashboardSource source, TimeSpan period, Func<int> clients)
    {
        _source = source;
        _period = period;
        _clients = clients;
    }

    /// <summary>Updates (counter samples, socket changes, connection samples, pings) this browser did not get one by one.</summary>
    public long Coalesced { get { lock (_gate) return _coalesced; } }

    /// <summary>Connections whose info is being followed now (at most <see cref="MaxChartedConnections"/>).</summary>
    public int ChartedCount { get { lock (_gate) return _charted.Count; } }

    /// <summary>Subscribes to the stack's observables.</summary>
    public void Start()
    {
        Netstack stack = _source.Stack;
        _subscriptions.Add(stack.SocketTable.Subscribe(OnTable, _ => End(), End));
        _subscriptions.Add(stack.Stats(_period).Subscribe(OnStats, _ => End(), End));
        if (_source.Pings is { } pings) _subscriptions.Add(pings.Subscribe(OnPing, _ => { }, () => { }));
    }

    /// <summary>Waits until there is something to write; false once the stack is gone (the stream ends).</summary>
    public async ValueTask<bool> WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return false;
        }
        lock (_gate) return !_ended;
    }

    /// <summary>Takes what is pending as events to write, in the order a browser needs them (rows before their charts).</summary>
    public List<DashboardEvent> Take()
    {
        SocketTableChange[]? changes = null;
        bool reset;
        NetstackStats? from, to;
        ConnectionSample[]? samples;
        PingSample[]? pings = null;
        long coalesced;
        lock (_gate)
        {
            reset = _reset;
            if (reset) changes = [.. _rows.Values.Select(row => new SocketTableChange(SocketTableChangeKind.Add, row))];
            else if (_changes.Count > 0) changes = [.. _changes.Values];
            _reset = false;
            _changes.Clear();
            (from, to) = (_written, _stats);
            if (to is not null) _written = to;
            _stats = null;
            samples = _samples;
            _samples = null;
            if (_pings.Count > 0)
            {
                pings = [.. _pings];
                _pings.Clear();
            }
            coalesced = _coalesced;
        }
        var events = new List<DashboardEvent>(4);
        if (changes is not null) events.Add(new("sockets", DashboardJson.Sockets(reset, changes)));
        if (to is not null) events.Add(new("stats", DashboardJson.Stats(from, to, _clients(), coalesced)));
        if (samples is not null) events.Add(new("conns", DashboardJson.Connections(_source.Stack.Scheduler.Now, samples)));
        if (pings is not null) events.Add(new("pings", DashboardJson.Pings(pings)));
        return events;
    }

    private void OnTable(IReadOnlyList<SocketTableChange> batch)
    {
        List<IDisposable>? stop = null;
        List<ChartedConnection>? start = null;
        lock (_gate)
        {
            if (_disposed) return;
            foreach (SocketTableChange change in batch)
            {
                SocketHandle handle = change.Socket.Handle;
                if (change.Kind == SocketTableChangeKind.Remove) _rows.Remove(handle);
                else _rows[handle] = change.Socket;
                if (!_reset) Coalesce(change);
                if (handle.Kind == SocketKind.TcpStream) FollowCharts(change, ref stop, ref start);
            }
        }
        foreach (IDisposable subscription in stop ?? []) subscription.Dispose();
        foreach (ChartedConnection charted in start ?? []) Subscribe(charted);
        if (Volatile.Read(ref _firstBatch) == 0 && Interlocked.Exchange(ref _firstBatch, 1) == 0) Signal(); // show the table at once
    }

    /// <summary>One pending change per row: add + update is the add, update + remove the remove, add + remove nothing.</summary>
    private void Coalesce(SocketTableChange change)
    {
        SocketHandle handle = change.Socket.Handle;
        if (!_changes.TryGetValue(handle, out SocketTableChange pending))
        {
            _changes[handle] = change;
            return;
        }
        _coalesced++;
        if (pending.Kind == SocketTableChangeKind.Add && change.Kind == SocketTableChangeKind.Remove) _changes.Remove(handle);
        else _changes[handle] = pending.Kind == SocketTableChangeKind.Add ? change with { Kind = SocketTableChangeKind.Add } : change;
    }

    /// <summary>Charts live connections, first come first charted; one that closes or enters TIME-WAIT frees its slot.</summary>
    private void FollowCharts(SocketTableChange change, ref List<IDisposable>? stop, ref List<ChartedConnection>? start)
    {
        SocketHandle handle = change.Socket.Handle;
        bool live = change.Kind != SocketTableChangeKind.Remove && change.Socket.State is not (TcpState.TimeWait or TcpState.Closed);
        if (live)
        {
            if (_charted.ContainsKey(handle) || _waitingNodes.ContainsKey(handle)) return;
            if (_charted.Count < MaxChartedConnections) (start ??= []).Add(Chart(handle));
            else _waitingNodes[handle] = _waiting.AddLast(handle);
            return;
        }
        if (_waitingNodes.Remove(handle, out var node)) _waiting.Remove(node);
        if (!_charted.Remove(handle, out ChartedConnection? charted)) return;
        (stop ??= []).Add(charted.Subscription);
        // A slot is free: the connection that waited longest takes it.
        if (_waiting.First is { } next)
        {
            _waiting.RemoveFirst();
            _waitingNodes.Remove(next.Value);
            (start ??= []).Add(Chart(next.Value));
        }
    }

    private ChartedConnection Chart(SocketHandle handle)
    {
        var charted = new ChartedConnection(handle);
        _charted[handle] = charted;
        return charted;
    }

    private void Subscribe(ChartedConnection charted) =>
        // Assigned after the lock is left; if the connection left meanwhile, the disposed slot disposes this at once.
        charted.Subscription.Disposable = _source.Stack.InfoUpdates(charted.Handle, _period)
            .Subscribe(info => OnInfo(charted, info), _ => { }, () => { });

    private void OnInfo(ChartedConnection charted, TcpConnectionInfo info)
    {
        DateTimeOffset now = _source.Stack.Scheduler.Now;
        lock (_gate)
        {
            if (charted.Latest is { } last && now > charted.LatestAt)
            {
                double seconds = (now - charted.LatestAt).TotalSeconds;
                charted.SendRate = Math.Max(0, info.BytesSent - last.BytesSent) / seconds;
                charted.ReceiveRate = Math.Max(0, info.BytesReceived - last.BytesReceived) / seconds;
            }
            charted.Latest = info;
            charted.LatestAt = now;
        }
    }

    private void OnStats(NetstackStats stats)
    {
        lock (_gate)
        {
            if (_disposed) return;
            // Coalescing keeps the older base (_written): the rates then cover the whole interval the browser missed.
            if (_stats is not null) _coalesced++;
            _stats = stats;
            if (_samples is not null) _coalesced++;
            _samples = SampleConnections(stats.Timestamp);
        }
        Signal();
    }

    /// <summary>The charted connections now; rates fall to 0 for one whose info stopped changing (InfoUpdates sends only changes).</summary>
    private ConnectionSample[]? SampleConnections(DateTimeOffset now)
    {
        if (_charted.Count == 0 && !_chartsShown) return null;
        var samples = new List<ConnectionSample>(_charted.Count);
        foreach (ChartedConnection charted in _charted.Values)
        {
            if (charted.Latest is not { } info || !_rows.TryGetValue(charted.Handle, out SocketInfo row)) continue;
            bool idle = now - charted.LatestAt > 2 * _period;
            samples.Add(new ConnectionSample(row, info, idle ? 0 : charted.SendRate, idle ? 0 : charted.ReceiveRate));
        }
        _chartsShown = samples.Count > 0;
        return [.. samples];
    }

    private void OnPing(PingSample ping)
    {
        lock (_gate)
        {
            if (_disposed) return;
            _pings.Enqueue(ping);
            if (_pings.Count <= MaxPendingPings) return;
            _pings.Dequeue();
            _coalesced++;
        }
    }

    private void Signal() => _ready.Writer.TryWrite(true);

    private void End()
    {
        lock (_gate) _ended = true;
        _ready.Writer.TryComplete();
    }

    /// <summary>Unsubscribes from everything (the browser went away, or the server stops).</summary>
    public void Dispose()
    {
        _subscriptions.Dispose();
        ChartedConnection[] charted;
        lock (_gate)
        {
            _disposed = true;
            charted = [.. _charted.Values];
            _charted.Clear();
            _waiting.Clear();
            _waitingNodes.Clear();
        }
        foreach (ChartedConnection c in charted) c.Subscription.Dispose();
        _ready.Writer.TryComplete();
    }

    /// <summary>A connection whose info is followed, with its latest info and the rates measured between its last two.</summary>
    private sealed class ChartedConnection(SocketHandle handle)
    {
        public SocketHandle Handle { get; } = handle;
        public SingleAssignmentDisposable Subscription { get; } = new();
        public TcpConnectionInfo? Latest { get; set; }
        public DateTimeOffset LatestAt { get; set; }
        public double SendRate { get; set; }
        public double ReceiveRate { get; set; }
    }
}

/// <summary>One Server-Sent Event: its name and its JSON data.</summary>
internal readonly record struct DashboardEvent(string Name, byte[] Json);

/// <summary>One charted connection at one tick: its row, its info, and payload bytes per second each way.</summary>
internal readonly record struct ConnectionSample(SocketInfo Row, TcpConnectionInfo Info, double SendRate, double ReceiveRate);
