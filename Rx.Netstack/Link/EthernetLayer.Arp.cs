using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Link;

internal sealed partial class EthernetLayer
{
    /// <summary>The IPv4 all-hosts group (RFC 1112 §4), joined by every IPv4 host.</summary>
    private static readonly NetAddress AllHosts = NetAddress.V4(224, 0, 0, 1);

    /// <summary>
    /// An ARP packet (RFC 826 "packet reception"): a sender claiming one of our addresses is a conflict (RFC 5227 §2.4,
    /// counted); a probe (sender 0.0.0.0) for our address is answered; otherwise the sender's mapping merges into an existing
    /// entry, and a packet for one of our addresses also creates one and a request is answered.
    /// </summary>
    private void ReceiveArp(ReadOnlySpan<byte> packet, Instant now)
    {
        if (ArpPacket.TryParse(packet, out ArpPacket arp) != WireError.None)
        {
            _counters.Drop(DropReason.ArpMalformed);
            return;
        }
        _counters.ArpIn++;
        if (_dhcp is not null && _dhcp.ReceiveArp(arp, now))
        {
            _passes.UpdateTimer(_dhcp);
            return;
        }
        bool forUs = IsOwn(arp.TargetProtocol);
        if (IsOwn(arp.SenderProtocol))
        {
            _counters.AddressConflicts++;
            return;
        }
        if (!arp.SenderProtocol.IsUnspecified)
        {
            if (!forUs) _neighbors.Advertise(arp.SenderProtocol, arp.SenderHardware, solicited: false, @override: true, now);
            else if (arp.Operation == ArpOperation.Request
                || !_neighbors.Advertise(arp.SenderProtocol, arp.SenderHardware, solicited: true, @override: true, now))
                _neighbors.Learn(arp.SenderProtocol, arp.SenderHardware, now);
            _passes.UpdateTimer(_neighbors);
        }
        if (forUs && arp.Operation == ArpOperation.Request)
            SendArp(new ArpPacket(ArpOperation.Reply, _mac, arp.TargetProtocol, arp.SenderHardware, arp.SenderProtocol), arp.SenderHardware);
    }

    /// <summary>A request for <paramref name="target"/>, from the address we would send to it from.</summary>
    private void SendArpRequest(NetAddress target, MacAddress? unicast)
    {
        if (!_ip.TrySelectSource(NetAddress.AnyV4, target, out NetAddress source) || !IsOwn(source)) return;
        SendArp(new ArpPacket(ArpOperation.Request, _mac, source, default, target), unicast ?? MacAddress.Broadcast);
    }

    /// <summary>An ARP announcement of <paramref name="address"/> (RFC 5227 §3): a broadcast request with our address as both
    /// sender and target, so neighbours update their caches.</summary>
    private void SendGratuitousArp(NetAddress address) =>
        SendArp(new ArpPacket(ArpOperation.Request, _mac, address, default, address), MacAddress.Broadcast);

    /// <summary>An ARP probe for <paramref name="target"/> (RFC 5227 §2.1.1): a broadcast request from 0.0.0.0.</summary>
    internal void SendArpProbe(NetAddress target) =>
        SendArp(new ArpPacket(ArpOperation.Request, _mac, NetAddress.AnyV4, default, target), MacAddress.Broadcast);

    private void SendArp(in ArpPacket arp, MacAddress destination)
    {
        int length = ArpPacket.Emit(_control.AsSpan(FrameRoom), arp);
        _counters.ArpOut++;
        SendControl(destination, EtherType.Arp, length);
    }
}
