using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Engine;

/// <summary>
/// The engine's side of a TCP connection: the control block plus the requests waiting on it (connect, receives, sends) and,
/// for a passively opened connection, the listener it belongs to until it is accepted.
/// </summary>
internal sealed class TcpStreamSocketState : SocketState
{
    /// <summary>The demultiplexer that flushes it.</summary>
    private readonly TcpDemux _demux;

    public TcpStreamSocketState(TcpDemux demux, PassScheduler passes, TcpControlBlock tcb, TcpListenerSocketState? listener) : base(passes)
    {
        _demux = demux;
        Tcb = tcb;
        Listener = listener;
    }

    public TcpControlBlock Tcb { get; }

    /// <summary>The listener of a passively opened connection, until it moves to the accept queue or dies.</summary>
    public TcpListenerSocketState? Listener { get; set; }

    /// <summary>True while counted in the listener's SYN queue (half-open).</summary>
    public bool CountedHalfOpen { get; set; }

    /// <summary>True while counted in the listener's accept queue.</summary>
    public bool InAcceptQueue { get; set; }

    /// <summary>True once the application owns the handle (connected or accepted).</summary>
    public bool Owned { get; set; }

    /// <summary>True once the application closed or aborted: the socket is freed as soon as the connection reaches CLOSED.</summary>
    public bool UserClosed { get; set; }

    /// <summary>True while counted as a TIME-WAIT entry.</summary>
    public bool CountedInTimeWait { get; set; }

    /// <summary>True while in the 4-tuple table.</summary>
    public bool InTable { get; set; }

    /// <summary>The state this connection is counted under in the engine's per-state tally (null: not counted).</summary>
    public TcpState? TalliedState { get; set; }

    public WaitQueue Connecting { get; } = new();
    public WaitQueue Readers { get; } = new();
    public WaitQueue Writers { get; } = new();

    public override Instant PollAt => Tcb.PollAt;

    protected override void OnSocketTimer(Instant now) => Tcb.OnTimer(now);

    public override void Flush(Instant now) => _demux.FlushConnection(this, now);

    /// <summary>Answers one of this socket's requests (for the engine's TCP command code).</summary>
    public void StackComplete(PendingRequest request, Reply reply) => Passes.Complete(request, reply);

    /// <summary>Answers the reader whose buffer the control block filled directly, if any (claimed when its first byte went in).</summary>
    public void DeliverDirectRead()
    {
        int n = Tcb.TakeDirectRead(out IReadBufferClaim? reader);
        if (n > 0) Passes.Deliver((PendingRequest)reader!, new Reply.ReceivedInto(n));
    }

    public override void FailAll(NetstackError error)
    {
        DeliverDirectRead();
        FailQueue(Connecting, error);
        FailQueue(Readers, error);
        FailQueue(Writers, error);
        Tcb.ReleaseBuffers();
        IsClosed = true;
    }
}
