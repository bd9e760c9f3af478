using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>What upper layers need to know of the IP packet that carried them.</summary>
    /// <remarks>For IPv6, <c>NextHeaderPointer</c> is the offset of the next-header field that named the protocol
    /// (for a parameter problem when nothing handles it).</remarks>
    internal readonly record struct IpInfo(NetAddress Source, NetAddress Destination, IpProtocol Protocol, bool IsV6, int NextHeaderPointer = 9);

    private void ProcessFrame(ReadOnlySpan<byte> frame, bool fromLoopback, Instant now)
    {
        switch (frame[0] >> 4)
        {
            case 4: ProcessIpv4(frame, now); break;
            case 6: ProcessIpv6(frame, now); break;
            default: _counters.Drop(DropReason.BadIpVersion); break;
        }
    }

    private void ProcessIpv4(ReadOnlySpan<byte> packet, Instant now)
    {
        WireError error = Ipv4Header.TryParse(packet, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload);
        if (error != WireError.None)
        {
            _counters.Drop(DropReason.Ipv4Malformed);
            return;
        }
        if (!AcceptsDestination(header.Destination))
        {
            _counters.Drop(DropReason.NotForUs);
            return;
        }
        packet = packet[..(headerLength + payload.Length)]; // without link padding
        if (header.IsFragment)
        {
            _counters.FragmentsIn++;
            bool complete = _reassembler.TryAdd(false, header.Source, header.Destination, header.Identification, (byte)header.Protocol,
                packet[..headerLength], header.FragmentOffset, payload, header.MoreFragments, now, out ReadOnlySpan<byte> whole);
            UpdateTimer(_reassembler);
            if (complete)
            {
                ProcessIpv4(whole, now);
                _reassembler.ReleaseCompleted();
            }
            return;
        }
        _counters.Ipv4In++;
        DeliverTransport(new IpInfo(header.Source, header.Destination, header.Protocol, false), packet, payload, now);
    }

    private void ProcessIpv6(ReadOnlySpan<byte> packet, Instant now)
    {
        WireError error = Ipv6Header.TryParse(packet, out Ipv6Header header, out int payloadOffset, out ReadOnlySpan<byte> payload, out int pointer);
        if (error is WireError.UnknownNextHeader or WireError.BadExtensionHeader or WireError.BadOption)
        {
            // RFC 8200 §4: an unrecognised next header, a bad extension header or an option whose action bits ask for it
            // is answered with a parameter problem pointing at the offending byte.
            _counters.Drop(error == WireError.UnknownNextHeader ? DropReason.Ipv6UnknownNextHeader : DropReason.Ipv6Malformed);
            int code = Ipv6Header.ParameterProblemCode(packet, error, pointer);
            if (code >= 0 && packet.Length >= Ipv6Header.HeaderLength)
            {
                NetAddress source = NetAddress.ReadV6(packet[8..]), destination = NetAddress.ReadV6(packet[24..]);
                if (IsLocalAddress(destination))
                    SendIcmpError(packet, source, destination, true, (byte)IcmpV6Type.ParameterProblem, (byte)code, (uint)pointer, now);
            }
            return;
        }
        if (error != WireError.None)
        {
            _counters.Drop(DropReason.Ipv6Malformed);
            return;
        }
        if (!AcceptsDestination(header.Destination))
        {
            _counters.Drop(DropReason.NotForUs);
            return;
        }
        packet = packet[..(payloadOffset + payload.Length)];
        if (header.IsFragment)
        {
            _counters.FragmentsIn++;
            // Reassembled packets are rebuilt with the fixed header only: the extension headers before the fragment
            // header were already processed, and the fragment header's next header becomes the fixed header's.
            int fragmentHeaderAt = header.UnfragmentablePartLength;
            if (packet.Length < fragmentHeaderAt + Ipv6Header.FragmentHeaderLength)
            {
                _counters.Drop(DropReason.FragmentRejected);
                return;
            }
            byte nextHeader = packet[fragmentHeaderAt];
            ReadOnlySpan<byte> data = packet[(fragmentHeaderAt + Ipv6Header.FragmentHeaderLength)..];
            bool complete = _reassembler.TryAdd(true, header.Source, header.Destination, header.FragmentIdentification, nextHeader,
                packet[..Ipv6Header.HeaderLength], header.FragmentOffset, data, header.MoreFragments, now, out ReadOnlySpan<byte> whole);
            UpdateTimer(_reassembler);
            if (complete)
            {
                ProcessIpv6(whole, now);
                _reassembler.ReleaseCompleted();
            }
            return;
        }
        _counters.Ipv6In++;
        DeliverTransport(new IpInfo(header.Source, header.Destination, header.Protocol, true, pointer), packet, payload, now);
    }

    private void DeliverTransport(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> payload, Instant now)
    {
        _counters.CountBytesIn(ip.Protocol, payload.Length);
        bool rawTaken = DeliverToRawSockets(ip, packet);
        switch (ip.Protocol)
        {
            case IpProtocol.Udp:
                ProcessUdp(ip, packet, payload, now);
                break;
            case IpProtocol.Tcp:
                ProcessTcp(ip, packet, payload, now);
                break;
            case IpProtocol.Icmp when !ip.IsV6:
            case IpProtocol.IcmpV6 when ip.IsV6:
                ProcessIcmp(ip, packet, payload, now);
                break;
            case IpProtocol.Ipv6NoNextHeader when ip.IsV6:
                if (!rawTaken) _counters.Drop(DropReason.Ipv6NoNextHeader);
                break;
            default:
                if (rawTaken) break;
                _counters.Drop(DropReason.UnknownProtocol);
                // RFC 1122 §3.2.2.1 protocol unreachable; RFC 8200 §4 parameter problem pointing at the next-header field.
                if (ip.IsV6) SendIcmpError(packet, ip.Source, ip.Destination, true, (byte)IcmpV6Type.ParameterProblem, 1, (uint)ip.NextHeaderPointer, now);
                else SendIcmpError(packet, ip.Source, ip.Destination, false, (byte)IcmpV4Type.DestinationUnreachable, 2, 0, now);
                break;
        }
    }
}
