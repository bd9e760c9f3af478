using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Engine;

/// <summary>
/// A command the engine has taken and not yet answered: either queued in the inbox or waiting on its socket's
/// <see cref="WaitQueue"/>. Completion is claimed once (by the reply, a cancel or the stack's disposal), so the
/// observer sees exactly one terminal reply.
/// </summary>
internal sealed class PendingRequest : IReadBufferClaim
{
    private int _finished;

    public PendingRequest(long id, Command command, IObserver<Reply> replyTo)
    {
        Id = id;
        Command = command;
        ReplyTo = replyTo;
    }

    public long Id { get; }
    public Command Command { get; private set; }
    public IObserver<Reply> ReplyTo { get; }

    /// <summary>Intrusive links of the wait queue this request is in (null when in none).</summary>
    internal PendingRequest? Previous, Next;
    internal WaitQueue? Queue;

    /// <summary>The engine that took the request (of a sharded stack, the one its socket lives on): where a cancel goes.
    /// Volatile: written by the submitting thread, read by whichever thread cancels.</summary>
    internal volatile PassScheduler? TakenBy;

    /// <summary>True once the request found nothing to do and was left waiting on its socket.</summary>
    internal bool Waited;

    /// <summary>For requests with a deadline (ping): when they time out.</summary>
    internal Instant Deadline = Instant.Never;

    /// <summary>Of a sharded listener's accept on one engine: where that engine's listener hands later connections directly
    /// (<see cref="TcpListenerSocketState.Sink"/>); null for every other request.</summary>
    internal IAcceptSink? AcceptSink;

    /// <summary>True once a reply was sent or the request was cancelled.</summary>
    public bool IsFinished => Volatile.Read(ref _finished) != 0;

    /// <summary>Of a sharded stack, before the request goes to its engine: the same request in that engine's terms (an
    /// interception offer's facade-wide id and handle rewritten as the engine's), so its reply and a cancel work as for any.</summary>
    public void Retarget(Command command) => Command = command;

    /// <summary>Claims the right to finish the request; only the first caller gets true.</summary>
    public bool TryClaim() => Interlocked.Exchange(ref _finished, 1) == 0;

    /// <summary>The caller's buffer of a <see cref="Command.TcpStream.ReceiveInto"/> (empty for other commands).</summary>
    public Memory<byte> ReadBuffer => Command is Command.TcpStream.ReceiveInto into ? into.Destination : default;

    /// <summary>True for a waiting reader that copies on its own thread (<see cref="Command.TcpStream.ReceiveInto.CopyOnReadersThread"/>).</summary>
    public bool CopiesOnOwnThread => Waited && Command is Command.TcpStream.ReceiveInto { CopyOnReadersThread: true };
}
