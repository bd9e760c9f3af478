using System.Buffers.Binary;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

internal sealed partial class IpLayer
{
    /// <summary>
    /// Processes one received frame: IP checks, reassembly, then the transport packet up to the stack (or to ICMP here).
    /// <paramref name="checksumTrusted"/>: its TCP/UDP checksum needs no check (offloaded by its device, or our own looped-back
    /// frame emitted without one). <paramref name="buffer"/>: the handed-over transmit buffer it is in, if any.
    /// </summary>
    public void Receive(ReadOnlySpan<byte> frame, bool checksumTrusted, TransmitBuffer? buffer, Instant now, CoalescedRun coalesced = default)
    {
        var arrival = new Arrival(checksumTrusted, buffer, Coalesced: coalesced);
        switch (frame[0] >> 4)
        {
            case 4: ProcessIpv4(frame, arrival, now); break;
            case 6: ProcessIpv6(frame, arrival, now); break;
            default: _counters.Drop(DropReason.BadIpVersion); break;
        }
    }

    private void ProcessIpv4(ReadOnlySpan<byte> packet, Arrival arrival, Instant now)
    {
        WireError error = Ipv4Header.TryParse(packet, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload);
        if (error != WireError.None)
        {
            _counters.Drop(DropReason.Ipv4Malformed);
            return;
        }
        bool intercepted = false;
        if (!AcceptsDestination(header.Destination))
        {
            if (!_stack.Intercepts(header.Destination))
            {
                _counters.Drop(header.Destination.IsMulticast ? DropReason.MulticastNotJoined : DropReason.NotForUs);
                return;
            }
            intercepted = true;
        }
        packet = packet[..(headerLength + payload.Length)]; // without link padding
        if (header.IsFragment)
        {
            _counters.FragmentsIn++;
            bool complete = _reassembler.TryAdd(false, header.Source, header.Destination, header.Identification, (byte)header.Protocol,
                packet[..headerLength], header.FragmentOffset, payload, header.MoreFragments, now, out ReadOnlySpan<byte> whole);
            _passes.UpdateTimer(_reassembler);
            if (complete)
            {
                ProcessIpv4(whole, arrival with { Reassembled = true }, now);
                _reassembler.ReleaseCompleted();
            }
            return;
        }
        if (arrival.Reassembled && header.Protocol == IpProtocol.Tcp && MovedToOwner(packet, header.Source, payload, arrival)) return;
        _counters.Ipv4In += arrival.Coalesced.Count;
        DeliverTransport(new IpInfo(header.Source, header.Destination, header.Protocol, false, arrival.ChecksumTrusted, arrival.Buffer,
            Intercepted: intercepted, Ecn: (byte)(header.TypeOfService & 3), Coalesced: arrival.Coalesced), packet, payload, now);
    }

    private void ProcessIpv6(ReadOnlySpan<byte> packet, Arrival arrival, Instant now)
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
        bool intercepted = false;
        if (!AcceptsDestination(header.Destination))
        {
            if (!_stack.Intercepts(header.Destination))
            {
                _counters.Drop(header.Destination.IsMulticast ? DropReason.MulticastNotJoined : DropReason.NotForUs);
                return;
            }
            intercepted = true;
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
            _passes.UpdateTimer(_reassembler);
            if (complete)
            {
                ProcessIpv6(whole, arrival with { Reassembled = true }, now);
                _reassembler.ReleaseCompleted();
            }
            return;
        }
        if ((arrival.Reassembled || payloadOffset != Ipv6Header.HeaderLength) && header.Protocol == IpProtocol.Tcp
            && MovedToOwner(packet, header.Source, payload, arrival)) return;
        _counters.Ipv6In += arrival.Coalesced.Count;
        DeliverTransport(new IpInfo(header.Source, header.Destination, header.Protocol, true, arrival.ChecksumTrusted, arrival.Buffer, pointer,
            intercepted, (byte)(header.TrafficClass & 3), arrival.Coalesced), packet, payload, now);
    }

    /// <summary>How a frame came in, carried to what it holds (a reassembled packet inherits its last fragment's, and says so).</summary>
    private readonly record struct Arrival(bool ChecksumTrusted, TransmitBuffer? Buffer, bool Reassembled = false, CoalescedRun Coalesced = default);

    /// <summary>
    /// Of a sharded stack, a TCP packet the link's steering sent to the home engine by rule (it was in fragments, or its TCP
    /// header sat behind IPv6 extension headers, where fixed offsets cannot find the ports): true when its flow is another
    /// engine's and it was moved there whole, to be processed as if it had arrived there (docs/sharding.md).
    /// </summary>
    private bool MovedToOwner(ReadOnlySpan<byte> packet, NetAddress source, ReadOnlySpan<byte> segment, Arrival arrival)
    {
        if (_moveToEngine is not { } move || segment.Length < 4) return false;
        FlowSharding sharding = _stack.Tcp.Sharding;
        var remote = new NetEndpoint(source, BinaryPrimitives.ReadUInt16BigEndian(segment));
        int owner = sharding.ShardOf(remote, BinaryPrimitives.ReadUInt16BigEndian(segment[2..]));
        if (owner == sharding.Index) return false;
        move(owner, packet, arrival.ChecksumTrusted);
        return true;
    }

    /// <summary>Next-header dispatch: raw sockets see every packet, then its protocol's demultiplexer (via the stack) or ICMP.</summary>
    private void DeliverTransport(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> payload, Instant now)
    {
        _counters.CountBytesIn(ip.Protocol, payload.Length);
        bool rawTaken = _stack.DeliverRaw(ip, packet);
        switch (ip.Protocol)
        {
            case IpProtocol.Udp:
                if (!ip.IsV6 && _link.TryReceiveDhcp(ip, payload, now)) break; // the link layer's DHCP client (port 68)
                _stack.DeliverUdp(ip, packet, payload, now);
                break;
            case IpProtocol.Tcp:
                _stack.DeliverTcp(ip, payload, now);
                break;
            case IpProtocol.Igmp when !ip.IsV6:
                _multicast.ReceiveIgmp(ip, payload, now);
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
                if (ip.Intercepted) break; // not ours to answer for: only TCP, UDP and echo are intercepted
                // RFC 1122 §3.2.2.1 protocol unreachable; RFC 8200 §4 parameter problem pointing at the next-header field.
                if (ip.IsV6) SendIcmpError(packet, ip.Source, ip.Destination, true, (byte)IcmpV6Type.ParameterProblem, 1, (uint)ip.NextHeaderPointer, now);
                else SendIcmpError(packet, ip.Source, ip.Destination, false, (byte)IcmpV4Type.DestinationUnreachable, 2, 0, now);
                break;
        }
    }
}
