using System.IO.Pipelines;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>
/// A <see cref="TcpConnection"/> as an <see cref="IDuplexPipe"/> (System.IO.Pipelines), with two pumps:
/// <list type="bullet">
/// <item>receive: reads from the connection straight into <see cref="Input"/>'s buffers; when the application leaves
/// <see cref="PipeOptions.PauseWriterThreshold"/> bytes unread the pump stops reading, the connection's receive buffer fills
/// and TCP closes its window — back-pressure reaches the peer;</item>
/// <item>send: takes what the application wrote to <see cref="Output"/> and sends it; completing <see cref="Output"/> sends
/// FIN after the last byte (half-close), receiving goes on.</item>
/// </list>
/// A pending receive is never cancelled (the engine may be copying into the pipe's memory); it ends when the connection
/// ends or is closed. <see cref="DisposeAsync"/> waits for the send pump to drain, then closes the connection gracefully.
/// </summary>
public sealed class TcpDuplexPipe : IDuplexPipe, IAsyncDisposable
{
    private const int MinimumReadSize = 4096;

    private readonly Pipe _receive;
    private readonly Pipe _send;
    private readonly Task _receivePump;
    private readonly Task _sendPump;
    private int _disposed;
    private volatile bool _aborted;

    /// <summary>Starts the pumps over <paramref name="connection"/>.</summary>
    /// <param name="connection">The connection; the pipe owns it from now on (disposing the pipe closes it).</param>
    /// <param name="receiveOptions">Options of the input pipe (its pause threshold bounds unread bytes). Default: pause at 64 KiB, resume at 32 KiB.</param>
    /// <param name="sendOptions">Options of the output pipe (its pause threshold makes <c>FlushAsync</c> wait for the network). Default: same.</param>
    public TcpDuplexPipe(TcpConnection connection, PipeOptions? receiveOptions = null, PipeOptions? sendOptions = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        Connection = connection;
        _receive = new Pipe(receiveOptions ?? DefaultOptions);
        _send = new Pipe(sendOptions ?? DefaultOptions);
        // The pumps run on the caller's thread up to their first wait: no thread-pool hop, and under a supplied scheduler
        // the first read is queued before the constructor returns rather than at some later moment of real time. Without
        // the caller's SynchronizationContext, so a pipe whose options ask to capture one does not resume a pump on it.
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            _receivePump = ReceiveLoopAsync();
            _sendPump = SendLoopAsync();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
        Completion = Task.WhenAll(_receivePump, _sendPump);
    }

    private static PipeOptions DefaultOptions { get; } = new(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024,
        useSynchronizationContext: false);

    /// <summary>The connection under the pipe.</summary>
    public TcpConnection Connection { get; }

    /// <summary>Bytes received from the peer. Completes at the peer's FIN; fails with <see cref="IOException"/> on reset.</summary>
    public PipeReader Input => _receive.Reader;

    /// <summary>Bytes to send. <c>Complete()</c> sends FIN after the last byte.</summary>
    public PipeWriter Output => _send.Writer;

    /// <summary>Completes when both pumps ended (peer finished or connection failed, and our side completed or failed).</summary>
    public Task Completion { get; }

    private async Task ReceiveLoopAsync()
    {
        PipeWriter writer = _receive.Writer;
        Exception? failure = null;
        try
        {
            while (true)
            {
                Memory<byte> memory = writer.GetMemory(MinimumReadSize);
                // Resumes on the engine: this loop never blocks (a full pipe makes FlushAsync wait, and its continuation runs on
                // the pipe's scheduler, the thread pool), so the bytes go straight into the pipe's memory and no hop follows.
                int n = await Connection.ReadAsync(memory, resumeOnEngine: true).ConfigureAwait(false);
                if (n == 0) break; // FIN: the peer finished sending
                writer.Advance(n);
                FlushResult flushed = await writer.FlushAsync().ConfigureAwait(false); // waits while the reader is behind
                if (flushed.IsCompleted) break; // the application stopped reading
            }
        }
        catch (NetstackException e) when (e.Kind is NetstackErrorKind.SocketClosed or NetstackErrorKind.StaleHandle)
        {
            // Closed locally: the stream simply ends.
        }
        catch (NetstackException e)
        {
            failure = new IOException(e.Message, e);
        }
        await writer.CompleteAsync(failure).ConfigureAwait(false);
    }

    private async Task SendLoopAsync()
    {
        PipeReader reader = _send.Reader;
        Exception? failure = null;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                    if (!segment.IsEmpty) await Connection.SendAsync(segment, resumeOnEngine: true).ConfigureAwait(false); // as above
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled) break;
            }
            if (!_aborted) await Connection.ShutdownWriteAsync().ConfigureAwait(false); // RFC 9293 §3.6: FIN after the queued data
        }
        catch (NetstackException) when (_aborted)
        {
            // Reset by us: whatever was queued is gone, by request.
        }
        catch (NetstackException e)
        {
            failure = new IOException(e.Message, e);
        }
        await reader.CompleteAsync(failure).ConfigureAwait(false);
    }

    /// <summary>Resets the connection at once (RST); both pumps end, unsent output is discarded.</summary>
    /// <param name="cancellationToken">Withdraws the RST if the engine has not taken it yet (see
    /// <see cref="TcpConnection.AbortAsync"/>); the pumps stop either way.</param>
    public Task AbortAsync(CancellationToken cancellationToken = default)
    {
        _aborted = true;
        _send.Reader.CancelPendingRead();
        return Connection.AbortAsync(cancellationToken);
    }

    /// <summary>
    /// Completes our side (if the application did not), waits for queued output to be handed to the connection, then closes it
    /// gracefully (the engine finishes the FIN handshake in the background).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _send.Writer.CompleteAsync().ConfigureAwait(false);
        await _sendPump.ConfigureAwait(false);
        await Connection.CloseAsync().ConfigureAwait(false); // fails the pending receive with SocketClosed: the receive pump ends
        await _receivePump.ConfigureAwait(false);
        await _receive.Reader.CompleteAsync().ConfigureAwait(false);
    }
}
