using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    private readonly Dictionary<NetEndpoint, UdpSocketState> _udpBindings = [];
    private PortAllocator? _udpPorts;

    private void ProcessUdp(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> datagram, Instant now)
    {
        if (UdpHeader.TryParse(datagram, ip.Source, ip.Destination, out UdpHeader header, out ReadOnlySpan<byte> payload, verifyChecksum: !ip.ChecksumTrusted) != WireError.None)
        {
            _counters.Drop(DropReason.UdpMalformed);
            return;
        }
        var destination = new NetEndpoint(ip.Destination, header.DestinationPort);
        if (!_udpBindings.TryGetValue(destination, out UdpSocketState? socket) &&
            !_udpBindings.TryGetValue(new NetEndpoint(ip.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, header.DestinationPort), out socket))
        {
            _counters.Drop(DropReason.UdpNoSocket);
            // RFC 1122 §4.1.3.1 / RFC 4443 §3.1 code 4: port unreachable (rate-limited; never for broadcast).
            if (_ip.IsLocalAddress(ip.Destination))
                _ip.SendIcmpError(packet, ip.Source, ip.Destination, ip.IsV6,
                    ip.IsV6 ? (byte)IcmpV6Type.DestinationUnreachable : (byte)IcmpV4Type.DestinationUnreachable,
                    ip.IsV6 ? (byte)4 : (byte)3, 0, now);
            return;
        }
        var meta = new UdpSocketState.Meta(new NetEndpoint(ip.Source, header.SourcePort), destination);
        _counters.UdpIn++;
        // Straight to a waiting single receive (nothing queued before it); a waiting batch receive is answered by the flush,
        // so datagrams arriving later in this pass join it.
        while (socket.Received.IsEmpty && socket.Receivers.First is { Command: Command.Udp.Receive } waiting)
        {
            socket.Receivers.Remove(waiting);
            if (!waiting.TryClaim()) continue; // cancelled meanwhile
            Deliver(waiting, UdpSocketState.MakeReply(waiting, meta, payload));
            return;
        }
        if (!socket.Received.TryEnqueue(meta, payload)) _counters.Drop(DropReason.UdpBufferFull);
        else if (!socket.Receivers.IsEmpty) MarkDirty(socket); // a batch receive waits: the flush answers it with the pass's burst
    }

    private void ExecuteUdp(PendingRequest request, Command.Udp command, Instant now)
    {
        switch (command)
        {
            case Command.Udp.Bind bind:
                UdpBind(request, bind.Local);
                break;
            case Command.Udp.Send send:
                if (Lookup(request, send.Socket, out UdpSocketState? s)) UdpSend(request, s!, send);
                break;
            case Command.Udp.Receive receive:
                if (Lookup(request, receive.Socket, out s)) WaitForPacket(request, receive.MaxLength, s!, s!.Receivers);
                break;
            case Command.Udp.ReceiveBatch { MaxDatagrams: < 1 }:
                Fail(request, NetstackError.Bad(BadRequestReason.ZeroSizeBuffer, "A batch receive needs room for at least one datagram."));
                break;
            case Command.Udp.ReceiveBatch batch:
                if (Lookup(request, batch.Socket, out s)) WaitForPacket(request, batch.MaxLength, s!, s!.Receivers);
                break;
            case Command.Udp.Close close:
                if (!Lookup(request, close.Socket, out s)) break;
                _udpBindings.Remove(s!.Local);
                CloseSocket(s, NetstackError.Of(NetstackErrorKind.SocketClosed, "The UDP socket was closed."));
                Complete(request, Reply.Ok.Instance);
                break;
        }
    }

    private void UdpBind(PendingRequest request, NetEndpoint local)
    {
        if (!local.Address.IsUnspecified && !_ip.IsLocalAddress(local.Address))
        {
            Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"{local.Address} is not an address of this stack."));
            return;
        }
        if (local.Port == 0)
        {
            _udpPorts ??= new PortAllocator(Id * 7919);
            ushort port = _udpPorts.Allocate((this, local.Address), static (st, p) => !st.Item1.UdpPortTaken(st.Address, p));
            if (port == 0)
            {
                Fail(request, NetstackError.Bad(BadRequestReason.NoFreePort, "No ephemeral UDP port is free."));
                return;
            }
            local = local with { Port = port };
        }
        else if (UdpPortTaken(local.Address, local.Port))
        {
            Fail(request, NetstackError.Bad(BadRequestReason.PortInUse, $"UDP {local} is already bound."));
            return;
        }
        var socket = new UdpSocketState(this, local, Options.UdpReceiveBufferSize, Options.UdpReceiveQueueLength);
        if (!_sockets.TryAdd(socket, SocketKind.Udp))
        {
            Fail(request, NetstackError.Of(NetstackErrorKind.LimitReached, $"The stack holds its maximum of {Options.MaxSockets} sockets."));
            return;
        }
        _udpBindings.Add(local, socket);
        Complete(request, new Reply.Bound(socket.Handle, local));
    }

    /// <summary>A specific bind conflicts with the same endpoint and with the wildcard of its version on that port, and vice versa.</summary>
    private bool UdpPortTaken(NetAddress address, ushort port)
    {
        if (_udpBindings.ContainsKey(new NetEndpoint(address, port))) return true;
        NetAddress any = address.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4;
        if (_udpBindings.ContainsKey(new NetEndpoint(any, port))) return true;
        if (!address.IsUnspecified) return false;
        foreach (NetEndpoint bound in _udpBindings.Keys)
            if (bound.Port == port && bound.Address.IsV6 == address.IsV6) return true;
        return false;
    }

    private void UdpSend(PendingRequest request, UdpSocketState socket, Command.Udp.Send send)
    {
        NetEndpoint destination = send.Destination;
        if (destination.Address.IsV6 != socket.Local.Address.IsV6)
        {
            Fail(request, NetstackError.Bad(BadRequestReason.WrongIpVersion,
                $"Socket bound to IPv{socket.Local.Address.Version} cannot send to IPv{destination.Address.Version} {destination}."));
            return;
        }
        if (destination.Port == 0 || destination.Address.IsUnspecified)
        {
            Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"Cannot send to {destination}."));
            return;
        }
        int protocolLimit = destination.Address.IsV6 ? NetstackOptions.MaxUdpPayloadV6 : NetstackOptions.MaxUdpPayloadV4;
        if (send.Data.Length > Math.Min(Options.UdpSendBufferSize, protocolLimit))
        {
            Fail(request, NetstackError.Bad(BadRequestReason.MessageTooLarge, send.Data.Length > protocolLimit
                ? $"A {send.Data.Length}-byte datagram is larger than UDP over IPv{destination.Address.Version} carries ({protocolLimit} bytes)."
                : $"A {send.Data.Length}-byte datagram is larger than the socket's {Options.UdpSendBufferSize}-byte send buffer (NetstackOptions.UdpSendBufferSize)."));
            return;
        }
        if (!_ip.TrySelectSource(socket.Local.Address, destination.Address, out NetAddress source))
        {
            Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"The stack has no IPv{destination.Address.Version} address to send from."));
            return;
        }
        // UDP output is emitted in the same pass, so a send never waits for buffer space.
        Span<byte> datagram = _ip.TransmitPayload;
        send.Data.Span.CopyTo(datagram[UdpHeader.HeaderLength..]);
        // A datagram that leaves in fragments carries its checksum in the first one, where no device can finish it: computed
        // even with transmit offload (an IPv6 receiver drops a zero UDP checksum, RFC 8200 §8.1).
        bool fragmented = UdpHeader.HeaderLength + send.Data.Length + (destination.Address.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength) > _ip.Mtu
            && !_ip.IsLocalAddress(destination.Address);
        int length = UdpHeader.Emit(datagram, new UdpHeader(socket.Local.Port, destination.Port), send.Data.Length, source, destination.Address,
            computeChecksum: !_ip.TransmitChecksumOffload || fragmented);
        _counters.UdpOut++;
        _ip.Transmit(source, destination.Address, IpProtocol.Udp, length);
        Complete(request, new Reply.Sent(send.Data.Length));
    }
}
