using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Runtime.CompilerServices;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Sockets;

/// <summary>
/// A TCP connection on a <see cref="Netstack"/>. Read it as a pulled stream (<see cref="ReadAsync(Memory{byte}, CancellationToken)"/>, <see cref="ReadAllAsync"/>,
/// <see cref="AsStream"/>) or as an observable (<see cref="Received"/>) that asks for the next chunk only after <c>OnNext</c>
/// returned — so a slow subscriber closes the TCP window instead of growing memory.
/// </summary>
public sealed class TcpConnection : IAsyncDisposable
{
    private int _closed; // 1 once the engine took a close or an abort

    internal TcpConnection(Netstack stack, SocketHandle handle, NetEndpoint local, NetEndpoint remote)
    {
        Stack = stack;
        Handle = handle;
        Local = local;
        Remote = remote;
    }

    /// <summary>Opens a connection to <paramref name="remote"/>; completes when it is established.</summary>
    /// <exception cref="NetstackException">Refused, timed out, unreachable, or a bad request (wrong IP version …).</exception>
    public static async Task<TcpConnection> ConnectAsync(Netstack stack, NetEndpoint remote, NetEndpoint? local = null,
        TcpSettings? settings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        var connected = await stack.RequestAsync<Reply.Connected>(new Command.TcpStream.Connect(remote, local, settings), cancellationToken).ConfigureAwait(false);
        return new TcpConnection(stack, connected.Socket, connected.Local, connected.Remote);
    }

    /// <summary>The stack the connection lives on.</summary>
    public Netstack Stack { get; }

    /// <summary>The engine's handle of this connection.</summary>
    public SocketHandle Handle { get; }

    /// <summary>Our endpoint.</summary>
    public NetEndpoint Local { get; }

    /// <summary>The peer's endpoint.</summary>
    public NetEndpoint Remote { get; }

    /// <summary>Reads at least one byte into <paramref name="buffer"/>, waiting for data; 0 means the peer finished sending.</summary>
    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ReadAsync(buffer, resumeOnEngine: false, cancellationToken);

    /// <summary>
    /// <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>, optionally resuming on the engine's thread (the library's own
    /// non-blocking loops: the duplex pipe's pumps): the bytes go straight into <paramref name="buffer"/> and no thread hop
    /// follows.
    /// </summary>
    internal async ValueTask<int> ReadAsync(Memory<byte> buffer, bool resumeOnEngine, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        bool inline = resumeOnEngine || Stack.Options.RunContinuationsInline;
        // SubmitAsync directly, not RequestAsync: one async state machine per read instead of two (the hot path of streams).
        var command = new Command.TcpStream.ReceiveInto(Handle, buffer) { CopyOnReadersThread = !inline };
        while (true)
        {
            Reply reply = await Stack.SubmitAsync(command, cancellationToken, inline).ConfigureAwait(false);
            // Readable: the bytes came while this read waited; asking again copies them here, on this thread.
            if (reply is not Reply.Readable) return NetstackRequests.Expect<Reply.ReceivedInto>(reply, command).Count;
        }
    }

    /// <summary>Receives the next chunk (a new buffer that is yours), or null at the end of the stream.</summary>
    public async Task<ReadOnlyMemory<byte>?> ReceiveAsync(int maxLength = 64 * 1024, CancellationToken cancellationToken = default)
    {
        Reply reply = await Stack.RequestAsync(new Command.TcpStream.Receive(Handle, maxLength), cancellationToken).ConfigureAwait(false);
        // The cast matters: "? data.Bytes : null" would type as ReadOnlyMemory<byte> (null converts through byte[]), an empty chunk.
        return reply is Reply.Data data ? data.Bytes : (ReadOnlyMemory<byte>?)null;
    }

    /// <summary>Sends all of <paramref name="data"/>, waiting for buffer space as needed (the engine reads the memory as it goes:
    /// don't change it until the task completes).</summary>
    public Task SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        SendAsync(data, resumeOnEngine: false, cancellationToken);

    /// <summary><see cref="SendAsync(ReadOnlyMemory{byte}, CancellationToken)"/>, optionally resuming on the engine's thread
    /// (the library's own non-blocking loops only).</summary>
    internal async Task SendAsync(ReadOnlyMemory<byte> data, bool resumeOnEngine, CancellationToken cancellationToken = default)
    {
        while (!data.IsEmpty)
        {
            var command = new Command.TcpStream.Send(Handle, data);
            var sent = NetstackRequests.Expect<Reply.Sent>(await Stack.SubmitAsync(command, cancellationToken, resumeOnEngine).ConfigureAwait(false), command);
            data = data[sent.Bytes..];
        }
    }

    /// <summary>
    /// The received bytes as an observable: each subscription pulls chunks one at a time and asks for the next only after
    /// <c>OnNext</c> returned, so a slow subscriber closes the TCP window instead of growing memory. Completes at the end of
    /// the stream; fails with <see cref="NetstackException"/> on reset. Values are delivered on the thread pool, one at a
    /// time (user code never runs on the engine: a slow or blocking <c>OnNext</c> holds back only this connection) — except
    /// on a stack with <see cref="NetstackOptions.RunContinuationsInline"/>, whose code has promised never to block: there
    /// they are delivered on the stack's scheduler, so in virtual time nothing runs on the thread pool.
    /// </summary>
    public IObservable<ReadOnlyMemory<byte>> Received =>
        ReceivedOn(Stack.Options.RunContinuationsInline ? Stack.Scheduler : TaskPoolScheduler.Default);

    /// <summary>
    /// <see cref="Received"/> with its notifications delivered on <paramref name="scheduler"/>. The stack's own scheduler is
    /// allowed (cheap synchronous subscribers save a thread hop), but then a slow <c>OnNext</c> stalls the whole engine.
    /// </summary>
    /// <param name="scheduler">Where <c>OnNext</c>, <c>OnCompleted</c> and <c>OnError</c> run.</param>
    public IObservable<ReadOnlyMemory<byte>> ReceivedOn(IScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return RepeatedRequest.Loop<Reply.Data, ReadOnlyMemory<byte>>(Stack, new Command.TcpStream.Receive(Handle), static d => d.Bytes,
            scheduler, isEnd: static reply => reply is Reply.EndOfStream);
    }

    /// <summary>The received bytes as an async stream of chunks, ending at the end of the stream.</summary>
    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await ReceiveAsync(64 * 1024, cancellationToken).ConfigureAwait(false) is { } chunk)
            yield return chunk;
    }

    /// <summary>A <see cref="System.IO.Stream"/> over this connection (disposing it closes the connection).</summary>
    public Stream AsStream() => new TcpConnectionStream(this);

    /// <summary>Sends FIN after the queued data; receiving goes on (half-close).</summary>
    public Task ShutdownWriteAsync(CancellationToken cancellationToken = default) =>
        Stack.RequestAsync(new Command.TcpStream.ShutdownWrite(Handle), cancellationToken);

    /// <summary>
    /// Closes gracefully; the engine finishes the close (FIN handshake, TIME-WAIT) in the background. Closing twice is harmless.
    /// </summary>
    /// <param name="cancellationToken">Withdraws the close if the engine has not taken it yet: the task is cancelled, the
    /// connection stays open, and a later <see cref="CloseAsync"/> or <see cref="DisposeAsync"/> still closes it. A close the
    /// engine took completes normally even if the token fires afterwards.</param>
    public Task CloseAsync(CancellationToken cancellationToken = default) =>
        ReleaseAsync(new Command.TcpStream.Close(Handle), cancellationToken);

    /// <summary>Resets the connection at once (RST). After a close or an abort the engine took, it does nothing.</summary>
    /// <param name="cancellationToken">Withdraws the abort if the engine has not taken it yet (the connection stays open).</param>
    public Task AbortAsync(CancellationToken cancellationToken = default) =>
        ReleaseAsync(new Command.TcpStream.Abort(Handle), cancellationToken);

    /// <summary>
    /// Sends a close or an abort unless one was taken already. The flag is set only once the engine answered: a request
    /// withdrawn by its token never reached the engine, so setting the flag before it would leave the connection open for
    /// good (every later close a no-op). Two racing closes both go; the engine answers the second with a stale handle.
    /// </summary>
    private async Task ReleaseAsync(Command command, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _closed) != 0) return;
        try
        {
            await Stack.RequestAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch (NetstackException)
        {
            // Closed already (a racing close), or the stack is gone: nothing is left to release.
        }
        Volatile.Write(ref _closed, 1);
    }

    /// <summary>The connection's state and counters now.</summary>
    public async Task<TcpConnectionInfo> GetInfoAsync(CancellationToken cancellationToken = default) =>
        (await Stack.RequestAsync<Reply.Info>(new Command.TcpStream.GetInfo(Handle), cancellationToken).ConfigureAwait(false)).Connection;

    /// <summary>The connection's info every <paramref name="period"/> (on the stack's scheduler) while it is open; distinct values only.</summary>
    public IObservable<TcpConnectionInfo> InfoUpdates(TimeSpan period) => Stack.InfoUpdates(Handle, period);

    /// <summary>The state changes of the connection (polled every <paramref name="period"/>).</summary>
    public IObservable<TcpState> StateChanges(TimeSpan period) => InfoUpdates(period).Select(i => i.State).DistinctUntilChanged();

    /// <summary>Closes gracefully (see <see cref="CloseAsync"/>).</summary>
    public ValueTask DisposeAsync() => new(CloseAsync());

    /// <inheritdoc />
    public override string ToString() => $"TCP {Local} ↔ {Remote}";
}
