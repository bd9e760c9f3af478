using System.Buffers;
using System.Reactive.Subjects;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Link;

/// <summary>
/// The link layer of an Ethernet device (<see cref="LinkMedium.Ethernet"/>), between the device and the IP layer: strips and
/// adds Ethernet headers, answers and asks ARP (RFC 826) and IPv6 neighbour discovery (RFC 4861), keeps the neighbour cache
/// and the route table, runs duplicate address detection (RFC 4862 §5.4), router discovery and SLAAC. On an IP device it is
/// idle and the IP layer talks to the device directly. All state is declared here; ARP is in <c>EthernetLayer.Arp.cs</c>,
/// neighbour and router discovery in <c>EthernetLayer.Ndp.cs</c>. A timer owner for DAD, router solicitations and lifetimes.
/// </summary>
internal sealed partial class EthernetLayer : TimerOwner, IDisposable
{
    /// <summary>Room kept before an IP packet for the Ethernet header (with an 802.1Q tag).</summary>
    public const int FrameRoom = EthernetHeader.MaxHeaderLength;

    /// <summary>The floor an unauthenticated advertisement may cut a SLAAC address's remaining lifetime to (RFC 4862 §5.5.3(e)).</summary>
    private static readonly TimeSpan TwoHours = TimeSpan.FromHours(2);

    // ---------------------------------------------------------------- state

    /// <summary>The IP layer: addresses, source selection, input of IP packets, output of frames to the device.</summary>
    private readonly IpLayer _ip;

    /// <summary>The clock and the timer queue.</summary>
    private readonly PassScheduler _passes;

    /// <summary>The stack's counters.</summary>
    private readonly NetstackCounters _counters;

    /// <summary>The Ethernet settings of the stack's options.</summary>
    private readonly EthernetSettings _settings;

    /// <summary>IP → MAC with reachability states (a timer owner of its own).</summary>
    private readonly NeighborCache _neighbors;

    /// <summary>Connected prefixes, static routes, learned default routers.</summary>
    private readonly RouteTable _routes;

    /// <summary>Where control frames are built (ARP, neighbour and router discovery): never the IP layer's transmit buffer,
    /// which may hold the packet that caused the solicitation.</summary>
    private readonly byte[] _control = new byte[FrameRoom + 1280];

    /// <summary>The stack's MAC address (chosen once, at construction).</summary>
    private readonly MacAddress _mac;

    /// <summary>An Ethernet device is attached: the layer is in the path.</summary>
    private bool _active;

    /// <summary>Addresses the layer has seen (to tell a new one, which needs DAD or an announcement).</summary>
    private readonly HashSet<NetAddress> _known = [];

    /// <summary>IPv6 addresses under duplicate address detection: probes sent and when the next step is due.</summary>
    private readonly Dictionary<NetAddress, (int Sent, Instant Next)> _tentative = [];

    /// <summary>IPv6 addresses DAD found in use by another node: never used (RFC 4862 §5.4.5).</summary>
    private readonly HashSet<NetAddress> _duplicates = [];

    /// <summary>IPv4 addresses to announce with a gratuitous ARP (RFC 5227 §3) at <see cref="_announceAt"/>.</summary>
    private readonly List<NetAddress> _toAnnounce = [];

    /// <summary>When <see cref="_toAnnounce"/> is sent (Never: nothing to announce).</summary>
    private Instant _announceAt = Instant.Never;

    /// <summary>Addresses the layer made (link-local, SLAAC) with the end of their valid lifetime (Never: none).</summary>
    private readonly Dictionary<InterfaceAddress, Instant> _automatic = [];

    /// <summary>Multicast groups the stack listens to: all-nodes, all-hosts, the solicited-node group of each IPv6 address.</summary>
    private readonly HashSet<NetAddress> _groups = [];

    /// <summary>Router solicitations sent since the link came up.</summary>
    private int _routerSolicitationsSent;

    /// <summary>When the next router solicitation goes (Never: none).</summary>
    private Instant _nextRouterSolicitation = Instant.Never;

    /// <summary>Scratch list for timer work (no allocation per firing).</summary>
    private readonly List<NetAddress> _scratch = [];

    /// <summary>The DHCPv4 client (null unless <see cref="EthernetSettings.Dhcp"/>; a timer owner of its own).</summary>
    private readonly DhcpClient? _dhcp;

    /// <summary>Lease changes, raised on the engine (<see cref="Netstack.DhcpLeases"/>).</summary>
    private readonly Subject<DhcpLeaseEvent> _leaseEvents = new();

    /// <summary>Creates the (idle) link layer of a stack.</summary>
    public EthernetLayer(IpLayer ip, PassScheduler passes, NetstackOptions options, NetstackCounters counters, int seed)
    {
        _ip = ip;
        _passes = passes;
        _counters = counters;
        _settings = options.Ethernet;
        _neighbors = new NeighborCache(this, _settings, counters);
        _routes = new RouteTable(options.Routes);
        _mac = _settings.MacAddress ?? MacAddress.LocallyAdministered((uint)(options.RandomSeed is null ? Random.Shared.Next() : seed));
        if (_settings.Dhcp)
            _dhcp = new DhcpClient(this, counters, options.RandomSeed is null ? Random.Shared.Next() : seed, _settings.DhcpPreviousAddress ?? default);
    }

    /// <summary>Lease changes of the DHCP client.</summary>
    public IObservable<DhcpLeaseEvent> LeaseEvents => _leaseEvents;

    /// <summary>The DHCP lease in force, if any.</summary>
    public DhcpLease? Lease => _dhcp?.Lease;

    /// <summary>The stack's teardown: the lease stream completes.</summary>
    public void Dispose()
    {
        _leaseEvents.OnCompleted();
        _leaseEvents.Dispose();
    }

    /// <summary>True while an Ethernet device is attached.</summary>
    public bool IsActive => _active;

    /// <summary>The stack's MAC address.</summary>
    public MacAddress Mac => _mac;

    /// <summary>The neighbour cache, for diagnostics.</summary>
    public List<NeighborInfo> Neighbors() => _neighbors.Snapshot();

    /// <summary>The routes, for diagnostics.</summary>
    public List<Route> Routes() => _routes.Snapshot();

    // ---------------------------------------------------------------- the device

    /// <summary>An Ethernet device was attached (under the engine lock): the link-local address, DAD and router
    /// solicitation start with the next pass.</summary>
    public void OnAttached()
    {
        _active = true;
        _routerSolicitationsSent = 0;
        if (_settings.Ipv6LinkLocal)
            _automatic[new InterfaceAddress(NetAddress.V6(0xFE80UL << 48, _mac.InterfaceIdentifier), 64)] = Instant.Never;
        _ip.SetAutomaticAddresses(_automatic.Keys);
        if (_settings.RouterDiscovery && !_tentative.Keys.Any(RouteTable.IsLinkLocal)) _nextRouterSolicitation = _passes.Now;
        _passes.UpdateTimer(this);
        if (_dhcp is not null)
        {
            _dhcp.Start(_passes.Now);
            _passes.UpdateTimer(_dhcp);
        }
    }

    /// <summary>The device went away: neighbours, DAD and learned state are forgotten (waiting packets counted as dropped).</summary>
    public void OnDetached()
    {
        if (!_active) return;
        _active = false;
        _neighbors.Clear();
        _tentative.Clear();
        _known.Clear();
        _groups.Clear();
        _toAnnounce.Clear();
        _announceAt = Instant.Never;
        _nextRouterSolicitation = Instant.Never;
        _routes.RemoveRouters(v6: true);
        _dhcp?.Stop();
        _routes.RemoveRouters(v6: false);
        _automatic.Clear();
        _ip.SetAutomaticAddresses([]);
    }

    // ---------------------------------------------------------------- addresses

    /// <summary>True for an address under DAD or found duplicate: not used as a source, packets to it not taken.</summary>
    public bool IsUnusable(NetAddress address) =>
        _tentative.Count > 0 && _tentative.ContainsKey(address) || _duplicates.Count > 0 && _duplicates.Contains(address);

    /// <summary>True when the stack listens to the multicast <paramref name="group"/> (only on Ethernet).</summary>
    public bool IsMember(NetAddress group) => _active && _groups.Contains(group);

    /// <summary>The IP layer's addresses changed: new IPv6 ones start DAD, new IPv4 ones are announced, groups follow.</summary>
    public void OnAddressesChanged()
    {
        if (!_active) return;
        Instant now = _passes.Now;
        ReadOnlySpan<InterfaceAddress> addresses = _ip.AddressSpan;
        foreach (InterfaceAddress a in addresses)
        {
            if (!_known.Add(a.Address)) continue;
            if (a.Address.IsV6)
            {
                if (_settings.DupAddrDetectTransmits > 0) _tentative[a.Address] = (0, now);
            }
            else
            {
                _toAnnounce.Add(a.Address);
                _announceAt = now;
            }
        }
        _scratch.Clear();
        foreach (NetAddress known in _known)
            if (!Contains(addresses, known)) _scratch.Add(known);
        foreach (NetAddress gone in _scratch)
        {
            _known.Remove(gone);
            _tentative.Remove(gone);
            _duplicates.Remove(gone);
        }
        _groups.Clear();
        _groups.Add(AllNodes);
        _groups.Add(AllHosts);
        foreach (InterfaceAddress a in addresses)
            if (a.Address.IsV6) _groups.Add(SolicitedNode(a.Address));
        _passes.UpdateTimer(this);
    }

    private static bool Contains(ReadOnlySpan<InterfaceAddress> addresses, NetAddress address)
    {
        foreach (InterfaceAddress a in addresses)
            if (a.Address == address) return true;
        return false;
    }

    /// <summary>True when <paramref name="address"/> is one of the stack's interface addresses (not loopback).</summary>
    private bool IsOwn(NetAddress address) => Contains(_ip.AddressSpan, address);

    // ---------------------------------------------------------------- input

    /// <summary>One frame from the device: the Ethernet header checked and stripped, the payload to IP or ARP.</summary>
    public void Receive(ReadOnlySpan<byte> frame, bool checksumTrusted, TransmitBuffer? owner, Instant now)
    {
        if (EthernetHeader.TryParse(frame, out EthernetHeader header, out ReadOnlySpan<byte> payload) != WireError.None)
        {
            _counters.Drop(DropReason.EthernetMalformed);
            return;
        }
        int? vlan = header.VlanId == 0 ? null : header.VlanId; // VLAN 0: a priority tag only (IEEE 802.1Q §9.6)
        if (vlan != _settings.VlanId)
        {
            _counters.Drop(DropReason.EthernetOtherVlan);
            return;
        }
        // A bridge floods unknown unicast to every port: frames for other stations are normal here, and counted.
        if ((header.Destination != _mac && !header.Destination.IsMulticast) || header.Source == _mac)
        {
            _counters.Drop(DropReason.EthernetNotForUs);
            return;
        }
        switch (header.EtherType)
        {
            case EtherType.Ipv4 when !payload.IsEmpty && payload[0] >> 4 == 4:
            case EtherType.Ipv6 when !payload.IsEmpty && payload[0] >> 4 == 6:
                _ip.Receive(payload, checksumTrusted, owner, now);
                break;
            case EtherType.Ipv4 or EtherType.Ipv6:
                _counters.Drop(DropReason.BadIpVersion);
                break;
            case EtherType.Arp:
                ReceiveArp(payload, now);
                break;
            default:
                _counters.Drop(DropReason.UnknownEtherType);
                break;
        }
    }

    // ---------------------------------------------------------------- output

    /// <summary>
    /// Sends an IP packet built by the IP layer: picks the next hop (route table), finds its MAC address (neighbour cache,
    /// multicast mapping, broadcast), writes the Ethernet header in front of the packet and hands the frame to the device.
    /// A packet to a neighbour being resolved is queued (copied); one without a route is dropped and counted.
    /// </summary>
    public bool Send(ReadOnlySpan<byte> packet)
    {
        bool v6 = packet[0] >> 4 == 6;
        NetAddress destination = v6 ? NetAddress.ReadV6(packet[24..]) : NetAddress.ReadV4(packet[16..]);
        MacAddress mac;
        if (destination.IsMulticast)
        {
            mac = MacAddress.ForMulticast(destination);
        }
        else if (!v6 && IsBroadcast(destination))
        {
            mac = MacAddress.Broadcast;
        }
        else
        {
            if (!_routes.TryNextHop(destination, _ip.AddressSpan, out NetAddress hop))
            {
                _counters.Drop(DropReason.NoRoute);
                return false;
            }
            NeighborCache.Resolution resolution = _neighbors.Resolve(hop, packet, _passes.Now, out mac);
            _passes.UpdateTimer(_neighbors);
            if (resolution != NeighborCache.Resolution.Ready) return resolution == NeighborCache.Resolution.Queued;
        }
        return SendIp(packet, mac, v6);
    }

    /// <summary>Limited broadcast, or the directed broadcast of one of our IPv4 subnets.</summary>
    private bool IsBroadcast(NetAddress destination)
    {
        if (destination.IsBroadcast) return true;
        foreach (InterfaceAddress a in _ip.AddressSpan)
        {
            if (a.Address.IsV6 || a.PrefixLength >= 31) continue;
            uint host = uint.MaxValue >> a.PrefixLength;
            if (a.Address.IsInPrefix(destination, a.PrefixLength) && (destination.V4Value & host) == host) return true;
        }
        return false;
    }

    /// <summary>Writes the Ethernet header in front of <paramref name="packet"/> (in place when the IP layer's buffer has room)
    /// and sends the frame.</summary>
    private bool SendIp(ReadOnlySpan<byte> packet, MacAddress destination, bool v6)
    {
        var header = new EthernetHeader(destination, _mac, v6 ? EtherType.Ipv6 : EtherType.Ipv4, _settings.VlanId);
        int headerLength = header.Length;
        Span<byte> frame = _ip.FrameAround(packet, headerLength);
        if (!frame.IsEmpty)
        {
            EthernetHeader.Emit(frame, header);
            return _ip.SendFrame(frame);
        }
        // Not in a buffer with room in front (a raw socket's packet): copy; off the hot path.
        byte[] copy = ArrayPool<byte>.Shared.Rent(headerLength + packet.Length);
        try
        {
            EthernetHeader.Emit(copy, header);
            packet.CopyTo(copy.AsSpan(headerLength));
            return _ip.SendFrame(copy, 0, headerLength + packet.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>Sends a packet that waited for its neighbour: it sits at <see cref="FrameRoom"/> in <paramref name="buffer"/>.</summary>
    internal void SendQueued(byte[] buffer, int length, MacAddress destination)
    {
        bool v6 = buffer[FrameRoom] >> 4 == 6;
        var header = new EthernetHeader(destination, _mac, v6 ? EtherType.Ipv6 : EtherType.Ipv4, _settings.VlanId);
        int start = FrameRoom - header.Length;
        EthernetHeader.Emit(buffer.AsSpan(start), header);
        _ip.SendFrame(buffer, start, header.Length + length);
    }

    /// <summary>Sends a control frame whose payload is built at <see cref="FrameRoom"/> in <see cref="_control"/>.</summary>
    private bool SendControl(MacAddress destination, EtherType type, int payloadLength)
    {
        var header = new EthernetHeader(destination, _mac, type, _settings.VlanId);
        int start = FrameRoom - header.Length;
        EthernetHeader.Emit(_control.AsSpan(start), header);
        return _ip.SendFrame(_control, start, header.Length + payloadLength);
    }

    /// <summary>Asks for <paramref name="target"/>'s MAC address: a broadcast ARP request or a multicast neighbour
    /// solicitation, or a unicast one to <paramref name="unicast"/> (a probe of a known neighbour).</summary>
    internal void Solicit(NetAddress target, MacAddress? unicast)
    {
        if (!_active) return;
        if (target.IsV6) SendNeighborSolicitation(target, unicast);
        else SendArpRequest(target, unicast);
    }

    /// <summary>A neighbour stopped answering: a router among them stops being a default router (RFC 4861 §7.3.3).</summary>
    internal void OnNeighborUnreachable(NetAddress address, bool wasRouter)
    {
        if (wasRouter) _routes.RemoveRouter(address);
    }

    // ---------------------------------------------------------------- timers

    public override Instant PollAt
    {
        get
        {
            Instant earliest = Instant.Min(_announceAt, _nextRouterSolicitation);
            earliest = Instant.Min(earliest, _routes.Earliest);
            foreach ((_, Instant next) in _tentative.Values) earliest = Instant.Min(earliest, next);
            foreach (Instant expires in _automatic.Values) earliest = Instant.Min(earliest, expires);
            return earliest;
        }
    }

    public override void OnTimer(Instant now)
    {
        if (!_active) return;
        if (_announceAt <= now)
        {
            foreach (NetAddress address in _toAnnounce) if (IsOwn(address)) SendGratuitousArp(address);
            _toAnnounce.Clear();
            _announceAt = Instant.Never;
        }
        RunDuplicateAddressDetection(now);
        if (_nextRouterSolicitation <= now) SendRouterSolicitation(now);
        _routes.Expire(now);
        ExpireAutomaticAddresses(now);
    }
}
