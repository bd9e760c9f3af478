using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.AspNetCore;

/// <summary>
/// Kestrel's listener over one or two <see cref="TcpConnectionListener"/>s (two for <c>[::]</c>, which Kestrel means as "every IPv4 and
/// IPv6 address"): accept loops feed a channel that <see cref="AcceptAsync"/> reads; unbinding closes the listeners and ends it.
/// </summary>
internal sealed class NetstackConnectionListener : IConnectionListener
{
    private readonly IReadOnlyList<TcpConnectionListener> _listeners;
    private readonly NetstackTransportOptions _options;
    private readonly Channel<TcpConnection> _accepted = Channel.CreateUnbounded<TcpConnection>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task _acceptLoops;
    private int _unbound;

    private NetstackConnectionListener(IReadOnlyList<TcpConnectionListener> listeners, EndPoint endPoint, NetstackTransportOptions options)
    {
        _listeners = listeners;
        _options = options;
        EndPoint = endPoint;
        _acceptLoops = Task.WhenAll(listeners.Select(AcceptLoopAsync))
            .ContinueWith(_ => _accepted.Writer.TryComplete(), TaskScheduler.Default);
    }

    public EndPoint EndPoint { get; }

    public static async ValueTask<NetstackConnectionListener> BindAsync(Netstack stack, IPEndPoint endPoint, NetstackTransportOptions options,
        CancellationToken cancellationToken)
    {
        var local = NetEndpoint.FromIPEndPoint(endPoint);
        var listeners = new List<TcpConnectionListener>();
        try
        {
            listeners.Add(await TcpConnectionListener.ListenAsync(stack, local, options.Backlog, options.TcpSettings, cancellationToken).ConfigureAwait(false));
            ushort port = listeners[0].Local.Port; // port 0: the second listener takes the port the first was given
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
                listeners.Add(await TcpConnectionListener.ListenAsync(stack, new NetEndpoint(NetAddress.AnyV4, port), options.Backlog, options.TcpSettings,
                    cancellationToken).ConfigureAwait(false));
            return new NetstackConnectionListener(listeners, new IPEndPoint(endPoint.Address, port), options);
        }
        catch (NetstackException e) when (e.Error.Reason == BadRequestReason.PortInUse)
        {
            foreach (TcpConnectionListener listener in listeners) await listener.DisposeAsync().ConfigureAwait(false);
            throw new AddressInUseException(e.Message, e);
        }
        catch
        {
            foreach (TcpConnectionListener listener in listeners) await listener.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Feeds the channel until the listener closes or the stack goes. Overload is waited out inside AcceptAllAsync; what an
    /// accepted connection does later is its own business: this loop only ends with its listener.
    /// </summary>
    private async Task AcceptLoopAsync(TcpConnectionListener listener)
    {
        try
        {
            await foreach (TcpConnection connection in listener.AcceptAllAsync().ConfigureAwait(false))
                if (!_accepted.Writer.TryWrite(connection)) await connection.AbortAsync().ConfigureAwait(false);
        }
        catch (NetstackException e) when (e.Kind == NetstackErrorKind.StackDisposed)
        {
            // The stack went first: Kestrel sees the listener end.
        }
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            TcpConnection connection = await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new NetstackConnectionContext(connection, _options);
        }
        catch (ChannelClosedException)
        {
            return null; // unbound
        }
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbound, 1) != 0) return;
        foreach (TcpConnectionListener listener in _listeners) await listener.DisposeAsync().ConfigureAwait(false);
        await _acceptLoops.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync().ConfigureAwait(false);
        while (_accepted.Reader.TryRead(out TcpConnection? orphan)) await orphan.AbortAsync().ConfigureAwait(false); // accepted, never handed to Kestrel
    }
}
