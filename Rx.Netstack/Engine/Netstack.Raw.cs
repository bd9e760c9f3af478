using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    private readonly List<RawSocketState> _rawSockets = [];

    /// <summary>Gives a copy of the whole packet to every raw socket of its version and protocol; true if any took it.</summary>
    private bool DeliverToRawSockets(in IpInfo ip, ReadOnlySpan<byte> packet)
    {
        if (_rawSockets.Count == 0) return false;
        bool taken = false;
        int version = ip.IsV6 ? 6 : 4;
        foreach (RawSocketState socket in _rawSockets)
        {
            if (socket.IpVersion != version || socket.Protocol != ip.Protocol) continue;
            taken = true;
            _counters.RawIn++;
            if (socket.Received.IsEmpty && socket.Receivers.DequeueClaimed() is { } waiting)
                Deliver(waiting, RawSocketState.MakeReply(waiting, packet));
            else if (!socket.Received.TryEnqueue(0, packet))
                _counters.Drop(DropReason.RawBufferFull);
        }
        return taken;
    }

    private void ExecuteRaw(PendingRequest request, Command.Raw command)
    {
        switch (command)
        {
            case Command.Raw.Open open:
                if (open.IpVersion is not (4 or 6))
                {
                    Fail(request, NetstackError.Bad(BadRequestReason.WrongIpVersion, $"IP version {open.IpVersion} is neither 4 nor 6."));
                    break;
                }
                var socket = new RawSocketState(this, open.IpVersion, open.Protocol, Options.RawReceiveBufferSize, Options.RawReceiveQueueLength);
                if (!_sockets.TryAdd(socket, SocketKind.Raw))
                {
                    Fail(request, NetstackError.Of(NetstackErrorKind.LimitReached, $"The stack holds its maximum of {Options.MaxSockets} sockets."));
                    break;
                }
                _rawSockets.Add(socket);
                Complete(request, new Reply.RawOpened(socket.Handle));
                break;
            case Command.Raw.Send send:
                if (Lookup(request, send.Socket, out RawSocketState? s)) RawSend(request, s!, send.Packet.Span);
                break;
            case Command.Raw.Receive receive:
                if (Lookup(request, receive.Socket, out s)) WaitForPacket(request, receive.MaxLength, s!, s!.Receivers);
                break;
            case Command.Raw.Close close:
                if (!Lookup(request, close.Socket, out s)) break;
                _rawSockets.Remove(s!);
                CloseSocket(s!, NetstackError.Of(NetstackErrorKind.SocketClosed, "The raw socket was closed."));
                Complete(request, Reply.Ok.Instance);
                break;
        }
    }

    /// <summary>Checks a raw packet (version, protocol, header and total lengths) and sends it as it is.</summary>
    private void RawSend(PendingRequest request, RawSocketState socket, ReadOnlySpan<byte> packet)
    {
        if (packet.Length > Options.RawSendBufferSize)
        {
            Fail(request, NetstackError.Bad(BadRequestReason.MessageTooLarge,
                $"A {packet.Length}-byte packet is larger than the socket's {Options.RawSendBufferSize}-byte send buffer."));
            return;
        }
        if (packet.IsEmpty || (packet[0] >> 4) != socket.IpVersion)
        {
            Fail(request, NetstackError.Bad(BadRequestReason.WrongIpVersion, $"The packet is not IPv{socket.IpVersion}."));
            return;
        }
        NetAddress destination;
        IpProtocol protocol;
        if (socket.IpVersion == 4)
        {
            if (Ipv4Header.TryParse(packet, out Ipv4Header h, out int hl, out ReadOnlySpan<byte> p) is var e && e != WireError.None || hl + p.Length != packet.Length)
            {
                Fail(request, NetstackError.Bad(BadRequestReason.MalformedPacket, "The IPv4 packet's header, checksum or total length is wrong."));
                return;
            }
            destination = h.Destination;
            protocol = h.Protocol;
        }
        else
        {
            if (packet.Length < Ipv6Header.HeaderLength || Ipv6Header.HeaderLength + (packet[4] << 8 | packet[5]) != packet.Length)
            {
                Fail(request, NetstackError.Bad(BadRequestReason.MalformedPacket, "The IPv6 packet's payload length does not match its size."));
                return;
            }
            destination = NetAddress.ReadV6(packet[24..]);
            protocol = (IpProtocol)packet[6];
        }
        if (protocol != socket.Protocol)
        {
            Fail(request, NetstackError.Bad(BadRequestReason.MalformedPacket, $"The packet carries protocol {protocol}, the socket {socket.Protocol}."));
            return;
        }
        if (packet.Length > _ip.Mtu && !_ip.IsLocalAddress(destination))
        {
            Fail(request, NetstackError.Bad(BadRequestReason.MessageTooLarge, $"A {packet.Length}-byte raw packet exceeds the MTU of {_ip.Mtu}."));
            return;
        }
        _counters.RawOut++;
        _ip.TransmitRawPacket(packet, destination);
        Complete(request, new Reply.Sent(packet.Length));
    }
}
