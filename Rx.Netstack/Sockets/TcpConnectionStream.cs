namespace Rx.Netstack.Sockets;

/// <summary>
/// A <see cref="Stream"/> over a <see cref="TcpConnection"/>: reads pull from the connection, writes wait for buffer space.
/// Works under <see cref="StreamReader"/>, <c>SslStream</c> and <c>HttpClient</c> (through <c>SocketsHttpHandler.ConnectCallback</c>).
/// The synchronous <see cref="Read"/> and <see cref="Write"/> block the calling thread until the engine answers; on the engine's
/// own thread they throw <see cref="InvalidOperationException"/> at once instead (they could never return there).
/// </summary>
internal sealed class TcpConnectionStream(TcpConnection connection) : Stream
{
    private int _disposed;

    public override bool CanRead => _disposed == 0;
    public override bool CanWrite => _disposed == 0;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        connection.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        connection.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        connection.Stack.ThrowIfOnEngineThread("A synchronous Stream.Read on a TCP connection");
        return ReadAsync(buffer, offset, count, default).GetAwaiter().GetResult();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        new(connection.SendAsync(buffer, cancellationToken));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        connection.SendAsync(buffer.AsMemory(offset, count), cancellationToken);

    public override void Write(byte[] buffer, int offset, int count)
    {
        connection.Stack.ThrowIfOnEngineThread("A synchronous Stream.Write on a TCP connection");
        WriteAsync(buffer, offset, count, default).GetAwaiter().GetResult();
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _ = connection.CloseAsync();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) await connection.CloseAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
