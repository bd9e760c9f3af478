using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

internal sealed partial class IpLayer
{
    private void ProcessIcmp(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> message, Instant now)
    {
        WireError error = ip.IsV6
            ? IcmpHeader.TryParseV6(message, ip.Source, ip.Destination, out IcmpHeader header, out ReadOnlySpan<byte> body)
            : IcmpHeader.TryParseV4(message, out header, out body);
        if (error != WireError.None)
        {
            _counters.Drop(DropReason.IcmpMalformed);
            return;
        }
        _counters.IcmpIn++;
        byte echoRequest = ip.IsV6 ? (byte)IcmpV6Type.EchoRequest : (byte)IcmpV4Type.EchoRequest;
        byte echoReply = ip.IsV6 ? (byte)IcmpV6Type.EchoReply : (byte)IcmpV4Type.EchoReply;
        if (header.Type == echoRequest && header.Code == 0)
        {
            // RFC 1122 §3.2.2.6 / RFC 4443 §4.2: answer from the address the request was sent to (a unicast one).
            // An intercepted address answers too, unless the application asked to see its echoes on a raw socket.
            if (!(ip.Intercepted ? _options.AnswerInterceptedEcho : IsLocalAddress(ip.Destination))) { _counters.Drop(DropReason.IcmpIgnored); return; }
            Span<byte> reply = TransmitPayload;
            body.CopyTo(reply[IcmpHeader.HeaderLength..]);
            var replyHeader = header with { Type = echoReply };
            int length = ip.IsV6
                ? IcmpHeader.EmitV6(reply, replyHeader, body.Length, ip.Destination, ip.Source)
                : IcmpHeader.EmitV4(reply, replyHeader, body.Length);
            _counters.IcmpOut++;
            _counters.EchoRepliesSent++;
            Transmit(ip.Destination, ip.Source, ip.IsV6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, length);
            return;
        }
        if (header.Type == echoReply)
        {
            if (_pinger is null || !_pinger.OnEchoReply(ip.Source, header, body.Length, now)) _counters.Drop(DropReason.IcmpIgnored);
            return;
        }
        if (ip.IsV6 && header.Type is >= (byte)IcmpV6Type.RouterSolicitation and <= (byte)IcmpV6Type.NeighborAdvertisement)
        {
            _link.ReceiveNdp(ip, packet, message, now);
            return;
        }
        if (ip.IsV6 && header.Type is (byte)MldType.Query or (byte)MldType.V1Report or (byte)MldType.V1Done or (byte)MldType.V2Report)
        {
            _multicast.ReceiveMld(ip, packet, message, now);
            return;
        }
        if (header.IsError(ip.IsV6))
        {
            DeliverIcmpError(ip, header, body, now);
            return;
        }
        _counters.Drop(DropReason.IcmpIgnored);
    }

    /// <summary>
    /// Hands an ICMP error to the transport that sent the quoted packet (RFC 1122 §3.2.2, §4.2.3.9; RFC 4443 §2.4): the quote
    /// must start with an IP header of ours (a packet from one of our addresses) followed by at least 8 bytes of its
    /// transport header, which give the 4-tuple. The transport checks the rest (RFC 5927) and counts what it rejects.
    /// </summary>
    private void DeliverIcmpError(in IpInfo ip, in IcmpHeader header, ReadOnlySpan<byte> quote, Instant now)
    {
        if (!TryParseQuote(ip.IsV6, quote, out NetAddress source, out NetAddress destination, out IpProtocol protocol,
                out int totalLength, out ReadOnlySpan<byte> transport))
        {
            _counters.Drop(DropReason.IcmpMalformed);
            return;
        }
        // A packet we sent: from one of our addresses, or from the intercepted address this error came back to (a flow's or an
        // intercepted connection's original destination, which we speak for).
        if (!IsLocalAddress(source) && !(ip.Intercepted && source == ip.Destination))
        {
            _counters.Drop(DropReason.IcmpNoSocket); // it quotes a packet we did not send
            return;
        }
        var local = new NetEndpoint(source, (ushort)(transport[0] << 8 | transport[1]));
        var remote = new NetEndpoint(destination, (ushort)(transport[2] << 8 | transport[3]));
        var error = new IcmpError(IcmpError.Classify(ip.IsV6, header.Type, header.Code), local, remote, protocol, (int)header.Mtu, totalLength);
        switch (protocol)
        {
            case IpProtocol.Tcp: _stack.DeliverTcpIcmpError(error, transport, now); break;
            case IpProtocol.Udp: _stack.DeliverUdpIcmpError(error, now); break;
            default: _counters.Drop(DropReason.IcmpIgnored); break; // ICMP about ICMP or a raw protocol: nobody to tell
        }
    }

    /// <summary>
    /// Reads the invoking packet an ICMP error quotes, leniently (a quote is usually cut short): its addresses, transport
    /// protocol (after any IPv6 extension headers) and at least 8 bytes of the transport header. False when the quote is too
    /// short, of the wrong version, or a non-first fragment (no transport header to match).
    /// </summary>
    private static bool TryParseQuote(bool v6, ReadOnlySpan<byte> quote, out NetAddress source, out NetAddress destination,
        out IpProtocol protocol, out int totalLength, out ReadOnlySpan<byte> transport)
    {
        source = destination = default;
        protocol = default;
        totalLength = 0;
        transport = default;
        int minimum = v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        if (quote.Length < minimum + 8 || (quote[0] >> 4) != (v6 ? 6 : 4)) return false;
        int offset;
        if (v6)
        {
            source = NetAddress.ReadV6(quote[8..]);
            destination = NetAddress.ReadV6(quote[24..]);
            byte next = quote[6];
            offset = Ipv6Header.HeaderLength;
            // RFC 8200 §4: hop-by-hop, routing and destination options are (1 + length) × 8 bytes; a fragment header is 8.
            while (next is 0 or 43 or 60 or 44)
            {
                if (quote.Length < offset + 8) return false;
                if (next == 44 && ((quote[offset + 2] << 8 | quote[offset + 3]) & 0xFFF8) != 0) return false; // not the first fragment
                int length = next == 44 ? 8 : (quote[offset + 1] + 1) * 8;
                next = quote[offset];
                offset += length;
            }
            protocol = (IpProtocol)next;
        }
        else
        {
            offset = (quote[0] & 0xF) * 4;
            if (offset < Ipv4Header.HeaderLength) return false;
            if (((quote[6] & 0x1F) << 8 | quote[7]) != 0) return false; // a non-first fragment carries no transport header
            source = NetAddress.ReadV4(quote[12..]);
            destination = NetAddress.ReadV4(quote[16..]);
            protocol = (IpProtocol)quote[9];
            totalLength = quote[2] << 8 | quote[3];
        }
        if (quote.Length < offset + 8) return false;
        transport = quote[offset..];
        return true;
    }

    /// <summary>
    /// Sends an ICMP error about <paramref name="invoking"/>, unless RFC 1122 §3.2.2 / RFC 4443 §2.4(e) forbid it (the invoking
    /// packet is an ICMP error, a non-first fragment, or to/from a non-unicast address) or the rate limit says no.
    /// </summary>
    public void SendIcmpError(ReadOnlySpan<byte> invoking, NetAddress invokingSource, NetAddress invokingDestination,
        bool v6, byte type, byte code, uint mtuOrPointer, Instant now, bool fromDestination = false)
    {
        if (invokingSource.IsUnspecified || invokingSource.IsMulticast || invokingSource.IsBroadcast ||
            invokingDestination.IsMulticast || invokingDestination.IsBroadcast || IsIcmpErrorPacket(invoking, v6))
            return;
        if (!_icmpErrorLimiter.TryTake(now))
        {
            _counters.IcmpErrorsSuppressed++;
            return;
        }
        if (!fromDestination && !IsLocalAddress(invokingDestination) && !TrySelectSource(v6 ? NetAddress.AnyV6 : NetAddress.AnyV4, invokingSource, out invokingDestination))
            return;
        int quoteLength = Math.Min(invoking.Length, v6 ? IcmpV6QuoteLimit : IcmpV4QuoteLimit);
        Span<byte> message = TransmitPayload;
        invoking[..quoteLength].CopyTo(message[IcmpHeader.HeaderLength..]);
        var header = new IcmpHeader(type, code);
        if (v6)
            header = type == (byte)IcmpV6Type.PacketTooBig ? header with { Mtu = mtuOrPointer } : header with { Pointer = mtuOrPointer };
        else if (type == (byte)IcmpV4Type.ParameterProblem)
            header = header with { Pointer = mtuOrPointer };
        else if (type == (byte)IcmpV4Type.DestinationUnreachable && code == 4)
            header = header with { Mtu = mtuOrPointer };
        int length = v6
            ? IcmpHeader.EmitV6(message, header, quoteLength, invokingDestination, invokingSource)
            : IcmpHeader.EmitV4(message, header, quoteLength);
        _counters.IcmpOut++;
        _counters.IcmpErrorsSent++;
        Transmit(invokingDestination, invokingSource, v6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, length);
    }

    /// <summary>True for ICMP error messages and non-first fragments (never answered with an ICMP error).</summary>
    private static bool IsIcmpErrorPacket(ReadOnlySpan<byte> packet, bool v6)
    {
        if (v6)
        {
            if (packet.Length < Ipv6Header.HeaderLength + 1) return true;
            return packet[6] == (byte)IpProtocol.IcmpV6 && packet[Ipv6Header.HeaderLength] < 128;
        }
        if (packet.Length < Ipv4Header.HeaderLength) return true;
        int headerLength = (packet[0] & 0xF) * 4;
        bool nonFirstFragment = ((packet[6] & 0x1F) | packet[7]) != 0;
        if (nonFirstFragment) return true;
        return packet[9] == (byte)IpProtocol.Icmp && packet.Length > headerLength && packet[headerLength] is 3 or 11 or 12 or 4 or 5;
    }

    private void OnReassemblyTimeout(Reassembler.Entry entry)
    {
        // RFC 792 (time exceeded, code 1) and RFC 8200 §4.5: only when the first fragment arrived.
        ReadOnlySpan<byte> quote = Reassembler.FirstFragmentQuote(entry, entry.IsV6 ? IcmpV6QuoteLimit : IcmpV4QuoteLimit);
        if (quote.IsEmpty || !IsLocalAddress(entry.Destination)) return;
        SendIcmpError(quote, entry.Source, entry.Destination, entry.IsV6,
            entry.IsV6 ? (byte)IcmpV6Type.TimeExceeded : (byte)IcmpV4Type.TimeExceeded, 1, 0, _passes.Now);
    }

    /// <summary>Sends an echo request for <see cref="Command.Icmp.Ping"/>; the reply or the timeout answers it.</summary>
    public void ExecutePing(PendingRequest request, Command.Icmp.Ping ping, Instant now)
    {
        bool v6 = ping.Destination.IsV6;
        int maxPayload = 65535 - (v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength) - IcmpHeader.HeaderLength;
        if (ping.PayloadSize < 0 || ping.PayloadSize > maxPayload)
        {
            _passes.Complete(request, new Reply.Error(NetstackError.Bad(BadRequestReason.MessageTooLarge,
                $"Ping payload of {ping.PayloadSize} bytes is outside 0..{maxPayload}.")));
            return;
        }
        if (ping.Timeout <= TimeSpan.Zero)
        {
            _passes.Complete(request, new Reply.Error(NetstackError.Bad(BadRequestReason.InvalidArgument, "Ping timeout must be positive.")));
            return;
        }
        if (ping.Destination.IsUnspecified || ping.Destination.IsMulticast ||
            !TrySelectSource(v6 ? NetAddress.AnyV6 : NetAddress.AnyV4, ping.Destination, out NetAddress source))
        {
            _passes.Complete(request, new Reply.Error(NetstackError.Bad(BadRequestReason.Unaddressable,
                $"No IPv{ping.Destination.Version} source address to ping {ping.Destination} from.")));
            return;
        }
        _pinger ??= new Pinger(_passes, _stack.Options.RandomSeed ?? _stack.Id);
        ushort sequence = _pinger.Register(request, ping, now);
        Span<byte> message = TransmitPayload;
        Span<byte> body = message.Slice(IcmpHeader.HeaderLength, ping.PayloadSize);
        for (int i = 0; i < body.Length; i++) body[i] = (byte)i;
        var header = new IcmpHeader(v6 ? (byte)IcmpV6Type.EchoRequest : (byte)IcmpV4Type.EchoRequest, 0, _pinger.Identifier, sequence);
        int length = v6 ? IcmpHeader.EmitV6(message, header, body.Length, source, ping.Destination) : IcmpHeader.EmitV4(message, header, body.Length);
        _counters.IcmpOut++;
        Transmit(source, ping.Destination, v6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, length);
        _passes.UpdateTimer(_pinger);
    }
}
