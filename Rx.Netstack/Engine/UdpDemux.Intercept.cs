using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// UDP interception: datagrams to destinations that are not the stack's are grouped into flows by 4-tuple. A flow is an
/// ordinary UDP socket bound to the original destination, in a table of its own, so replies leave from that address and
/// port and an ICMP error quoting the flow's datagrams can find it. Flows are bounded in number (per interceptor) and in
/// bytes (each its own receive buffer), and close when idle.
/// </summary>
internal sealed partial class UdpDemux
{
    /// <summary>Default idle timeout of a flow (Linux's conntrack keeps an unreplied UDP entry 30 s, a replied one 120 s).</summary>
    private static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>True when an interceptor answers for <paramref name="address"/>.</summary>
    public bool Intercepts(NetAddress address) => _interceptors.Count != 0 && FindInterceptor(address) is not null;

    private UdpInterceptorSocketState? FindInterceptor(NetAddress address)
    {
        UdpInterceptorSocketState? best = null;
        int bestLength = -1;
        foreach (UdpInterceptorSocketState i in _interceptors)
        {
            int length = i.MatchLength(address);
            if (length > bestLength) (best, bestLength) = (i, length);
        }
        return best;
    }

    /// <summary>A datagram to an intercepted destination: to its flow, or to a new one.</summary>
    private void InterceptInput(in IpInfo ip, NetEndpoint destination, NetEndpoint source, ReadOnlySpan<byte> payload, Instant now)
    {
        if (!_flows.TryGetValue((destination, source), out UdpSocketState? flow))
        {
            UdpInterceptorSocketState? interceptor = FindInterceptor(ip.Destination);
            if (interceptor is null)
            {
                Counters.Drop(DropReason.NotForUs); // intercepted for another protocol only
                return;
            }
            if (source.Address.IsUnspecified || source.Address.IsMulticast || source.Address.IsBroadcast || destination.Address.IsMulticast
                || destination.Address.IsUnspecified || destination.Address.IsBroadcast || source.Port == 0 || destination.Port == 0)
            {
                Counters.Drop(DropReason.UdpNoSocket); // no flow can answer it
                return;
            }
            if (interceptor.OpenFlows >= interceptor.MaxFlows)
            {
                Counters.Drop(DropReason.UdpFlowLimit);
                return;
            }
            flow = new UdpSocketState(Passes, destination, interceptor.FlowBufferSize, Options.UdpReceiveQueueLength,
                new InterceptedFlow(interceptor, source, now));
            if (!TryAdd(flow, SocketKind.Udp, null))
            {
                Counters.Drop(DropReason.SocketLimit);
                return;
            }
            _flows.Add((destination, source), flow);
            interceptor.OpenFlows++;
            interceptor.Untaken.Enqueue(flow);
            Counters.UdpFlowsOpened++;
            Passes.MarkDirty(interceptor);
            Passes.MarkDirty(flow); // queued at its idle deadline by the flush
        }
        flow.Flow!.LastActivity = now;
        Deliver(flow, new UdpSocketState.Meta(source, destination), payload);
    }

    /// <summary>Takes a flow out of the 4-tuple table and its interceptor's count (before its socket closes).</summary>
    private void RemoveFlow(UdpSocketState flow)
    {
        if (!_flows.Remove((flow.Local, flow.Flow!.Remote))) return;
        flow.Flow.Interceptor.OpenFlows--;
        if (flow.Flow.Untaken) flow.Flow.Interceptor.CompactUntaken();
        System.Diagnostics.Debug.Assert(flow.Flow.Interceptor.OpenFlows >= 0, "an interceptor's flow count is never negative");
    }

    /// <summary>A flow's idle timeout passed: it closes, and a receive waiting on it ends (the end of its datagram stream).</summary>
    public void ExpireFlow(UdpSocketState flow)
    {
        RemoveFlow(flow);
        Counters.UdpFlowsExpired++;
        CloseSocket(flow, NetstackError.Of(NetstackErrorKind.SocketClosed, $"The intercepted flow {flow.Flow!.Remote} → {flow.Local} was idle for {flow.Flow.Interceptor.IdleTimeout.TotalSeconds:0.###} s."));
    }

    /// <summary>Runs the UDP part of a <see cref="Command.Intercept"/> command.</summary>
    public void Execute(PendingRequest request, Command.Intercept command, Instant now)
    {
        switch (command)
        {
            case Command.Intercept.StartUdp udp:
                StartIntercepting(request, udp);
                break;
            case Command.Intercept.Next next:
                if (!Lookup(request, next.Interceptor, out UdpInterceptorSocketState? interceptor)) break;
                interceptor!.Takers.Enqueue(request);
                Passes.MarkDirty(interceptor);
                break;
            case Command.Intercept.RefuseFlow refuse:
                if (!Lookup(request, refuse.Flow, out UdpSocketState? flow)) break;
                if (flow!.Flow is null)
                {
                    Passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, $"{refuse.Flow} is a bound UDP socket, not an intercepted flow."));
                    break;
                }
                if (refuse.How != InterceptRefusal.Drop)
                {
                    // The quote: a UDP header from the client to the original destination (RFC 792 asks for 8 bytes).
                    Span<byte> head = stackalloc byte[UdpHeader.HeaderLength];
                    UdpHeader.Emit(head, new UdpHeader(flow.Flow.Remote.Port, flow.Local.Port), 0, flow.Flow.Remote.Address, flow.Local.Address, computeChecksum: false);
                    Ip.SendInterceptRefusal(flow.Flow.Remote.Address, flow.Local.Address, IpProtocol.Udp, head,
                        refuse.How == InterceptRefusal.Reset ? InterceptRefusal.PortUnreachable : refuse.How, now);
                }
                RemoveFlow(flow);
                CloseSocket(flow, NetstackError.Of(NetstackErrorKind.SocketClosed, "The intercepted flow was refused."));
                Passes.Complete(request, Reply.Ok.Instance);
                break;
            case Command.Intercept.Close close:
                if (!Lookup(request, close.Interceptor, out interceptor)) break;
                _interceptors.Remove(interceptor!);
                while (interceptor!.Untaken.TryDequeue(out UdpSocketState? untaken))
                {
                    if (untaken.IsClosed) continue;
                    RemoveFlow(untaken);
                    CloseSocket(untaken, NetstackError.Of(NetstackErrorKind.SocketClosed, "The interceptor was closed."));
                }
                CloseSocket(interceptor, NetstackError.Of(NetstackErrorKind.SocketClosed, "The interceptor was closed."));
                Passes.Complete(request, Reply.Ok.Instance);
                break;
        }
    }

    private void StartIntercepting(PendingRequest request, Command.Intercept.StartUdp udp)
    {
        TimeSpan idle = udp.IdleTimeout ?? DefaultIdleTimeout;
        int buffer = udp.FlowBufferSize ?? Options.UdpReceiveBufferSize;
        if (udp.Prefixes is not { Count: > 0 } || udp.Prefixes.Any(p => !p.IsValid) || udp.MaxFlows <= 0 || idle <= TimeSpan.Zero || buffer <= 0)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument,
                "A UDP interceptor needs at least one valid prefix, and a positive flow limit, idle timeout and flow buffer size."));
            return;
        }
        var interceptor = new UdpInterceptorSocketState(this, Passes, udp.Prefixes, udp.MaxFlows, idle, buffer);
        if (!TryAdd(interceptor, SocketKind.UdpInterceptor, request)) return;
        _interceptors.Add(interceptor);
        Passes.Complete(request, new Reply.Intercepting(interceptor.Handle));
    }
}
