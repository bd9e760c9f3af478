using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// The UDP demultiplexer: bound sockets by local endpoint, ephemeral ports, datagrams in (to a waiting receive or the
/// socket's queue; port unreachable when nobody is bound) and out, and the <see cref="Command.Udp"/> commands.
/// </summary>
/// <remarks>Interception is in <c>UdpDemux.Intercept.cs</c>; all state is declared here.</remarks>
internal sealed partial class UdpDemux : TransportDemux
{
    /// <summary>Bound sockets by local endpoint (a wildcard address for sockets bound to any).</summary>
    private readonly Dictionary<NetEndpoint, UdpSocketState> _bindings = [];

    /// <summary>Hands out ephemeral ports (seeded per stack, so two stacks in one process pick different ones, and a RandomSeed repeats them).</summary>
    private readonly PortAllocator _ports;

    /// <summary>Intercepted flows by (original destination, client) (UdpDemux.Intercept.cs).</summary>
    private readonly Dictionary<(NetEndpoint Local, NetEndpoint Remote), UdpSocketState> _flows = [];

    /// <summary>UDP interceptors, in the order they were made (the longest matching prefix wins).</summary>
    private readonly List<UdpInterceptorSocketState> _interceptors = [];

    public UdpDemux(IpLayer ip, PassScheduler passes, SocketRegistry sockets, NetstackOptions options, NetstackCounters counters, int seed)
        : base(ip, passes, sockets, options, counters) =>
        _ports = new PortAllocator(seed * 7919);

    /// <summary>A datagram for this stack (from the IP layer, via the stack).</summary>
    public void Receive(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> datagram, Instant now)
    {
        if (UdpHeader.TryParse(datagram, ip.Source, ip.Destination, out UdpHeader header, out ReadOnlySpan<byte> payload, verifyChecksum: !ip.ChecksumTrusted) != WireError.None)
        {
            Counters.Drop(DropReason.UdpMalformed);
            return;
        }
        var destination = new NetEndpoint(ip.Destination, header.DestinationPort);
        if (ip.Intercepted)
        {
            InterceptInput(ip, destination, new NetEndpoint(ip.Source, header.SourcePort), payload, now);
            return;
        }
        if (!_bindings.TryGetValue(destination, out UdpSocketState? socket) &&
            !_bindings.TryGetValue(new NetEndpoint(ip.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, header.DestinationPort), out socket))
        {
            Counters.Drop(DropReason.UdpNoSocket);
            // RFC 1122 §4.1.3.1 / RFC 4443 §3.1 code 4: port unreachable (rate-limited; never for broadcast).
            if (Ip.IsLocalAddress(ip.Destination))
                Ip.SendIcmpError(packet, ip.Source, ip.Destination, ip.IsV6,
                    ip.IsV6 ? (byte)IcmpV6Type.DestinationUnreachable : (byte)IcmpV4Type.DestinationUnreachable,
                    ip.IsV6 ? (byte)4 : (byte)3, 0, now);
            return;
        }
        if (ip.Destination.IsMulticast && !AcceptsMulticast(socket, ip.Destination)) return;
        Deliver(socket, new UdpSocketState.Meta(new NetEndpoint(ip.Source, header.SourcePort), destination), payload);
    }

    /// <summary>A datagram for <paramref name="socket"/>: to a waiting receive, or into its queue.</summary>
    private void Deliver(UdpSocketState socket, in UdpSocketState.Meta meta, ReadOnlySpan<byte> payload)
    {
        Counters.UdpIn++;
        // Straight to a waiting single receive (nothing queued before it); a waiting batch receive is answered by the flush,
        // so datagrams arriving later in this pass join it.
        while (socket.Received.IsEmpty && socket.Receivers.First is { Command: Command.Udp.Receive } waiting)
        {
            socket.Receivers.Remove(waiting);
            if (!waiting.TryClaim()) continue; // cancelled meanwhile
            Passes.Deliver(waiting, UdpSocketState.MakeReply(waiting, meta, payload));
            return;
        }
        if (!socket.Received.TryEnqueue(meta, payload)) Counters.Drop(DropReason.UdpBufferFull);
        else if (!socket.Receivers.IsEmpty) Passes.MarkDirty(socket); // a batch receive waits: the flush answers it with the pass's burst
    }

    /// <summary>
    /// An ICMP error quoting a datagram one of our sockets sent (RFC 1122 §4.1.3.3): a destination unreachable becomes the
    /// socket's pending error — <see cref="NetstackErrorKind.ConnectionRefused"/> for port unreachable (Linux's ECONNREFUSED),
    /// <see cref="NetstackErrorKind.Unreachable"/> for the rest — reported to its next receive or send to that remote. A
    /// packet too big with a plausible MTU (RFC 8201 §4) lowers the path MTU to the remote, so later IPv6 datagrams are
    /// fragmented to fit. UDP quotes no sequence number to check (RFC 5927 §7 applies to TCP), so what is believed is bounded
    /// by the floors. No socket, no effect: a counted drop.
    /// </summary>
    public void ReceiveIcmpError(in IcmpError error, Instant now)
    {
        // An intercepted flow (its datagrams left from the original destination to its client) first, then a bound socket.
        if (!_flows.TryGetValue((error.Local, error.Remote), out UdpSocketState? socket) &&
            !_bindings.TryGetValue(error.Local, out socket) &&
            !_bindings.TryGetValue(new NetEndpoint(error.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, error.Local.Port), out socket))
        {
            Counters.Drop(DropReason.IcmpNoSocket);
            return;
        }
        NetstackErrorKind kind = NetstackErrorKind.Unreachable;
        string message;
        switch (error.Kind)
        {
            case IcmpErrorKind.PacketTooBig:
                int mtu = PathMtuCache.Plausible(error.IsV6, error.Mtu, error.QuotedTotalLength, Ip.PathMtuTo(error.Remote.Address, now), out bool noDontFragment);
                if (mtu < 0)
                {
                    Counters.Drop(DropReason.IcmpBadMtu);
                    return;
                }
                Ip.LearnPathMtu(error.Remote.Address, mtu, noDontFragment, now);
                return;
            case IcmpErrorKind.PortUnreachable:
                kind = NetstackErrorKind.ConnectionRefused;
                message = $"{error.Remote} refused a UDP datagram from {error.Local} (ICMP port unreachable).";
                break;
            case IcmpErrorKind.Other:
                Counters.Drop(DropReason.IcmpIgnored); // time exceeded, parameter problem: not reported to UDP
                return;
            default:
                string what = error.Kind switch
                {
                    IcmpErrorKind.NetUnreachable => "network unreachable",
                    IcmpErrorKind.AdministrativelyProhibited => "administratively prohibited",
                    IcmpErrorKind.ProtocolUnreachable => "protocol unreachable",
                    _ => "host unreachable",
                };
                message = $"A UDP datagram from {error.Local} to {error.Remote} could not be delivered (ICMP {what}).";
                break;
        }
        NetstackError reported = new(kind, BadRequestReason.None, message) { Remote = error.Remote };
        socket.PendingError = reported;
        Passes.MarkDirty(socket); // a waiting receive hears of it in this pass's flush
    }

    /// <summary>Runs a <see cref="Command.Udp"/> command.</summary>
    public void Execute(PendingRequest request, Command.Udp command)
    {
        switch (command)
        {
            case Command.Udp.Bind bind:
                Bind(request, bind.Local);
                break;
            case Command.Udp.Send send:
                if (Lookup(request, send.Socket, out UdpSocketState? s)) Send(request, s!, send);
                break;
            case Command.Udp.Receive receive:
                if (Lookup(request, receive.Socket, out s)) WaitForPacket(request, receive.MaxLength, s!);
                break;
            case Command.Udp.ReceiveBatch { MaxDatagrams: < 1 }:
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.ZeroSizeBuffer, "A batch receive needs room for at least one datagram."));
                break;
            case Command.Udp.ReceiveBatch batch:
                if (Lookup(request, batch.Socket, out s)) WaitForPacket(request, batch.MaxLength, s!);
                break;
            case Command.Udp.Close close:
                if (!Lookup(request, close.Socket, out s)) break;
                if (s!.Flow is not null) RemoveFlow(s);
                else _bindings.Remove(s.Local);
                LeaveAll(s);
                CloseSocket(s, NetstackError.Of(NetstackErrorKind.SocketClosed, "The UDP socket was closed."));
                Passes.Complete(request, Reply.Ok.Instance);
                break;
            case Command.Udp.JoinGroup or Command.Udp.LeaveGroup or Command.Udp.SetMulticastHopLimit:
                if (Lookup(request, command switch
                {
                    Command.Udp.JoinGroup c => c.Socket,
                    Command.Udp.LeaveGroup c => c.Socket,
                    _ => ((Command.Udp.SetMulticastHopLimit)command).Socket,
                }, out s)) ExecuteMulticast(request, s!, command);
                break;
        }
    }

    private void Bind(PendingRequest request, NetEndpoint local)
    {
        if (!local.Address.IsMulticast && !IsBindable(request, local.Address)) return; // a group: only its datagrams (Linux's bind)
        if (local.Port == 0)
        {
            ushort port = _ports.Allocate((this, local.Address), static (st, p) => !st.Item1.PortTaken(st.Address, p));
            if (port == 0)
            {
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.NoFreePort, "No ephemeral UDP port is free."));
                return;
            }
            local = local with { Port = port };
        }
        else if (PortTaken(local.Address, local.Port))
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.PortInUse, $"UDP {local} is already bound."));
            return;
        }
        var socket = new UdpSocketState(Passes, local, Options.UdpReceiveBufferSize, Options.UdpReceiveQueueLength);
        if (!TryAdd(socket, SocketKind.Udp, request)) return;
        _bindings.Add(local, socket);
        Passes.Complete(request, new Reply.Bound(socket.Handle, local));
    }

    /// <summary>A specific bind conflicts with the same endpoint and with the wildcard of its version on that port, and vice versa.</summary>
    private bool PortTaken(NetAddress address, ushort port)
    {
        if (_bindings.ContainsKey(new NetEndpoint(address, port))) return true;
        NetAddress any = address.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4;
        if (_bindings.ContainsKey(new NetEndpoint(any, port))) return true;
        if (!address.IsUnspecified) return false;
        foreach (NetEndpoint bound in _bindings.Keys)
            if (bound.Port == port && bound.Address.IsV6 == address.IsV6) return true;
        return false;
    }

    private void Send(PendingRequest request, UdpSocketState socket, Command.Udp.Send send)
    {
        NetEndpoint destination = send.Destination;
        if (socket.PendingError is { } pending && pending.Remote == destination)
        {
            // As a connected socket's send on Linux: the error about the last datagram to this remote, once.
            socket.PendingError = null;
            Passes.Fail(request, pending);
            return;
        }
        if (socket.Flow is { } flow)
        {
            if (destination != flow.Remote)
            {
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"An intercepted flow sends only to its client {flow.Remote}, not {destination}."));
                return;
            }
            flow.LastActivity = Passes.Now;
        }
        if (destination.Address.IsV6 != socket.Local.Address.IsV6)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.WrongIpVersion,
                $"Socket bound to IPv{socket.Local.Address.Version} cannot send to IPv{destination.Address.Version} {destination}."));
            return;
        }
        if (destination.Port == 0 || destination.Address.IsUnspecified)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"Cannot send to {destination}."));
            return;
        }
        int protocolLimit = destination.Address.IsV6 ? NetstackOptions.MaxUdpPayloadV6 : NetstackOptions.MaxUdpPayloadV4;
        if (send.Data.Length > Math.Min(Options.UdpSendBufferSize, protocolLimit))
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.MessageTooLarge, send.Data.Length > protocolLimit
                ? $"A {send.Data.Length}-byte datagram is larger than UDP over IPv{destination.Address.Version} carries ({protocolLimit} bytes)."
                : $"A {send.Data.Length}-byte datagram is larger than the socket's {Options.UdpSendBufferSize}-byte send buffer (NetstackOptions.UdpSendBufferSize)."));
            return;
        }
        NetAddress bound = socket.Local.Address; // bound to a group: any source of ours
        if (bound.IsMulticast) bound = bound.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4;
        if (!Ip.TrySelectSource(bound, destination.Address, out NetAddress source))
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"The stack has no IPv{destination.Address.Version} address to send from."));
            return;
        }
        // UDP output is emitted in the same pass, so a send never waits for buffer space.
        Span<byte> datagram = Ip.TransmitPayload;
        send.Data.Span.CopyTo(datagram[UdpHeader.HeaderLength..]);
        // A datagram that leaves in fragments carries its checksum in the first one, where no device can finish it: computed
        // even with transmit offload (an IPv6 receiver drops a zero UDP checksum, RFC 8200 §8.1).
        bool fragmented = UdpHeader.HeaderLength + send.Data.Length + (destination.Address.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength) > Ip.Mtu
            && !Ip.IsLocalAddress(destination.Address);
        int length = UdpHeader.Emit(datagram, new UdpHeader(socket.Local.Port, destination.Port), send.Data.Length, source, destination.Address,
            computeChecksum: !Ip.TransmitChecksumOffload || fragmented);
        Counters.UdpOut++;
        Ip.Transmit(source, destination.Address, IpProtocol.Udp, length, hopLimit: destination.Address.IsMulticast ? socket.MulticastHopLimit : (byte)0);
        Passes.Complete(request, new Reply.Sent(send.Data.Length));
    }
}
