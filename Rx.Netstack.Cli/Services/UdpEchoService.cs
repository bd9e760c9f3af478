using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli.Services;

/// <summary>The echo service (RFC 862) over UDP: every datagram goes back to where it came from.</summary>
public sealed class UdpEchoService(ushort port = 7, TextWriter? log = null) : IAsyncDisposable
{
    private readonly List<UdpSocket> _sockets = [];
    private readonly List<IDisposable> _subscriptions = [];
    private readonly TextWriter _log = log ?? TextWriter.Null;
    private long _echoed;

    /// <summary>The UDP port.</summary>
    public ushort Port { get; } = port;

    /// <summary>Datagrams echoed since start.</summary>
    public long DatagramsEchoed => Interlocked.Read(ref _echoed);

    /// <summary>Binds <see cref="Port"/> on all IPv4 and/or IPv6 addresses of <paramref name="stack"/> and starts echoing.</summary>
    public async Task StartAsync(Netstack stack, bool ipv4 = true, bool ipv6 = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        foreach (bool v6 in new[] { false, true })
        {
            if (v6 ? !ipv6 : !ipv4) continue;
            var socket = await stack.BindUdpAsync(Port, v6, cancellationToken).ConfigureAwait(false);
            _sockets.Add(socket);
            _subscriptions.Add(socket.Received.Subscribe(d => Echo(socket, d), e => Write($"{socket.Local} failed: {e.Message}")));
        }
    }

    private void Echo(UdpSocket socket, Datagram datagram)
    {
        // Called on the engine's scheduler: submit the send and return at once; the datagram's bytes are ours to keep.
        socket.SendAsync(datagram.Data, datagram.Source).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) Interlocked.Increment(ref _echoed);
            else Write($"echo to {datagram.Source} failed: {t.Exception?.InnerException?.Message}");
        }, TaskScheduler.Default);
    }

    private void Write(string message)
    {
        lock (_log) _log.WriteLine($"[udp-echo/{Port}] {message}");
    }

    /// <summary>Stops echoing and closes the sockets.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var subscription in _subscriptions) subscription.Dispose();
        _subscriptions.Clear();
        foreach (var socket in _sockets) await socket.DisposeAsync().ConfigureAwait(false);
        _sockets.Clear();
    }
}
