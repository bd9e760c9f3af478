using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Subjects;

namespace Rx.Netstack.Devices;

/// <summary>
/// IP packets carried one per UDP datagram between two endpoints over real sockets: a minimal tunnel that joins
/// two stacks (two processes, two machines) with nothing but UDP reachability.
/// </summary>
/// <remarks>
/// <para>A receive loop awaits <c>ReceiveFromAsync</c> into one pooled buffer (no thread is blocked, nothing is
/// allocated per datagram) and hands each datagram to <see cref="Received"/> subscribers, borrowed, on a
/// thread-pool thread. Only datagrams from <see cref="RemoteEndPoint"/> are accepted; others are dropped and
/// counted, so a stray sender cannot inject packets.</para>
/// <para><see cref="Transmit"/> sends without blocking; a datagram the socket cannot take at once, or any
/// send error, is dropped and counted in <see cref="TransmitDropped"/> (IP is best-effort).</para>
/// </remarks>
public sealed class UdpTunnelDevice : IPacketDevice, IDisposable
{
    /// <summary>Default MTU: leaves room for the outer IP and UDP headers on a 1500-byte path, with margin.</summary>
    public const int DefaultMtu = 1400;

    private const int ReceiveBufferSize = 65536;
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TransmitObserver _transmit;
    private readonly Task _receiveLoop;
    private volatile Remote? _remote;
    private int _deliveringThread = -1;
    private int _disposed;
    private long _transmitDropped;
    private long _receiveDropped;

    /// <summary>Raised on the receive loop after each datagram counted in <see cref="ReceiveDropped"/> (tests wait on it).</summary>
    internal event Action? ReceiveDropping;

    /// <summary>Binds a UDP socket at <paramref name="localEndPoint"/> (port 0 picks a free port) and starts receiving.</summary>
    /// <param name="localEndPoint">Where to listen.</param>
    /// <param name="remoteEndPoint">The other end of the tunnel; may be set later through <see cref="RemoteEndPoint"/>.</param>
    /// <param name="mtu">The largest IP packet carried.</param>
    public UdpTunnelDevice(IPEndPoint localEndPoint, IPEndPoint? remoteEndPoint = null, int mtu = DefaultMtu)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mtu, 65507); // the largest UDP payload over IPv4
        Mtu = mtu;
        _socket = new Socket(localEndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.Bind(localEndPoint);
            _socket.Blocking = false; // sends must never stall the stack's scheduler
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        RemoteEndPoint = remoteEndPoint;
        _transmit = new TransmitObserver(this);
        _receiveLoop = Task.Run(ReceiveLoopAsync);
    }

    /// <summary>The bound local endpoint (with the actual port).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The other end: where frames are sent and the only source accepted. Null: nothing is sent or accepted.</summary>
    public IPEndPoint? RemoteEndPoint
    {
        get => _remote?.EndPoint;
        set => _remote = value is null ? null : new Remote(value, value.Serialize());
    }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received => _received;

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <inheritdoc />
    public int Mtu { get; }

    /// <summary>Frames not sent: no remote, too long, socket full or failed.</summary>
    public long TransmitDropped => Interlocked.Read(ref _transmitDropped);

    /// <summary>Datagrams ignored: from another source, or longer than <see cref="Mtu"/>.</summary>
    public long ReceiveDropped => Interlocked.Read(ref _receiveDropped);

    /// <summary>True while the receive loop runs (for tests: it must end on <see cref="Dispose"/>).</summary>
    internal bool IsReceiving => !_receiveLoop.IsCompleted;

    /// <summary>Stops the receive loop, closes the socket and completes <see cref="Received"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _socket.Dispose();
        // Waiting from inside a delivery would wait for ourselves: the loop ends right after OnNext returns.
        if (Volatile.Read(ref _deliveringThread) != Environment.CurrentManagedThreadId)
            _receiveLoop.Wait(StopTimeout);
    }

    private async Task ReceiveLoopAsync()
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        var from = new SocketAddress(_socket.AddressFamily);
        Exception? failure = null;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int length;
                try
                {
                    length = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
                {
                    continue; // an ICMP error about an earlier send, or an oversized datagram: not fatal
                }
                Remote? remote = _remote;
                if (remote is null || !from.Equals(remote.Address) || length > Mtu)
                {
                    Interlocked.Increment(ref _receiveDropped);
                    ReceiveDropping?.Invoke();
                    continue;
                }
                Volatile.Write(ref _deliveringThread, Environment.CurrentManagedThreadId);
                try
                {
                    _received.OnNext(new ReadOnlyMemory<byte>(buffer, 0, length));
                }
                finally
                {
                    Volatile.Write(ref _deliveringThread, -1);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && _stop.IsCancellationRequested)
        {
            // Disposed: a normal end.
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (failure is not null) _received.OnError(failure);
        else _received.OnCompleted();
    }

    private void Send(ReadOnlyMemory<byte> frame)
    {
        Remote? remote = _remote;
        if (remote is null || frame.Length > Mtu || Volatile.Read(ref _disposed) != 0)
        {
            Interlocked.Increment(ref _transmitDropped);
            return;
        }
        try
        {
            _socket.SendTo(frame.Span, SocketFlags.None, remote.Address);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _transmitDropped);
        }
    }

    private sealed record Remote(IPEndPoint EndPoint, SocketAddress Address);

    private sealed class TransmitObserver(UdpTunnelDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => owner.Send(value);

        public void OnError(Exception error) => owner.Dispose();

        public void OnCompleted() => owner.Dispose();
    }
}
