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

    public override void Flush(Instant now)
    {
        while (!Acceptors.IsEmpty && AcceptQueue.Count > 0)
        {
            TcpStreamSocketState connection = AcceptQueue.Peek();
            PendingRequest request = Acceptors.Dequeue()!;
            if (!Passes.Complete(request, new Reply.Accepted(connection.Handle, connection.Tcb.Local, connection.Tcb.Remote)))
                continue; // that accept was cancelled: the connection waits for the next one
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
