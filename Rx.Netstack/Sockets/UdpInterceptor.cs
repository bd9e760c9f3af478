using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Engine;

namespace Rx.Netstack.Sockets;

/// <summary>
/// Intercepts UDP to other hosts: datagrams to destinations within its prefixes (that are not the stack's own) arrive as
/// <see cref="UdpFlow"/>s, one per 4-tuple, each an observable of its datagrams whose replies leave from the original
/// destination. See docs/forwarding.md.
/// </summary>
public sealed class UdpInterceptor : IAsyncDisposable
{
    private int _closed;

    private UdpInterceptor(Netstack stack, SocketHandle handle, IReadOnlyList<NetPrefix> prefixes)
    {
        Stack = stack;
        Handle = handle;
        Prefixes = prefixes;
        Flows = RepeatedRequest.Loop<Reply.FlowOpened, UdpFlow>(stack, new Command.Intercept.Next(handle),
                f => new UdpFlow(stack, f.Flow, f.Local, f.Remote))
            .Publish().RefCount().IsolateSubscribers(stack);
    }

    /// <summary>Starts intercepting UDP to <paramref name="prefixes"/> (see <see cref="Command.Intercept.StartUdp"/>).</summary>
    /// <param name="stack">The stack.</param>
    /// <param name="prefixes">The destinations, e.g. 0.0.0.0/0 and ::/0 for all.</param>
    /// <param name="maxFlows">Flows open at once at most; a datagram that would open another is dropped (counted).</param>
    /// <param name="idleTimeout">A flow closes after this long without a datagram either way (default 60 s).</param>
    /// <param name="flowBufferSize">Bytes of datagrams a flow holds for the application (default: the stack's UDP receive buffer).</param>
    /// <param name="cancellationToken">Withdraws the request.</param>
    public static async Task<UdpInterceptor> StartAsync(Netstack stack, IReadOnlyList<NetPrefix> prefixes, int maxFlows = 1024,
        TimeSpan? idleTimeout = null, int? flowBufferSize = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(prefixes);
        var started = await stack.RequestAsync<Reply.Intercepting>(new Command.Intercept.StartUdp([.. prefixes], maxFlows, idleTimeout, flowBufferSize),
            cancellationToken).ConfigureAwait(false);
        return new UdpInterceptor(stack, started.Interceptor, [.. prefixes]);
    }

    /// <summary>The stack it intercepts on.</summary>
    public Netstack Stack { get; }

    /// <summary>The engine's handle of the interceptor.</summary>
    public SocketHandle Handle { get; }

    /// <summary>The destinations it answers for.</summary>
    public IReadOnlyList<NetPrefix> Prefixes { get; }

    /// <summary>New flows while someone is subscribed (shared). Completes when the interceptor closes. Delivered on the stack's scheduler.</summary>
    public IObservable<UdpFlow> Flows { get; }

    /// <summary>Waits for the next new flow.</summary>
    public async Task<UdpFlow> NextAsync(CancellationToken cancellationToken = default)
    {
        var f = await Stack.RequestAsync<Reply.FlowOpened>(new Command.Intercept.Next(Handle), cancellationToken).ConfigureAwait(false);
        return new UdpFlow(Stack, f.Flow, f.Local, f.Remote);
    }

    /// <summary>Stops intercepting; flows not yet taken close, taken ones stay.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { await Stack.RequestAsync(new Command.Intercept.Close(Handle)).ConfigureAwait(false); }
        catch (NetstackException) { /* already gone */ }
    }
}

/// <summary>
/// One intercepted UDP flow: the datagrams between a client (<see cref="Remote"/>) and the destination it sent to
/// (<see cref="Local"/>, which replies come from). It ends after its idle timeout, when refused, or when disposed.
/// </summary>
public sealed class UdpFlow : IAsyncDisposable
{
    private readonly Netstack _stack;
    private int _closed;

    internal UdpFlow(Netstack stack, SocketHandle handle, NetEndpoint local, NetEndpoint remote)
    {
        _stack = stack;
        Handle = handle;
        Local = local;
        Remote = remote;
        Received = RepeatedRequest.Loop<Reply.DatagramReceived, Datagram>(stack, new Command.Udp.Receive(handle), static r => r.Datagram)
            .Publish().RefCount().IsolateSubscribers(stack);
    }

    /// <summary>The flow's UDP socket.</summary>
    public SocketHandle Handle { get; }

    /// <summary>The original destination: replies leave from it.</summary>
    public NetEndpoint Local { get; }

    /// <summary>The client.</summary>
    public NetEndpoint Remote { get; }

    /// <summary>The client's datagrams (the first included), while someone is subscribed (shared). Completes when the flow
    /// ends (idle timeout, refused, disposed). Delivered on the stack's scheduler.</summary>
    public IObservable<Datagram> Received { get; }

    /// <summary>Receives the next datagram of the flow.</summary>
    /// <exception cref="NetstackException">The flow ended (<see cref="NetstackErrorKind.SocketClosed"/> or a stale handle).</exception>
    public async Task<Datagram> ReceiveAsync(CancellationToken cancellationToken = default) =>
        (await _stack.RequestAsync<Reply.DatagramReceived>(new Command.Udp.Receive(Handle), cancellationToken).ConfigureAwait(false)).Datagram;

    /// <summary>Sends a datagram to the client, from <see cref="Local"/>.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        await _stack.RequestAsync<Reply.Sent>(new Command.Udp.Send(Handle, Remote, data), cancellationToken).ConfigureAwait(false);

    /// <summary>Ends the flow telling the client, with an ICMP error from <see cref="Local"/> (port unreachable by default).</summary>
    public async Task RefuseAsync(InterceptRefusal how = InterceptRefusal.PortUnreachable, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { await _stack.RequestAsync(new Command.Intercept.RefuseFlow(Handle, how), cancellationToken).ConfigureAwait(false); }
        catch (NetstackException e) when (e.Kind is NetstackErrorKind.StaleHandle) { /* it ended already */ }
    }

    /// <summary>Ends the flow quietly.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { await _stack.RequestAsync(new Command.Udp.Close(Handle)).ConfigureAwait(false); }
        catch (NetstackException) { /* it ended already (idle) */ }
    }

    /// <inheritdoc />
    public override string ToString() => $"UDP {Remote} → {Local}";
}
