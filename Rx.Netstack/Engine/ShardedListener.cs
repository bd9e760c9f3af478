using System.Diagnostics;
using System.Reactive.Concurrency;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Engine;

/// <summary>
/// One listener of a sharded stack: a listener on every engine (a SYN is taken by the engine its flow hashes to) and one accept
/// queue for the application. Each engine's listener hands its established connections to this one directly, inside its pass
/// (<see cref="IAcceptSink"/>, registered by the facade's first accept on that engine): a connection goes to the oldest waiting
/// application accept, or waits in <see cref="_ready"/>. While <see cref="_ready"/> holds a backlog's worth the engines keep
/// their connections in their own accept queues, where their backlogs bound them as on one engine; once the application
/// makes room, an accept command (a <em>pump</em>) to each engine that was refused gets them moving again. The connection
/// stays on its engine: its handle routes there.
/// </summary>
internal sealed class ShardedListener : IShardPump
{
    // ---------------------------------------------------------------- state (all under _gate but the readonly ones)

    /// <summary>The engines and the routing.</summary>
    private readonly ShardSet _set;

    /// <summary>The listener on each engine, in engine order ([0] is the handle the application holds).</summary>
    private readonly SocketHandle[] _handles;

    /// <summary>Accepted connections held for the application at most.</summary>
    private readonly int _backlog;

    private readonly Lock _gate = new();

    /// <summary>Connections accepted from an engine that no application accept has taken yet (oldest first).</summary>
    private readonly Queue<Reply.Accepted> _ready = new();

    /// <summary>Application accepts waiting for a connection (oldest first; cancelled ones are skipped).</summary>
    private readonly WaitingRequests _waiting = new();

    /// <summary>Which engines have a pump accept outstanding.</summary>
    private readonly bool[] _pumping;

    /// <summary>Which engines were refused a connection because <see cref="_ready"/> was full (they need a pump when it is not).</summary>
    private readonly bool[] _stalled;

    /// <summary>What each engine's listener hands its connections to (this listener, with the engine's index).</summary>
    private readonly EngineSink[] _sinks;

    /// <summary>Why the listener is gone (closed, the stack disposed), once it is: later accepts get it.</summary>
    private Reply? _closed;

    public ShardedListener(ShardSet set, SocketHandle[] handles, int backlog)
    {
        _set = set;
        _handles = handles;
        _backlog = backlog;
        _pumping = new bool[handles.Length];
        _stalled = new bool[handles.Length];
        _sinks = [.. Enumerable.Range(0, handles.Length).Select(i => new EngineSink(this, i))];
    }

    /// <summary>Starts a pump on every engine: it registers the engine's sink and takes what is queued already.</summary>
    public void Start()
    {
        for (int i = 0; i < _handles.Length; i++) Pump(i);
    }

    /// <summary>An application's accept: the oldest ready connection, or it waits.</summary>
    public void Accept(PendingRequest request)
    {
        Reply? answer;
        lock (_gate) answer = _closed ?? _waiting.ClaimReadyOrEnqueue(_ready, request);
        if (answer is Reply.Accepted)
        {
            _set.Deliver(request, answer);
            RestartPumps();
        }
        else if (answer is not null) _set.Answer(request, answer);
    }

    /// <summary>Closes the listener on every engine: waiting accepts fail, ready connections are reset (as one engine does).</summary>
    public void Close(PendingRequest? request)
    {
        List<PendingRequest> waiting;
        List<Reply.Accepted> ready;
        lock (_gate)
        {
            _closed ??= new Reply.Error(NetstackError.Of(NetstackErrorKind.SocketClosed, "The listener was closed."));
            waiting = _waiting.TakeAll();
            ready = [.. _ready];
            _ready.Clear();
        }
        foreach (PendingRequest w in waiting) _set.Answer(w, _closed);
        foreach (Reply.Accepted connection in ready)
            _set.SubmitInternal(EngineIndex(connection.Socket), new Command.TcpStream.Abort(connection.Socket), static _ => { });
        int left = _handles.Length;
        Reply? error = null;
        for (int i = 0; i < _handles.Length; i++)
        {
            _set.SubmitInternal(i, new Command.TcpListen.Close(_handles[i]), reply =>
            {
                if (reply is Reply.Error) Interlocked.CompareExchange(ref error, reply, null);
                if (Interlocked.Decrement(ref left) == 0 && request is not null) _set.Answer(request, Volatile.Read(ref error) ?? Reply.Ok.Instance);
            });
        }
    }

    private int EngineIndex(SocketHandle handle)
    {
        IReadOnlyList<Netstack> engines = _set.Engines;
        for (int i = 0; i < engines.Count; i++)
            if (engines[i].Id == handle.StackId) return i;
        return 0;
    }

    /// <summary>Keeps one accept outstanding on engine <paramref name="engine"/> unless one is, the listener is closed or
    /// a backlog's worth is ready.</summary>
    public void Pump(int engine)
    {
        lock (_gate)
        {
            if (_pumping[engine] || _closed is not null || _ready.Count >= _backlog) return;
            _pumping[engine] = true;
            _stalled[engine] = false;
        }
        _set.SubmitInternal(engine, new Command.TcpListen.Accept(_handles[engine]), reply => OnAccepted(engine, reply), _sinks[engine]);
    }

    /// <summary>Pumps every engine that was refused a connection while <see cref="_ready"/> was full.</summary>
    private void RestartPumps()
    {
        for (int i = 0; i < _handles.Length; i++)
            if (Volatile.Read(ref _stalled[i])) Pump(i);
    }

    /// <summary>An engine's listener hands over a connection (inside that engine's pass): to a waiting accept, into
    /// <see cref="_ready"/>, or refused while that is full (the engine keeps it; <see cref="RestartPumps"/> asks again).</summary>
    private bool TryTake(int engine, Reply.Accepted accepted)
    {
        PendingRequest? taker = null;
        lock (_gate)
        {
            if (_closed is not null) return false; // the engine's listener is closing: it resets what it still holds
            if (_waiting.TryClaimOldest(out PendingRequest claimed)) taker = claimed;
            if (taker is null)
            {
                if (_ready.Count >= _backlog)
                {
                    _stalled[engine] = true;
                    return false;
                }
                _ready.Enqueue(accepted);
            }
        }
        if (taker is not null) _set.Deliver(taker, accepted);
        return true;
    }

    /// <summary>One engine's view of this listener.</summary>
    private sealed class EngineSink(ShardedListener listener, int engine) : IAcceptSink
    {
        public bool TryTake(Reply.Accepted accepted) => listener.TryTake(engine, accepted);
    }

    /// <summary>An engine's accept answered (on that engine): to a waiting accept, or into <see cref="_ready"/>.</summary>
    private void OnAccepted(int engine, Reply reply)
    {
        PendingRequest? taker = null;
        List<PendingRequest>? failed = null;
        bool abort = false;
        lock (_gate)
        {
            _pumping[engine] = false;
            if (reply is Reply.Accepted accepted)
            {
                if (_closed is not null) abort = true; // closed while this accept was under way
                else
                {
                    if (_waiting.TryClaimOldest(out PendingRequest claimed)) taker = claimed;
                    if (taker is null) _ready.Enqueue(accepted);
                }
            }
            else if (reply is Reply.Error error && error.Detail.Kind == NetstackErrorKind.CommandQueueFull)
            {
                // "Not now": ask that engine again a little later on its clock, as the accept loops do.
            }
            else if (_closed is null)
            {
                // The engine's listener is gone (the stack is being disposed): every accept now fails with its reason.
                _closed = reply;
                failed = _waiting.TakeAll();
            }
        }
        if (abort)
        {
            var socket = ((Reply.Accepted)reply).Socket;
            _set.SubmitInternal(engine, new Command.TcpStream.Abort(socket), static _ => { });
            return;
        }
        if (taker is not null) _set.Deliver(taker, reply);
        if (failed is not null)
        {
            foreach (PendingRequest w in failed) _set.Answer(w, reply);
            return;
        }
        if (reply is Reply.Error { Detail.Kind: NetstackErrorKind.CommandQueueFull })
        {
            _set.RetryPumpLater(this, engine);
            return;
        }
        Debug.Assert(reply is Reply.Accepted || _closed is not null, "a pump ends with a connection or the listener's end");
        // No new pump: the engine's sink takes its next connections, and a refusal marks it stalled for RestartPumps.
    }
}
