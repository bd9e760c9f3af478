using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli.Services;

/// <summary>The echo service (RFC 862) over TCP: every byte received is sent back; the peer's FIN is answered with ours.</summary>
public sealed class TcpEchoService(ushort port = 7, TextWriter? log = null) : TcpService("echo", port, log)
{
    private long _bytes;

    /// <summary>Bytes echoed since start.</summary>
    public long BytesEchoed => Interlocked.Read(ref _bytes);

    /// <inheritdoc />
    protected override async Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await connection.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await connection.SendAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            total += read;
            Interlocked.Add(ref _bytes, read);
        }
        await connection.ShutdownWriteAsync(cancellationToken).ConfigureAwait(false);
        Write($"{connection.Remote}: echoed {total} bytes");
    }
}
