using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// The raw-socket demultiplexer: open raw sockets, a copy of every received packet to each of them that wants its IP
/// version and protocol, whole packets out, and the <see cref="Command.Raw"/> commands.
/// </summary>
internal sealed class RawDemux : TransportDemux
{
    /// <summary>Open raw sockets, in the order they were opened.</summary>
    private readonly List<RawSocketState> _sockets = [];

    public RawDemux(IpLayer ip, PassScheduler passes, SocketRegistry sockets, NetstackOptions options, NetstackCounters counters)
        : base(ip, passes, sockets, options, counters)
    {
    }

    /// <summary>Gives a copy of the whole packet to every raw socket of its version and protocol; true if any took it.</summary>
    public bool Deliver(in IpInfo ip, ReadOnlySpan<byte> packet)
    {
        if (_sockets.Count == 0) return false;
        bool taken = false;
        int version = ip.IsV6 ? 6 : 4;
        foreach (RawSocketState socket in _sockets)
        {
            if (socket.IpVersion != version || socket.Protocol != ip.Protocol) continue;
            taken = true;
            Counters.RawIn++;
            if (socket.Received.IsEmpty && socket.Receivers.DequeueClaimed() is { } waiting)
                Passes.Deliver(waiting, RawSocketState.MakeReply(waiting, packet));
            else if (!socket.Received.TryEnqueue(0, packet))
                Counters.Drop(DropReason.RawBufferFull);
        }
        return taken;
    }

    /// <summary>Runs a <see cref="Command.Raw"/> command.</summary>
    public void Execute(PendingRequest request, Command.Raw command)
    {
        switch (command)
        {
            case Command.Raw.Open open:
                if (open.IpVersion is not (4 or 6))
                {
                    Passes.Fail(request, NetstackError.Bad(BadRequestReason.WrongIpVersion, $"IP version {open.IpVersion} is neither 4 nor 6."));
                    break;
                }
                var socket = new RawSocketState(Passes, open.IpVersion, open.Protocol, Options.RawReceiveBufferSize, Options.RawReceiveQueueLength);
                if (!TryAdd(socket, SocketKind.Raw, request)) break;
                _sockets.Add(socket);
                Passes.Complete(request, new Reply.RawOpened(socket.Handle));
                break;
            case Command.Raw.Send send:
                if (Lookup(request, send.Socket, out RawSocketState? s)) Send(request, s!, send.Packet.Span);
                break;
            case Command.Raw.Receive receive:
                if (Lookup(request, receive.Socket, out s)) WaitForPacket(request, receive.MaxLength, s!);
                break;
            case Command.Raw.Close close:
                if (!Lookup(request, close.Socket, out s)) break;
                _sockets.Remove(s!);
                CloseSocket(s!, NetstackError.Of(NetstackErrorKind.SocketClosed, "The raw socket was closed."));
                Passes.Complete(request, Reply.Ok.Instance);
                break;
        }
    }

    /// <summary>Checks a raw packet (version, protocol, header and total lengths) and sends it as it is.</summary>
    private void Send(PendingRequest request, RawSocketState socket, ReadOnlySpan<byte> packet)
    {
        if (packet.Length > Options.RawSendBufferSize)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.MessageTooLarge,
                $"A {packet.Length}-byte packet is larger than the socket's {Options.RawSendBufferSize}-byte send buffer."));
            return;
        }
        if (packet.IsEmpty || (packet[0] >> 4) != socket.IpVersion)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.WrongIpVersion, $"The packet is not IPv{socket.IpVersion}."));
            return;
        }
        NetAddress destination;
        IpProtocol protocol;
        if (socket.IpVersion == 4)
        {
            if (Ipv4Header.TryParse(packet, out Ipv4Header h, out int hl, out ReadOnlySpan<byte> p) is var e && e != WireError.None || hl + p.Length != packet.Length)
            {
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.MalformedPacket, "The IPv4 packet's header, checksum or total length is wrong."));
                return;
            }
            destination = h.Destination;
            protocol = h.Protocol;
        }
        else
        {
            if (packet.Length < Ipv6Header.HeaderLength || Ipv6Header.HeaderLength + (packet[4] << 8 | packet[5]) != packet.Length)
            {
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.MalformedPacket, "The IPv6 packet's payload length does not match its size."));
                return;
            }
            destination = NetAddress.ReadV6(packet[24..]);
            protocol = (IpProtocol)packet[6];
        }
        if (protocol != socket.Protocol)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.MalformedPacket, $"The packet carries protocol {protocol}, the socket {socket.Protocol}."));
            return;
        }
        if (packet.Length > Ip.Mtu && !Ip.IsLocalAddress(destination))
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.MessageTooLarge, $"A {packet.Length}-byte raw packet exceeds the MTU of {Ip.Mtu}."));
            return;
        }
        Counters.RawOut++;
        Ip.TransmitRawPacket(packet, destination);
        Passes.Complete(request, new Reply.Sent(packet.Length));
    }
}
