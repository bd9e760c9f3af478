using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Engine;

/// <summary>
/// A TCP listener: a bounded SYN queue (half-open connections it owns), a bounded accept queue (established connections not
/// yet taken) and the accept requests waiting for one. When the SYN queue is full the listener answers with SYN cookies
/// (RFC 4987 §3.6) instead of refusing, so legitimate clients still connect during a SYN flood.
/// </summary>
internal sealed class TcpListenerSocketState : SocketState
{
    public TcpListenerSocketState(PassScheduler passes, NetEndpoint local, int backlog, TcpSettings settings) : base(passes)
    {
        Local = local;
        Backlog = backlog;
        Settings = settings;
    }

    public NetEndpoint Local { get; }
    public int Backlog { get; }
    public TcpSettings Settings { get; }

    /// <summary>Connections in SYN-RECEIVED that belong to this listener.</summary>
    public int HalfOpen { get; set; }

    /// <summary>Established connections waiting for an accept, oldest first.</summary>
    public Queue<TcpStreamSocketState> AcceptQueue { get; } = new();

    /// <summary>Accept requests waiting for a connection.</summary>
    public WaitQueue Acceptors { get; } = new();

    /// <summary>
    /// Of a sharded stack, the facade's listener (<see cref="ShardedListener"/>), which takes established connections straight
    /// from this queue once no accept request waits — no accept command per connection. Set by the facade's first accept on
    /// this engine (<see cref="PendingRequest.AcceptSink"/>); null on an unsharded stack.
    /// </summary>
    public IAcceptSink? Sink { get; set; }

    public override void Flush(Instant now)
    {
        while (AcceptQueue.Count > 0 && (!Acceptors.IsEmpty || Sink is not null))
        {
            TcpStreamSocketState connection = AcceptQueue.Peek();
            var accepted = new Reply.Accepted(connection.Handle, connection.Tcb.Local, connection.Tcb.Remote);
            if (!Acceptors.IsEmpty)
            {
                PendingRequest request = Acceptors.Dequeue()!;
                if (!Passes.Complete(request, accepted)) continue; // that accept was cancelled: the connection waits for the next one
            }
            else if (!Sink!.TryTake(accepted)) break; // the facade is full: it asks again when it has room
            AcceptQueue.Dequeue();
            connection.InAcceptQueue = false;
            connection.Listener = null;
            connection.Owned = true;
        }
    }

    public override void FailAll(NetstackError error)
    {
        FailQueue(Acceptors, error);
        IsClosed = true;
    }
}
