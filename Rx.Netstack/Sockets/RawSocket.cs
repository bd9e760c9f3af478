using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Runtime.CompilerServices;
using Rx.Netstack.Commands;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Sockets;

/// <summary>
/// A raw IP socket: it receives a copy of every whole packet of its IP version and protocol that reaches the stack, and sends
/// whole IP packets that the engine checks (version, protocol, lengths) and transmits as they are. Usable as an observable
/// (<see cref="Received"/>), an async stream (<see cref="ReceiveAllAsync"/>) or one packet at a time.
/// </summary>
public sealed class RawSocket : IAsyncDisposable
{
    private int _closed;

    private RawSocket(Netstack stack, SocketHandle handle, int ipVersion, IpProtocol protocol)
    {
        Stack = stack;
        Handle = handle;
        IpVersion = ipVersion;
        Protocol = protocol;
        Received = RepeatedRequest.Loop<Reply.RawPacket, Reply.RawPacket>(stack, new Command.Raw.Receive(handle), static p => p)
            .Publish().RefCount().IsolateSubscribers(stack);
    }

    /// <summary>Opens a raw socket for IP version 4 or 6 and one protocol.</summary>
    /// <exception cref="NetstackException">A bad IP version, or the socket table is full.</exception>
    public static async Task<RawSocket> OpenAsync(Netstack stack, int ipVersion, IpProtocol protocol, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        var opened = await stack.RequestAsync<Reply.RawOpened>(new Command.Raw.Open(ipVersion, protocol), cancellationToken).ConfigureAwait(false);
        return new RawSocket(stack, opened.Socket, ipVersion, protocol);
    }

    /// <summary>The stack the socket lives on.</summary>
    public Netstack Stack { get; }

    /// <summary>The engine's handle of this socket.</summary>
    public SocketHandle Handle { get; }

    /// <summary>4 or 6.</summary>
    public int IpVersion { get; }

    /// <summary>The IP protocol whose packets the socket takes.</summary>
    public IpProtocol Protocol { get; }

    /// <summary>
    /// Every packet that arrives while someone is subscribed (shared; each packet is its own copy). Completes when the socket closes.
    /// Delivered on the stack's scheduler.
    /// </summary>
    public IObservable<Reply.RawPacket> Received { get; }

    /// <summary>Sends one whole IP packet.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default) =>
        await Stack.RequestAsync<Reply.Sent>(new Command.Raw.Send(Handle, packet), cancellationToken).ConfigureAwait(false);

    /// <summary>Receives one packet (at most <paramref name="maxLength"/> bytes of it; the rest is cut and flagged).</summary>
    public Task<Reply.RawPacket> ReceiveAsync(int? maxLength = null, CancellationToken cancellationToken = default) =>
        Stack.RequestAsync<Reply.RawPacket>(new Command.Raw.Receive(Handle, maxLength), cancellationToken);

    /// <summary>Packets as an async stream; ends when the socket closes.</summary>
    public async IAsyncEnumerable<Reply.RawPacket> ReceiveAllAsync(int? maxLength = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Reply.RawPacket packet;
            try
            {
                packet = await ReceiveAsync(maxLength, cancellationToken).ConfigureAwait(false);
            }
            catch (NetstackException e) when (e.Kind is NetstackErrorKind.SocketClosed or NetstackErrorKind.StaleHandle)
            {
                yield break;
            }
            yield return packet;
        }
    }

    /// <summary>Closes the socket.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { await Stack.RequestAsync(new Command.Raw.Close(Handle)).ConfigureAwait(false); }
        catch (NetstackException) { /* already gone */ }
    }

    /// <inheritdoc />
    public override string ToString() => $"raw IPv{IpVersion} {Protocol}";
}
