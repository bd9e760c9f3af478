using Rx.Netstack.Commands;

namespace Rx.Netstack.Engine;

/// <summary>
/// What every socket kind shares: its handle, its place in the pass's list of sockets to flush, and its timer entry.
/// A socket touched in a pass (data arrived, a command changed it, a timer fired) is marked dirty; at the end of the pass
/// only dirty sockets are flushed (emit what they can, answer waiting requests), so the cost of a pass follows the work
/// done, never the number of idle sockets.
/// </summary>
internal abstract class SocketState : TimerOwner
{
    protected SocketState(PassScheduler passes) => Passes = passes;

    /// <summary>Where the socket marks itself dirty and answers its requests.</summary>
    protected PassScheduler Passes { get; }

    public SocketHandle Handle { get; internal set; }

    /// <summary>True while in the pass's dirty list.</summary>
    internal bool IsDirty;

    /// <summary>True once the socket has left the table.</summary>
    public bool IsClosed { get; protected set; }

    /// <inheritdoc />
    public override Instant PollAt => Instant.Never;

    /// <summary>Marks the socket dirty (so the pass flushes it) and runs <see cref="OnSocketTimer"/>.</summary>
    public sealed override void OnTimer(Instant now)
    {
        Passes.MarkDirty(this);
        OnSocketTimer(now);
    }

    /// <summary>The socket's own timer work.</summary>
    protected virtual void OnSocketTimer(Instant now) { }

    /// <summary>Emits what the socket can send and answers the requests that became ready.</summary>
    public abstract void Flush(Instant now);

    /// <summary>Fails every waiting request with <paramref name="error"/> and releases buffers (the stack is going away or the socket closed).</summary>
    public abstract void FailAll(NetstackError error);

    /// <summary>Answers waiting requests of <paramref name="queue"/> with <paramref name="error"/>.</summary>
    protected void FailQueue(WaitQueue queue, NetstackError error)
    {
        while (queue.Dequeue() is { } request) Passes.Complete(request, new Reply.Error(error));
    }
}
