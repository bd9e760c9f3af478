using Rx.Netstack.Engine;
using Rx.Netstack.Link;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>The stack's MAC address while an Ethernet device is attached (<see cref="LinkMedium.Ethernet"/>); null on an
    /// IP device or without one.</summary>
    public MacAddress? MacAddress
    {
        get
        {
            lock (_passes.EngineLock) return _link.IsActive ? _link.Mac : null;
        }
    }

    /// <summary>A snapshot of the neighbour cache (ARP and IPv6 neighbours); empty on an IP device.</summary>
    public IReadOnlyList<NeighborInfo> GetNeighbors()
    {
        lock (_passes.EngineLock) return _link.Neighbors();
    }

    /// <summary>A snapshot of the routes used on an Ethernet device: the static ones, then default routers learned from
    /// router advertisements (connected prefixes are implied by <see cref="Addresses"/>).</summary>
    public IReadOnlyList<Route> GetRoutes()
    {
        lock (_passes.EngineLock) return _link.Routes();
    }

    /// <summary>
    /// The DHCP client's lease changes (<see cref="EthernetSettings.Dhcp"/>): bound, renewed, lost. Raised on the engine's
    /// scheduler; a subscriber that throws only hurts itself. Nothing is replayed: read <see cref="DhcpLease"/> for the lease now.
    /// </summary>
    public IObservable<DhcpLeaseEvent> DhcpLeases => _link.LeaseEvents.IsolateSubscribers(this);

    /// <summary>The DHCP lease in force, if any.</summary>
    public DhcpLease? DhcpLease
    {
        get
        {
            lock (_passes.EngineLock) return _link.Lease;
        }
    }

    /// <summary>The multicast groups UDP sockets of this stack joined now (each once, however many sockets joined it).</summary>
    public IReadOnlyList<NetAddress> GetMulticastGroups()
    {
        lock (_passes.EngineLock) return _ip.Multicast.Snapshot();
    }
}
