using Rx.Netstack.Engine;

namespace Rx.Netstack.Link;

/// <summary>
/// Next-hop selection on an Ethernet interface: the connected prefixes (the stack's addresses), IPv6 link-local, the static
/// routes of <see cref="NetstackOptions.Routes"/>, and default routers learned from router advertisements (RFC 4861 §6.3.4)
/// or DHCP. Longest prefix wins; a learned default router is used when nothing else matches.
/// </summary>
internal sealed class RouteTable(IReadOnlyList<Route> staticRoutes)
{
    /// <summary>The static routes, as configured.</summary>
    private readonly Route[] _static = [.. staticRoutes];

    /// <summary>Default routers learned at run time (RA, DHCP) with when each stops being one (Never: no expiry).</summary>
    private readonly List<(NetAddress Router, Instant Expires)> _routers = [];

    /// <summary>True for fe80::/10 (RFC 4291 §2.5.6): always on the link.</summary>
    public static bool IsLinkLocal(NetAddress address) => address.IsV6 && LinkLocalPrefix.IsInPrefix(address, 10);

    private static readonly NetAddress LinkLocalPrefix = NetAddress.V6(0xFE80UL << 48, 0);

    /// <summary>
    /// The neighbour to send a packet for <paramref name="destination"/> to: itself when on a connected prefix (or link-local),
    /// else the gateway of the longest matching route, else a learned default router of its family.
    /// </summary>
    /// <returns>False when no route matches (the packet is dropped as <see cref="Diagnostics.DropReason.NoRoute"/>).</returns>
    public bool TryNextHop(NetAddress destination, ReadOnlySpan<InterfaceAddress> addresses, out NetAddress hop)
    {
        hop = destination;
        if (IsLinkLocal(destination)) return true;
        int best = -1;
        foreach (InterfaceAddress a in addresses)
        {
            if (a.Address.IsV6 != destination.IsV6 || a.PrefixLength <= best) continue;
            if (a.Address.IsInPrefix(destination, a.PrefixLength)) best = a.PrefixLength;
        }
        foreach (Route r in _static)
        {
            if (r.PrefixLength <= best || !r.Contains(destination)) continue;
            best = r.PrefixLength;
            hop = r.Gateway;
        }
        if (best >= 0) return true;
        foreach ((NetAddress router, _) in _routers)
        {
            if (router.IsV6 != destination.IsV6) continue;
            hop = router;
            return true;
        }
        return false;
    }

    /// <summary>Adds or refreshes a learned default router (until <paramref name="expires"/>).</summary>
    public void SetRouter(NetAddress router, Instant expires)
    {
        for (int i = 0; i < _routers.Count; i++)
        {
            if (_routers[i].Router != router) continue;
            _routers[i] = (router, expires);
            return;
        }
        _routers.Add((router, expires));
    }

    /// <summary>Forgets a learned default router.</summary>
    public void RemoveRouter(NetAddress router) => _routers.RemoveAll(r => r.Router == router);

    /// <summary>Forgets every learned router of one family.</summary>
    public void RemoveRouters(bool v6) => _routers.RemoveAll(r => r.Router.IsV6 == v6);

    /// <summary>The earliest expiry of a learned router.</summary>
    public Instant Earliest
    {
        get
        {
            Instant earliest = Instant.Never;
            foreach ((_, Instant expires) in _routers) earliest = Instant.Min(earliest, expires);
            return earliest;
        }
    }

    /// <summary>Drops the learned routers whose lifetime ended (RFC 4861 §6.3.5).</summary>
    public void Expire(Instant now) => _routers.RemoveAll(r => r.Expires <= now);

    /// <summary>Every route now: static ones, then learned default routers.</summary>
    public List<Route> Snapshot() => [.. _static, .. _routers.Select(r => Route.Default(r.Router))];
}
