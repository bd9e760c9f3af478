using System.Diagnostics;
using System.Reactive.Concurrency;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Engine;

/// <summary>
/// One TCP interceptor of a sharded stack: an interceptor on every engine (a client's SYN becomes an offer on the engine its
/// flow hashes to) and one stream of offers for the application. The backlog is split between the engines, so the whole
/// interceptor holds at most its backlog of undecided offers (at least one per engine). Offers are fetched on demand: each
/// engine has one <c>Next</c> of the facade's own outstanding (a <em>pump</em>) while more application requests wait than
/// offers are ready, and once the demand is met the other pumps are cancelled — so offers nobody asked for stay in their
/// engine, where the decision timeout handles them (only a pump answered in the instant of its cancel leaves one in
/// <see cref="_ready"/>). An offer's id for the application names its engine (<see cref="FacadeId"/>); accept and refuse go
/// to that engine.
/// </summary>
internal sealed class ShardedInterceptor : IShardPump
{
    // ---------------------------------------------------------------- state (all under _gate but the readonly ones)

    /// <summary>The engines and the routing.</summary>
    private readonly ShardSet _set;

    /// <summary>The interceptor on each engine, in engine order ([0] is the handle the application holds).</summary>
    private readonly SocketHandle[] _handles;

    private readonly Lock _gate = new();

    /// <summary>Offers fetched from an engine that no application request has taken yet (oldest first; facade ids).</summary>
    private readonly Queue<Reply.TcpOffered> _ready = new();

    /// <summary>Application <c>Next</c> requests waiting for an offer (oldest first; cancelled ones are skipped).</summary>
    private readonly WaitingRequests _waiting = new();

    /// <summary>Each engine's outstanding pump (null: none).</summary>
    private readonly PendingRequest?[] _pumps;

    /// <summary>Why the interceptor is gone (closed, the stack disposed), once it is: later requests get it.</summary>
    private Reply? _closed;

    public ShardedInterceptor(ShardSet set, SocketHandle[] handles)
    {
        _set = set;
        _handles = handles;
        _pumps = new PendingRequest?[handles.Length];
    }

    /// <summary>Engine <paramref name="engine"/>'s share of <paramref name="backlog"/>: an even split, the remainder to the first
    /// engines, at least one each (a non-positive backlog is passed on for the engine to refuse).</summary>
    public static int BacklogShare(int backlog, int engine, int engines) =>
        backlog <= 0 ? backlog : Math.Max(1, (backlog / engines) + (engine < backlog % engines ? 1 : 0));

    /// <summary>The application's id of engine <paramref name="engine"/>'s offer <paramref name="offer"/>.</summary>
    private long FacadeId(long offer, int engine) => (offer * _handles.Length) + engine;

    /// <summary>An application's <c>Next</c>: the oldest ready offer, or it waits (and the engines are asked).</summary>
    public void Next(PendingRequest request)
    {
        Reply? answer;
        lock (_gate) answer = _closed ?? _waiting.ClaimReadyOrEnqueue(_ready, request);
        if (answer is Reply.TcpOffered)
        {
            _set.Deliver(request, answer);
            CancelIdlePumps();
        }
        else if (answer is not null) _set.Answer(request, answer);
        else PumpAll();
    }

    /// <summary>Accept or refuse: rewritten in the owning engine's terms (its interceptor, its offer id) and submitted there,
    /// so the reply and a cancel reach that engine as for any socket command.</summary>
    public void Decide(PendingRequest request, long offer)
    {
        int engines = _handles.Length;
        int engine = (int)(((offer % engines) + engines) % engines);
        long local = offer / engines;
        SocketHandle handle = _handles[engine];
        request.Retarget(request.Command switch
        {
            Command.Intercept.Accept accept => accept with { Interceptor = handle, Offer = local },
            Command.Intercept.Refuse refuse => refuse with { Interceptor = handle, Offer = local },
            _ => throw new UnreachableException("only accept and refuse name an offer"),
        });
        _set.Engines[engine].Passes.Submit(request);
    }

    /// <summary>Closes the interceptor on every engine (each resets its undecided offers, the ready ones included); waiting
    /// requests fail.</summary>
    public void Close(PendingRequest? request)
    {
        List<PendingRequest> waiting;
        lock (_gate)
        {
            _closed ??= new Reply.Error(NetstackError.Of(NetstackErrorKind.SocketClosed, "The interceptor was closed."));
            waiting = _waiting.TakeAll();
            _ready.Clear();
        }
        foreach (PendingRequest w in waiting) _set.Answer(w, _closed);
        int left = _handles.Length;
        Reply? error = null;
        for (int i = 0; i < _handles.Length; i++)
        {
            _set.SubmitInternal(i, new Command.Intercept.Close(_handles[i]), reply =>
            {
                if (reply is Reply.Error) Interlocked.CompareExchange(ref error, reply, null);
                if (Interlocked.Decrement(ref left) == 0 && request is not null) _set.Answer(request, Volatile.Read(ref error) ?? Reply.Ok.Instance);
            });
        }
    }

    private void PumpAll()
    {
        for (int i = 0; i < _handles.Length; i++) Pump(i);
    }

    /// <summary>True while more application requests wait than offers are ready (under <see cref="_gate"/>).</summary>
    private bool HasDemand => _closed is null && _ready.Count < _waiting.LiveCount;

    /// <summary>Asks engine <paramref name="engine"/> for an offer unless it is asked already, the interceptor is closed, or
    /// the ready offers cover the waiting requests.</summary>
    public void Pump(int engine)
    {
        PendingRequest pump;
        lock (_gate)
        {
            if (_pumps[engine] is not null || !HasDemand) return;
            pump = _set.InternalRequest(new Command.Intercept.Next(_handles[engine]), reply => OnOffered(engine, reply));
            _pumps[engine] = pump;
        }
        _set.Engines[engine].Passes.Submit(pump);
    }

    /// <summary>Once the demand is met, withdraws the pumps still out, so their engines keep their offers. A pump its engine
    /// answered meanwhile cannot be withdrawn: its offer arrives and waits in <see cref="_ready"/>.</summary>
    private void CancelIdlePumps()
    {
        List<(int Engine, PendingRequest Pump)>? idle = null;
        lock (_gate)
        {
            if (HasDemand) return;
            for (int i = 0; i < _pumps.Length; i++)
                if (_pumps[i] is { } pump) (idle ??= []).Add((i, pump));
        }
        if (idle is null) return;
        foreach ((int engine, PendingRequest pump) in idle)
        {
            if (!_set.Engines[engine].Passes.Cancel(pump)) continue; // answered already: OnOffered clears it
            lock (_gate)
            {
                if (_pumps[engine] == pump) _pumps[engine] = null;
            }
        }
    }

    /// <summary>An engine's offer (on that engine): to the oldest waiting request, or into <see cref="_ready"/>.</summary>
    private void OnOffered(int engine, Reply reply)
    {
        PendingRequest? taker = null;
        Reply? delivered = null;
        List<PendingRequest>? failed = null;
        lock (_gate)
        {
            _pumps[engine] = null;
            if (reply is Reply.TcpOffered offered)
            {
                // Closed meanwhile: the engine's close resets the offer with the rest, so it is simply not handed out.
                if (_closed is null)
                {
                    delivered = offered with { Offer = FacadeId(offered.Offer, engine) };
                    if (_waiting.TryClaimOldest(out PendingRequest claimed)) taker = claimed;
                    if (taker is null) _ready.Enqueue((Reply.TcpOffered)delivered);
                }
            }
            else if (reply is Reply.Error { Detail.Kind: NetstackErrorKind.CommandQueueFull })
            {
                // "Not now": ask that engine again a little later on its clock, as the offer loops do.
            }
            else if (_closed is null)
            {
                // The engine's interceptor is gone (the stack is being disposed): every request now fails with its reason.
                _closed = reply;
                failed = _waiting.TakeAll();
            }
        }
        if (taker is not null) _set.Deliver(taker, delivered!);
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
        Debug.Assert(reply is Reply.TcpOffered || _closed is not null, "a pump ends with an offer or the interceptor's end");
        Pump(engine);
        CancelIdlePumps();
    }
}
