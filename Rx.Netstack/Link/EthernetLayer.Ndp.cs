using System.Buffers.Binary;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Link;

internal sealed partial class EthernetLayer
{
    /// <summary>ff02::1, all nodes on the link (RFC 4291 §2.7.1).</summary>
    private static readonly NetAddress AllNodes = NetAddress.V6(0xFF02UL << 48, 1);

    /// <summary>ff02::2, all routers on the link.</summary>
    private static readonly NetAddress AllRouters = NetAddress.V6(0xFF02UL << 48, 2);

    /// <summary>The solicited-node group of <paramref name="address"/>: ff02::1:ff00:0/104 and its low 24 bits (RFC 4291 §2.7.1).</summary>
    internal static NetAddress SolicitedNode(NetAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.WriteTo(bytes);
        uint low = BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]) & 0xFF_FFFF;
        return NetAddress.V6(0xFF02UL << 48, 0x1_FF00_0000UL | low);
    }

    /// <summary>
    /// A neighbour discovery message the IP layer received (ICMPv6 133–136, checksum verified). Hop limit 255 and the
    /// message's own checks first (RFC 4861 §6.1, §7.1); then by type. On an IP device NDP has no meaning: ignored.
    /// </summary>
    public void ReceiveNdp(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> message, Instant now)
    {
        if (!_active)
        {
            _counters.Drop(DropReason.IcmpIgnored);
            return;
        }
        if (packet[7] != NdpMessage.RequiredHopLimit || NdpMessage.TryParse(message, out NdpMessage ndp) != WireError.None)
        {
            _counters.Drop(DropReason.NdpMalformed);
            return;
        }
        _counters.NdpIn++;
        switch (ndp.Type)
        {
            case IcmpV6Type.NeighborSolicitation: ReceiveNeighborSolicitation(ip, ndp, now); break;
            case IcmpV6Type.NeighborAdvertisement: ReceiveNeighborAdvertisement(ip, ndp, now); break;
            case IcmpV6Type.RouterAdvertisement: ReceiveRouterAdvertisement(ip, ndp, now); break;
            default: _counters.Drop(DropReason.IcmpIgnored); break; // router solicitations are for routers (RFC 4861 §6.2.6)
        }
    }

    /// <summary>RFC 4861 §7.2.3 and RFC 4862 §5.4.3.</summary>
    private void ReceiveNeighborSolicitation(in IpInfo ip, in NdpMessage ndp, Instant now)
    {
        bool fromUnspecified = ip.Source.IsUnspecified;
        // §7.1.1: a DAD probe goes to the solicited-node group and carries no link-layer address.
        if (fromUnspecified && (ndp.SourceLinkAddress is not null || ip.Destination != SolicitedNode(ndp.Target)))
        {
            _counters.Drop(DropReason.NdpMalformed);
            return;
        }
        if (_tentative.ContainsKey(ndp.Target))
        {
            // Another node is doing DAD for the address we are trying: it is a duplicate. A solicitation from a unicast
            // source for a tentative address is someone resolving it: not answered yet (RFC 4862 §5.4.3).
            if (fromUnspecified) DuplicateDetected(ndp.Target);
            return;
        }
        if (!IsOwn(ndp.Target))
        {
            _counters.Drop(DropReason.IcmpIgnored);
            return;
        }
        if (fromUnspecified)
        {
            // §7.2.4: answer a DAD probe for our address to all nodes, so the prober sees the address is taken.
            SendNeighborAdvertisement(ndp.Target, AllNodes, solicited: false, now);
            return;
        }
        if (ndp.SourceLinkAddress is MacAddress sourceMac)
        {
            _neighbors.Learn(ip.Source, sourceMac, now);
            _passes.UpdateTimer(_neighbors);
        }
        SendNeighborAdvertisement(ndp.Target, ip.Source, solicited: true, now);
    }

    /// <summary>RFC 4861 §7.2.5 and RFC 4862 §5.4.4.</summary>
    private void ReceiveNeighborAdvertisement(in IpInfo ip, in NdpMessage ndp, Instant now)
    {
        if (ip.Destination.IsMulticast && ndp.Solicited)
        {
            _counters.Drop(DropReason.NdpMalformed); // §7.1.2
            return;
        }
        if (_tentative.ContainsKey(ndp.Target))
        {
            DuplicateDetected(ndp.Target);
            return;
        }
        if (IsOwn(ndp.Target))
        {
            _counters.AddressConflicts++;
            return;
        }
        NeighborCache.Entry? entry = _neighbors.Find(ndp.Target);
        bool wasRouter = entry?.IsRouter == true;
        _neighbors.Advertise(ndp.Target, ndp.TargetLinkAddress, ndp.Solicited, ndp.Override, now);
        if (entry is not null)
        {
            entry.IsRouter = ndp.Router;
            if (wasRouter && !ndp.Router) _routes.RemoveRouter(ndp.Target); // §7.2.5: no longer a router
        }
        _passes.UpdateTimer(_neighbors);
    }

    /// <summary>RFC 4861 §6.1.2 (validity) and §6.3.4 (processing); prefixes per RFC 4862 §5.5.3.</summary>
    private void ReceiveRouterAdvertisement(in IpInfo ip, in NdpMessage ndp, Instant now)
    {
        if (!RouteTable.IsLinkLocal(ip.Source))
        {
            _counters.Drop(DropReason.NdpMalformed);
            return;
        }
        if (!_settings.RouterDiscovery)
        {
            _counters.Drop(DropReason.IcmpIgnored);
            return;
        }
        _nextRouterSolicitation = Instant.Never; // a router answered (RFC 4861 §6.3.7)
        if (ndp.SourceLinkAddress is MacAddress routerMac) _neighbors.Learn(ip.Source, routerMac, now);
        _neighbors.SetRouter(ip.Source, true);
        _passes.UpdateTimer(_neighbors);
        if (ndp.RouterLifetime > 0) _routes.SetRouter(ip.Source, now + TimeSpan.FromSeconds(ndp.RouterLifetime));
        else _routes.RemoveRouter(ip.Source);
        foreach (NdpPrefixInformation prefix in ndp.Prefixes ?? [])
            ConfigurePrefix(prefix, now);
        _passes.UpdateTimer(this);
    }

    /// <summary>
    /// SLAAC (RFC 4862 §5.5.3): an autonomous /64 prefix that is not link-local gives the address prefix + our interface
    /// identifier, which goes through DAD; a known one has its valid lifetime updated, never cut below two hours by an
    /// advertisement (the rule of §5.5.3(e)).
    /// </summary>
    private void ConfigurePrefix(in NdpPrefixInformation prefix, Instant now)
    {
        if (!prefix.Autonomous || prefix.PrefixLength != 64 || RouteTable.IsLinkLocal(prefix.Prefix) || prefix.PreferredLifetime > prefix.ValidLifetime)
            return;
        Span<byte> bytes = stackalloc byte[16];
        prefix.Prefix.WriteTo(bytes);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _mac.InterfaceIdentifier);
        var address = new InterfaceAddress(NetAddress.ReadV6(bytes), 64);
        Instant validUntil = prefix.ValidLifetime == uint.MaxValue ? Instant.Never : now + TimeSpan.FromSeconds(prefix.ValidLifetime);
        if (!_automatic.TryGetValue(address, out Instant current))
        {
            if (prefix.ValidLifetime == 0 || _duplicates.Contains(address.Address)) return;
            _automatic[address] = validUntil;
            _ip.SetAutomaticAddresses(_automatic.Keys);
            return;
        }
        TimeSpan remaining = current.IsNever ? TimeSpan.MaxValue : current - now;
        if (prefix.ValidLifetime == uint.MaxValue || TimeSpan.FromSeconds(prefix.ValidLifetime) > TwoHours || validUntil > current)
            _automatic[address] = validUntil;
        else if (remaining > TwoHours)
            _automatic[address] = now + TwoHours;
    }

    /// <summary>Removes the automatic addresses whose valid lifetime ended.</summary>
    private void ExpireAutomaticAddresses(Instant now)
    {
        bool changed = false;
        foreach ((InterfaceAddress address, Instant expires) in _automatic)
        {
            if (expires > now) continue;
            _automatic.Remove(address); // removing while enumerating is allowed for Dictionary in .NET Core 3+
            changed = true;
        }
        if (changed) _ip.SetAutomaticAddresses(_automatic.Keys);
    }

    /// <summary>DAD (RFC 4862 §5.4.2): each tentative address sends its probes a retransmission time apart, and becomes
    /// usable one retransmission time after the last probe unless a conflict was heard.</summary>
    private void RunDuplicateAddressDetection(Instant now)
    {
        _scratch.Clear();
        foreach ((NetAddress address, (int _, Instant next)) in _tentative)
            if (next <= now) _scratch.Add(address);
        foreach (NetAddress address in _scratch)
        {
            (int sent, _) = _tentative[address];
            if (sent < _settings.DupAddrDetectTransmits)
            {
                _tentative[address] = (sent + 1, now + _settings.RetransmitTime);
                SendNdp(NetAddress.AnyV6, SolicitedNode(address), new NdpMessage(IcmpV6Type.NeighborSolicitation, address));
                continue;
            }
            _tentative.Remove(address);
            // The link-local address is usable: router discovery may start (RFC 4861 §6.3.7).
            if (RouteTable.IsLinkLocal(address) && _settings.RouterDiscovery && _routerSolicitationsSent == 0) _nextRouterSolicitation = now;
        }
    }

    /// <summary>DAD failed (RFC 4862 §5.4.5): the address is not used; one the layer made is removed.</summary>
    private void DuplicateDetected(NetAddress address)
    {
        _tentative.Remove(address);
        _duplicates.Add(address);
        _counters.AddressConflicts++;
        foreach (InterfaceAddress a in _automatic.Keys)
        {
            if (a.Address != address) continue;
            _automatic.Remove(a);
            _ip.SetAutomaticAddresses(_automatic.Keys);
            break;
        }
    }

    /// <summary>A router solicitation to all routers (RFC 4861 §6.3.7), from the link-local address with our MAC when it is
    /// usable, else from :: without it (§4.1).</summary>
    private void SendRouterSolicitation(Instant now)
    {
        if (_routerSolicitationsSent >= _settings.MaxRouterSolicitations)
        {
            _nextRouterSolicitation = Instant.Never;
            return;
        }
        _routerSolicitationsSent++;
        _nextRouterSolicitation = now + _settings.RouterSolicitationInterval;
        NetAddress source = NetAddress.AnyV6;
        foreach (InterfaceAddress a in _ip.AddressSpan)
            if (RouteTable.IsLinkLocal(a.Address) && !IsUnusable(a.Address)) { source = a.Address; break; }
        var rs = new NdpMessage(IcmpV6Type.RouterSolicitation, NetAddress.AnyV6, SourceLinkAddress: source.IsUnspecified ? null : _mac);
        SendNdp(source, AllRouters, rs);
    }

    /// <summary>A neighbour solicitation for <paramref name="target"/> (RFC 4861 §7.2.2): to its solicited-node group, or to
    /// <paramref name="unicast"/> when probing; from a usable address of ours, with our link-layer address.</summary>
    private void SendNeighborSolicitation(NetAddress target, MacAddress? unicast)
    {
        if (!_ip.TrySelectSource(NetAddress.AnyV6, target, out NetAddress source) || !IsOwn(source)) return;
        var ns = new NdpMessage(IcmpV6Type.NeighborSolicitation, target, SourceLinkAddress: _mac);
        if (unicast is MacAddress mac) SendNdp(source, target, ns, mac);
        else SendNdp(source, SolicitedNode(target), ns);
    }

    /// <summary>An advertisement of our <paramref name="target"/> with our link-layer address, overriding (RFC 4861 §7.2.4).
    /// A unicast one goes through the neighbour cache (the solicitor was just learned, or is resolved).</summary>
    private void SendNeighborAdvertisement(NetAddress target, NetAddress destination, bool solicited, Instant now)
    {
        var na = new NdpMessage(IcmpV6Type.NeighborAdvertisement, target, TargetLinkAddress: _mac, Solicited: solicited, Override: true);
        int length = BuildNdp(target, destination, na);
        if (destination.IsMulticast)
        {
            SendControl(MacAddress.ForMulticast(destination), EtherType.Ipv6, length);
            return;
        }
        NeighborCache.Resolution resolution = _neighbors.Resolve(destination, _control.AsSpan(FrameRoom, length), now, out MacAddress mac);
        _passes.UpdateTimer(_neighbors);
        if (resolution == NeighborCache.Resolution.Ready) SendControl(mac, EtherType.Ipv6, length);
    }

    /// <summary>Builds and sends a neighbour discovery message to a multicast group (or to <paramref name="unicast"/>).</summary>
    private void SendNdp(NetAddress source, NetAddress destination, in NdpMessage message, MacAddress? unicast = null)
    {
        int length = BuildNdp(source, destination, message);
        SendControl(unicast ?? MacAddress.ForMulticast(destination), EtherType.Ipv6, length);
    }

    /// <summary>Writes the IPv6 packet of an NDP message (hop limit 255) at <see cref="FrameRoom"/> in the control buffer.</summary>
    private int BuildNdp(NetAddress source, NetAddress destination, in NdpMessage message)
    {
        Span<byte> packet = _control.AsSpan(FrameRoom);
        int length = NdpMessage.Emit(packet[Ipv6Header.HeaderLength..], message, source, destination);
        Ipv6Header.Emit(packet, new Ipv6Header(source, destination, IpProtocol.IcmpV6, NdpMessage.RequiredHopLimit), length);
        _counters.NdpOut++;
        _counters.IcmpOut++;
        return Ipv6Header.HeaderLength + length;
    }
}
