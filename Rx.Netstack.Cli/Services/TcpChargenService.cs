using System.Text;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli.Services;

/// <summary>
/// The character generator (RFC 864) over TCP, a "source": sends lines of rotating printable ASCII as fast as the peer takes
/// them, until the peer closes (its FIN or RST), ignoring whatever it sends.
/// </summary>
public sealed class TcpChargenService(ushort port = 19, TextWriter? log = null) : TcpService("chargen", port, log)
{
    /// <summary>One whole period of the pattern: 95 lines of 72 characters and CRLF, each line starting one character later.</summary>
    public static ReadOnlyMemory<byte> Pattern { get; } = BuildPattern();

    /// <summary>
    /// What one send queues: 37 whole periods (256,595 bytes), so the stream is still the pattern repeated, but a fast peer
    /// costs one command per 256 KB instead of one per 6.9 KB (the reference stacks' sources write 256 KiB per call too).
    /// </summary>
    private static readonly ReadOnlyMemory<byte> Block = Repeat(Pattern, 37);

    private long _bytes;

    /// <summary>Bytes sent since start.</summary>
    public long BytesSent => Interlocked.Read(ref _bytes);

    /// <inheritdoc />
    protected override async Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        using var peerDone = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var drain = DrainUntilPeerClosesAsync(connection, peerDone);
        long sent = 0;
        try
        {
            while (!peerDone.IsCancellationRequested)
            {
                await connection.SendAsync(Block, peerDone.Token).ConfigureAwait(false);
                sent += Block.Length;
                Interlocked.Add(ref _bytes, Block.Length);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The peer closed: the normal end of a chargen session.
        }
        catch (NetstackException e) when (e.Kind is NetstackErrorKind.ConnectionReset or NetstackErrorKind.SocketClosed)
        {
            // A peer that closes with our data still unread resets the connection: also a normal end.
        }
        await drain.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        Write($"{connection.Remote}: sent {sent} bytes (whole pattern periods queued) until the peer closed");
    }

    private static async Task DrainUntilPeerClosesAsync(TcpConnection connection, CancellationTokenSource peerDone)
    {
        var buffer = new byte[4096];
        try
        {
            while (await connection.ReadAsync(buffer, peerDone.Token).ConfigureAwait(false) > 0) { }
        }
        catch (OperationCanceledException) { }
        catch (NetstackException) { }
        await peerDone.CancelAsync().ConfigureAwait(false);
    }

    private static byte[] Repeat(ReadOnlyMemory<byte> period, int times)
    {
        var block = new byte[period.Length * times];
        for (int i = 0; i < times; i++) period.Span.CopyTo(block.AsSpan(i * period.Length));
        return block;
    }

    private static byte[] BuildPattern()
    {
        const int printable = 95, lineLength = 72;
        var text = new StringBuilder(printable * (lineLength + 2));
        for (int line = 0; line < printable; line++)
        {
            for (int i = 0; i < lineLength; i++) text.Append((char)(' ' + (line + i) % printable));
            text.Append("\r\n");
        }
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
