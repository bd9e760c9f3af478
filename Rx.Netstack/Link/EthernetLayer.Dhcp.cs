using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Link;

internal sealed partial class EthernetLayer
{
    /// <summary>Takes a UDP datagram from a DHCP server to the client port when the DHCP client runs; false: not DHCP's.</summary>
    public bool TryReceiveDhcp(in IpInfo ip, ReadOnlySpan<byte> datagram, Instant now)
    {
        if (_dhcp is null || !_active || datagram.Length < UdpHeader.HeaderLength
            || datagram[2] != 0 || datagram[3] != DhcpMessage.ClientPort || datagram[0] != 0 || datagram[1] != DhcpMessage.ServerPort)
            return false;
        if (UdpHeader.TryParse(datagram, ip.Source, ip.Destination, out _, out ReadOnlySpan<byte> payload, !ip.ChecksumTrusted) != WireError.None
            || DhcpMessage.TryParse(payload, out DhcpMessage message) != WireError.None)
        {
            _counters.Drop(DropReason.DhcpIgnored);
            return true;
        }
        _dhcp.Receive(message, now);
        _passes.UpdateTimer(_dhcp);
        return true;
    }

    /// <summary>Sends a client message from port 68 to a server's port 67: broadcast from 0.0.0.0 (or our leased address
    /// while rebinding), or unicast to the server while renewing (RFC 2131 §4.1, §4.4.5). <paramref name="unresolvedToBroadcast"/>:
    /// a server whose MAC is not known gets the frame at the broadcast MAC instead of waiting for ARP (a release at teardown,
    /// when there is no later).</summary>
    internal void SendDhcp(in DhcpMessage message, NetAddress destination, Instant now, bool unresolvedToBroadcast = false)
    {
        NetAddress source = message.ClientAddress;
        Span<byte> packet = _control.AsSpan(FrameRoom);
        int dhcpLength = DhcpMessage.Emit(packet[(Ipv4Header.HeaderLength + UdpHeader.HeaderLength)..], message);
        int udpLength = UdpHeader.Emit(packet[Ipv4Header.HeaderLength..], new UdpHeader(DhcpMessage.ClientPort, DhcpMessage.ServerPort), dhcpLength, source, destination);
        Ipv4Header.Emit(packet, new Ipv4Header(source, destination, IpProtocol.Udp, 64), udpLength);
        int length = Ipv4Header.HeaderLength + udpLength;
        _counters.UdpOut++;
        if (destination.IsBroadcast)
        {
            SendControl(MacAddress.Broadcast, EtherType.Ipv4, length);
            return;
        }
        if (unresolvedToBroadcast)
        {
            SendControl(_routes.TryNextHop(destination, _ip.AddressSpan, out NetAddress next) && _neighbors.Find(next) is { State: not NeighborState.Incomplete } known
                ? known.Mac : MacAddress.Broadcast, EtherType.Ipv4, length);
            return;
        }
        if (!_routes.TryNextHop(destination, _ip.AddressSpan, out NetAddress hop))
        {
            _counters.Drop(DropReason.NoRoute);
            return;
        }
        NeighborCache.Resolution resolution = _neighbors.Resolve(hop, packet[..length], now, out MacAddress mac);
        _passes.UpdateTimer(_neighbors);
        if (resolution == NeighborCache.Resolution.Ready) SendControl(mac, EtherType.Ipv4, length);
    }

    /// <summary>A lease was granted or extended: its address (replacing a previous one), its router as the IPv4 default route
    /// until the lease ends, and the change published.</summary>
    internal void ApplyLease(DhcpLease? previous, DhcpLease lease, Instant expires, DhcpLeaseChange change)
    {
        if (previous is not null && previous.Address != lease.Address) _automatic.Remove(previous.Address);
        _automatic[lease.Address] = Instant.Never; // the client ends it, not the lifetime sweep
        _ip.SetAutomaticAddresses(_automatic.Keys);
        _routes.RemoveRouters(v6: false);
        if (lease.Router is NetAddress router) _routes.SetRouter(router, expires);
        Publish(new DhcpLeaseEvent(change, lease));
    }

    /// <summary>A lease ended: its address and router go.</summary>
    internal void RemoveLease(DhcpLease lease)
    {
        _automatic.Remove(lease.Address);
        _ip.SetAutomaticAddresses(_automatic.Keys);
        _routes.RemoveRouters(v6: false);
        Publish(new DhcpLeaseEvent(DhcpLeaseChange.Lost, lease));
    }

    /// <summary>The stack's teardown, while the device is still attached: a lease in force is released (RFC 2131 §4.4.6) and
    /// that is published.</summary>
    internal void ReleaseLease()
    {
        if (!_active || _dhcp?.Release(_passes.Now) is not { } released) return;
        _automatic.Remove(released.Address);
        Publish(new DhcpLeaseEvent(DhcpLeaseChange.Released, released));
    }

    private void Publish(DhcpLeaseEvent change)
    {
        if (!_leaseEvents.HasObservers) return;
        try { _leaseEvents.OnNext(change); }
        catch (Exception) { _counters.SubscriberFaults++; }
    }
}
