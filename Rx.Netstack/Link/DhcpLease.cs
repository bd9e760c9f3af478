namespace Rx.Netstack.Link;

/// <summary>A DHCPv4 lease (RFC 2131) as the stack applied it.</summary>
/// <param name="Address">The leased address with the prefix length of the subnet mask option (/24 when the server sent none).</param>
/// <param name="Router">The default gateway of the router option, if any (added as a default route while the lease lasts).</param>
/// <param name="DnsServers">The DNS servers of the lease: <see cref="Netstack.NameResolver"/> asks them when
/// <see cref="NetstackOptions.DnsServers"/> is empty.</param>
/// <param name="Server">The server that granted it.</param>
/// <param name="LeaseTime">How long it lasts from <paramref name="AcquiredAt"/>.</param>
/// <param name="AcquiredAt">When the server's acknowledgement came (the stack's clock).</param>
public sealed record DhcpLease(InterfaceAddress Address, NetAddress? Router, IReadOnlyList<NetAddress> DnsServers, NetAddress Server,
    TimeSpan LeaseTime, DateTimeOffset AcquiredAt);

/// <summary>What happened to the stack's DHCP lease.</summary>
public enum DhcpLeaseChange
{
    /// <summary>A new lease was granted and its address applied.</summary>
    Bound,
    /// <summary>The lease was extended (renewing with its server, or rebinding with any).</summary>
    Renewed,
    /// <summary>The lease ran out or the server refused it: its address and route were removed; the client starts over.</summary>
    Lost,
    /// <summary>The stack gave the lease back to its server (DHCPRELEASE, RFC 2131 §4.4.6) as it was disposed.</summary>
    Released,
}

/// <summary>One change of the stack's DHCP lease (<see cref="Netstack.DhcpLeases"/>).</summary>
/// <param name="Change">What happened.</param>
/// <param name="Lease">The lease it happened to.</param>
public sealed record DhcpLeaseEvent(DhcpLeaseChange Change, DhcpLease Lease);
