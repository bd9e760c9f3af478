using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Engine;

namespace Rx.Netstack.Sockets;

/// <summary>
/// A UDP socket on a <see cref="Netstack"/>. Datagrams arrive as an observable (<see cref="Received"/>), so LINQ queries run
/// over traffic; sending is <see cref="SendAsync(ReadOnlyMemory{byte}, NetEndpoint, CancellationToken)"/>. Every datagram a
/// subscriber gets is its own copy.
/// </summary>
public sealed class UdpSocket : IAsyncDisposable, IDisposable
{
    private readonly Netstack _stack;
    private int _closed;

    private UdpSocket(Netstack stack, SocketHandle handle, NetEndpoint local)
    {
        _stack = stack;
        Handle = handle;
        Local = local;
        Received = Observable.Defer(() => ReceiveLoop()).Publish().RefCount().IsolateSubscribers(stack);
    }

    /// <summary>Binds a socket (port 0: an ephemeral port; unspecified address: all of the stack's addresses).</summary>
    public static async Task<UdpSocket> BindAsync(Netstack stack, NetEndpoint local, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        var bound = await stack.RequestAsync<Reply.Bound>(new Command.Udp.Bind(local), cancellationToken).ConfigureAwait(false);
        return new UdpSocket(stack, bound.Socket, bound.Local);
    }

    /// <summary>The engine's handle of this socket.</summary>
    public SocketHandle Handle { get; }

    /// <summary>The bound local endpoint.</summary>
    public NetEndpoint Local { get; }

    /// <summary>
    /// Every datagram that arrives while someone is subscribed (shared by all subscribers; the receive loop runs while there is
    /// at least one). Completes when the socket closes; errors with <see cref="NetstackException"/> if the stack goes away.
    /// Delivered on the stack's scheduler: use <c>ObserveOn</c> for slow work. An ICMP error about a datagram the socket sent
    /// (see <see cref="ReceiveAsync"/>) does not end it: one unreachable peer must not stop a server.
    /// </summary>
    public IObservable<Datagram> Received { get; }

    /// <summary>One receive per datagram (not batches): a subscriber that leaves takes nothing it was not given — what is
    /// still queued stays in the socket for the next receive.</summary>
    private IObservable<Datagram> ReceiveLoop() =>
        RepeatedRequest.Loop<Reply.DatagramReceived, Datagram>(_stack, new Command.Udp.Receive(Handle), static r => r.Datagram,
            isSkipped: static r => r is Reply.Error { Detail.Remote: not null });

    /// <summary>Sends one datagram. If an ICMP error about the last datagram to <paramref name="destination"/> is still
    /// unreported, it throws that instead, once (see <see cref="ReceiveAsync"/>).</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> data, NetEndpoint destination, CancellationToken cancellationToken = default) =>
        await _stack.RequestAsync<Reply.Sent>(new Command.Udp.Send(Handle, destination, data), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Receives one datagram (at most <paramref name="maxLength"/> bytes of it; the rest is cut and flagged). When an ICMP error
    /// came back about a datagram this socket sent and no datagram is queued, it throws instead, once, as a connected socket's
    /// receive on Linux does: <see cref="NetstackErrorKind.ConnectionRefused"/> for port unreachable,
    /// <see cref="NetstackErrorKind.Unreachable"/> for host or network unreachable, with <see cref="NetstackError.Remote"/> set.
    /// </summary>
    /// <exception cref="NetstackException">The socket is closed, or an ICMP error is reported.</exception>
    public async Task<Datagram> ReceiveAsync(int? maxLength = null, CancellationToken cancellationToken = default) =>
        (await _stack.RequestAsync<Reply.DatagramReceived>(new Command.Udp.Receive(Handle, maxLength), cancellationToken).ConfigureAwait(false)).Datagram;

    /// <summary>
    /// Receives every datagram queued now (up to <paramref name="maxDatagrams"/>), waiting for the first if none is: one
    /// request per burst instead of one per datagram, for high packet rates. Each is cut to <paramref name="maxLength"/>.
    /// </summary>
    /// <exception cref="NetstackException">The socket is closed, or <paramref name="maxDatagrams"/> is below 1.</exception>
    public async Task<IReadOnlyList<Datagram>> ReceiveBatchAsync(int maxDatagrams = 64, int? maxLength = null, CancellationToken cancellationToken = default) =>
        (await _stack.RequestAsync<Reply.DatagramsReceived>(new Command.Udp.ReceiveBatch(Handle, maxDatagrams, maxLength), cancellationToken)
            .ConfigureAwait(false)).Datagrams;

    /// <summary>
    /// Joins the multicast <paramref name="group"/> (of the socket's IP version): datagrams sent to it reach this socket while it
    /// is bound to their port, and the stack tells routers and snooping bridges with IGMP or MLD. Closing the socket leaves.
    /// </summary>
    /// <exception cref="NetstackException">Not a multicast address (<see cref="BadRequestReason.NotMulticast"/>), another IP
    /// version (<see cref="BadRequestReason.WrongIpVersion"/>), or joined already (<see cref="BadRequestReason.AlreadyJoined"/>).</exception>
    public async Task JoinGroupAsync(NetAddress group, CancellationToken cancellationToken = default) =>
        await _stack.RequestAsync<Reply.Ok>(new Command.Udp.JoinGroup(Handle, group), cancellationToken).ConfigureAwait(false);

    /// <summary>Leaves a multicast group the socket joined.</summary>
    /// <exception cref="NetstackException">The socket has not joined it (<see cref="BadRequestReason.NotJoined"/>).</exception>
    public async Task LeaveGroupAsync(NetAddress group, CancellationToken cancellationToken = default) =>
        await _stack.RequestAsync<Reply.Ok>(new Command.Udp.LeaveGroup(Handle, group), cancellationToken).ConfigureAwait(false);

    /// <summary>Sets the TTL / hop limit of datagrams this socket sends to multicast groups (1–255; 1 by default: the link only).</summary>
    public async Task SetMulticastHopLimitAsync(int hopLimit, CancellationToken cancellationToken = default) =>
        await _stack.RequestAsync<Reply.Ok>(new Command.Udp.SetMulticastHopLimit(Handle, hopLimit), cancellationToken).ConfigureAwait(false);

    /// <summary>Closes the socket and frees its endpoint.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try
        {
            await _stack.RequestAsync(new Command.Udp.Close(Handle)).ConfigureAwait(false);
        }
        catch (NetstackException)
        {
            // Already closed or the stack is gone: nothing is left to free.
        }
    }

    /// <summary>Closes the socket without waiting for the engine's reply.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _stack.Execute(new Command.Udp.Close(Handle)).Subscribe(_ => { });
    }
}
