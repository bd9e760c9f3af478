using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// What the three demultiplexers (TCP, UDP, raw) share: the layers
/// they use and the steps every socket command takes — find the socket of a handle, add a socket within
/// <see cref="NetstackOptions.MaxSockets"/>, close one. No virtual member: each demultiplexer is called as itself.
/// </summary>
internal abstract class TransportDemux
{
    protected TransportDemux(IpLayer ip, PassScheduler passes, SocketRegistry sockets, NetstackOptions options, NetstackCounters counters)
    {
        Ip = ip;
        Passes = passes;
        Sockets = sockets;
        Options = options;
        Counters = counters;
    }

    /// <summary>Where packets are sent, and what the stack's addresses are.</summary>
    protected IpLayer Ip { get; }

    /// <summary>Replies, the flush list and timers.</summary>
    protected PassScheduler Passes { get; }

    /// <summary>Every socket of the stack, by handle (shared by the demultiplexers: one handle space, one limit).</summary>
    protected SocketRegistry Sockets { get; }

    /// <summary>The stack's settings.</summary>
    protected NetstackOptions Options { get; }

    /// <summary>The stack's counters.</summary>
    protected NetstackCounters Counters { get; }

    /// <summary>Finds the socket of a request's handle, answering the request with the precise error when there is none.</summary>
    protected bool Lookup<T>(PendingRequest request, SocketHandle handle, out T? socket) where T : SocketState
    {
        NetstackError? error = Sockets.TryGet(handle, out socket);
        if (error is null) return true;
        Passes.Fail(request, error);
        return false;
    }

    /// <summary>True when a socket may be bound to <paramref name="address"/> (any, or one of the stack's); else answers the request.</summary>
    protected bool IsBindable(PendingRequest request, NetAddress address)
    {
        if (address.IsUnspecified || Ip.IsLocalAddress(address)) return true;
        Passes.Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"{address} is not an address of this stack."));
        return false;
    }

    /// <summary>
    /// Gives <paramref name="socket"/> a handle; false when the stack holds its maximum of sockets, and then
    /// <paramref name="request"/> (if any) is answered with <see cref="NetstackErrorKind.LimitReached"/>.
    /// </summary>
    protected bool TryAdd(SocketState socket, SocketKind kind, PendingRequest? request)
    {
        if (Sockets.TryAdd(socket, kind)) return true;
        if (request is not null)
            Passes.Fail(request, NetstackError.Of(NetstackErrorKind.LimitReached, $"The stack holds its maximum of {Options.MaxSockets} sockets."));
        return false;
    }

    /// <summary>Takes a socket out of the registry and the timer queue, failing its waiting requests with <paramref name="error"/>.</summary>
    protected void CloseSocket(SocketState socket, NetstackError error)
    {
        socket.FailAll(error);
        Sockets.Remove(socket);
        TimerQueue.Forget(socket);
    }

    /// <summary>A datagram or raw-packet receive: checks the maximum length, then waits on the socket (the flush answers it).</summary>
    protected void WaitForPacket<TMeta>(PendingRequest request, int? maxLength, PacketSocketState<TMeta> socket) where TMeta : struct
    {
        if (maxLength is <= 0)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.ZeroSizeBuffer, "A receive needs a maximum length of at least 1 byte."));
            return;
        }
        socket.Receivers.Enqueue(request);
        Passes.MarkDirty(socket);
    }
}
