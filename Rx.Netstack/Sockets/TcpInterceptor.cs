using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Engine;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Sockets;

/// <summary>
/// Intercepts TCP to other hosts: every SYN to a destination within its prefixes (that is not the stack's own) is an
/// <see cref="TcpInterception"/> the application accepts or refuses; the client's handshake completes only on accept.
/// The heart of a transparent proxy or a VPN's subnet router; see docs/forwarding.md.
/// </summary>
public sealed class TcpInterceptor : IAsyncDisposable
{
    private int _closed;

    private TcpInterceptor(Netstack stack, SocketHandle handle, IReadOnlyList<NetPrefix> prefixes)
    {
        Stack = stack;
        Handle = handle;
        Prefixes = prefixes;
        Offers = RepeatedRequest.Loop<Reply.TcpOffered, TcpInterception>(stack, new Command.Intercept.Next(handle),
                o => new TcpInterception(this, o.Offer, o.Source, o.Destination))
            .Publish().RefCount().IsolateSubscribers(stack);
    }

    /// <summary>Starts intercepting TCP to <paramref name="prefixes"/> (see <see cref="Command.Intercept.StartTcp"/>).</summary>
    /// <param name="stack">The stack.</param>
    /// <param name="prefixes">The destinations, e.g. 0.0.0.0/0 and ::/0 for all.</param>
    /// <param name="backlog">Offers that may wait undecided at once; a SYN beyond is dropped (counted) and retransmitted by its client.
    /// On a stack of several engines each engine holds its share (docs/forwarding.md, "Several engines").</param>
    /// <param name="settings">Settings of the accepted connections (default: the stack's).</param>
    /// <param name="decisionTimeout">How long an offer may wait for a decision before it is refused with a reset (default 30 s).</param>
    /// <param name="cancellationToken">Withdraws the request.</param>
    public static async Task<TcpInterceptor> StartAsync(Netstack stack, IReadOnlyList<NetPrefix> prefixes, int backlog = 128,
        TcpSettings? settings = null, TimeSpan? decisionTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(prefixes);
        var started = await stack.RequestAsync<Reply.Intercepting>(new Command.Intercept.StartTcp([.. prefixes], backlog, settings, decisionTimeout),
            cancellationToken).ConfigureAwait(false);
        return new TcpInterceptor(stack, started.Interceptor, [.. prefixes]);
    }

    /// <summary>The stack it intercepts on.</summary>
    public Netstack Stack { get; }

    /// <summary>The engine's handle of the interceptor (of a stack of several engines, the home engine's, which stands for all).</summary>
    public SocketHandle Handle { get; }

    /// <summary>The destinations it answers for.</summary>
    public IReadOnlyList<NetPrefix> Prefixes { get; }

    /// <summary>
    /// Offers as clients send SYNs, while someone is subscribed (shared). Decide each one (accept or refuse) — an offer left
    /// undecided holds a place in the backlog until its decision timeout. Completes when the interceptor closes. Delivered on
    /// the stack's scheduler.
    /// </summary>
    public IObservable<TcpInterception> Offers { get; }

    /// <summary>Waits for the next offer.</summary>
    public async Task<TcpInterception> NextAsync(CancellationToken cancellationToken = default)
    {
        var o = await Stack.RequestAsync<Reply.TcpOffered>(new Command.Intercept.Next(Handle), cancellationToken).ConfigureAwait(false);
        return new TcpInterception(this, o.Offer, o.Source, o.Destination);
    }

    /// <summary>Stops intercepting; undecided offers are reset. Accepted connections stay open.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { await Stack.RequestAsync(new Command.Intercept.Close(Handle)).ConfigureAwait(false); }
        catch (NetstackException) { /* already gone */ }
    }
}

/// <summary>
/// One client's SYN to an intercepted destination, waiting for a decision: <see cref="AcceptAsync"/> (the stack completes
/// the handshake as <see cref="Destination"/>) or <see cref="RefuseAsync"/>.
/// </summary>
public sealed class TcpInterception
{
    private readonly TcpInterceptor _interceptor;

    internal TcpInterception(TcpInterceptor interceptor, long id, NetEndpoint source, NetEndpoint destination)
    {
        _interceptor = interceptor;
        Id = id;
        Source = source;
        Destination = destination;
    }

    /// <summary>The offer's id in the engine.</summary>
    public long Id { get; }

    /// <summary>The client.</summary>
    public NetEndpoint Source { get; }

    /// <summary>The original destination the client asked for.</summary>
    public NetEndpoint Destination { get; }

    /// <summary>
    /// Accepts: completes when the client's handshake completes, with a connection whose <see cref="TcpConnection.Local"/> is
    /// <see cref="Destination"/>.
    /// </summary>
    /// <exception cref="NetstackException">The client reset meanwhile or never completed the handshake, the offer was decided
    /// or expired already, or the stack holds its maximum of sockets.</exception>
    public async Task<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        Netstack stack = _interceptor.Stack;
        var c = await stack.RequestAsync<Reply.Connected>(new Command.Intercept.Accept(_interceptor.Handle, Id), cancellationToken).ConfigureAwait(false);
        return new TcpConnection(stack, c.Socket, c.Local, c.Remote);
    }

    /// <summary>Refuses: the client gets a reset (default), an ICMP unreachable from <see cref="Destination"/>, or nothing.</summary>
    /// <exception cref="NetstackException">The offer was decided, withdrawn or expired already.</exception>
    public Task RefuseAsync(InterceptRefusal how = InterceptRefusal.Reset, CancellationToken cancellationToken = default) =>
        _interceptor.Stack.RequestAsync(new Command.Intercept.Refuse(_interceptor.Handle, Id, how), cancellationToken);

    /// <inheritdoc />
    public override string ToString() => $"TCP {Source} → {Destination} (offer {Id})";
}
