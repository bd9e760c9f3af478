using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Engine;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Sockets;

/// <summary>A TCP listener whose accepted connections are a stream (<see cref="Accepted"/>).</summary>
public sealed class TcpConnectionListener : IAsyncDisposable
{
    private int _closed;

    private TcpConnectionListener(Netstack stack, SocketHandle handle, NetEndpoint local)
    {
        Stack = stack;
        Handle = handle;
        Local = local;
        Accepted = RepeatedRequest.Loop<Reply.Accepted, TcpConnection>(stack, new Command.TcpListen.Accept(handle),
                a => new TcpConnection(stack, a.Socket, a.Local, a.Remote))
            .Publish().RefCount().IsolateSubscribers(stack);
    }

    /// <summary>Listens on <paramref name="local"/> (unspecified address: all addresses; port 0: ephemeral).</summary>
    public static async Task<TcpConnectionListener> ListenAsync(Netstack stack, NetEndpoint local, int backlog = 128, TcpSettings? settings = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        var listening = await stack.RequestAsync<Reply.Listening>(new Command.TcpListen.Listen(local, backlog, settings), cancellationToken).ConfigureAwait(false);
        return new TcpConnectionListener(stack, listening.Listener, listening.Local);
    }

    /// <summary>The stack the listener lives on.</summary>
    public Netstack Stack { get; }

    /// <summary>The engine's handle of this listener.</summary>
    public SocketHandle Handle { get; }

    /// <summary>The local endpoint.</summary>
    public NetEndpoint Local { get; }

    /// <summary>
    /// Accepted connections, while someone is subscribed (shared by all subscribers). Completes when the listener closes.
    /// Delivered on the stack's scheduler.
    /// </summary>
    public IObservable<TcpConnection> Accepted { get; }

    /// <summary>Waits for the next established connection.</summary>
    public async Task<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var a = await Stack.RequestAsync<Reply.Accepted>(new Command.TcpListen.Accept(Handle), cancellationToken).ConfigureAwait(false);
        return new TcpConnection(Stack, a.Socket, a.Local, a.Remote);
    }

    /// <summary>Stops listening; connections not yet accepted are reset.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { await Stack.RequestAsync(new Command.TcpListen.Close(Handle)).ConfigureAwait(false); }
        catch (NetstackException) { /* already gone */ }
    }
}
