namespace Rx.Netstack.Link;

/// <summary>
/// How the stack behaves on an Ethernet device (<see cref="LinkMedium.Ethernet"/>): its MAC address and VLAN, the neighbour
/// cache's bounds and timers (RFC 4861 §10 constants, used for ARP too), duplicate address detection, router discovery.
/// Ignored on an IP device.
/// </summary>
public sealed record EthernetSettings
{
    /// <summary>The stack's MAC address; null (default): a locally administered address made from
    /// <see cref="NetstackOptions.RandomSeed"/> (or a random one), 02:52:xx:xx:xx:xx.</summary>
    public MacAddress? MacAddress { get; init; }

    /// <summary>The 802.1Q VLAN the stack is on: frames are sent with this tag and only frames with it are taken. Null
    /// (default): untagged frames only.</summary>
    public int? VlanId { get; init; }

    /// <summary>Neighbours cached at most (IPv4 and IPv6 together); a new one then replaces the least recently used STALE
    /// entry, or is refused (counted as <see cref="Diagnostics.DropReason.NeighborCacheFull"/>). Default 512.</summary>
    public int NeighborCacheSize { get; init; } = 512;

    /// <summary>Packets held per neighbour while its address is resolved; a further one replaces the oldest (RFC 4861
    /// §7.2.2), counted as <see cref="Diagnostics.DropReason.NeighborQueueFull"/>. Default 16.</summary>
    public int PendingPacketsPerNeighbor { get; init; } = 16;

    /// <summary>How long a confirmed neighbour stays REACHABLE (RFC 4861 §10 REACHABLE_TIME: 30 s).</summary>
    public TimeSpan ReachableTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time between solicitations of one neighbour, and between DAD probes (RFC 4861 §10 RETRANS_TIMER: 1 s).</summary>
    public TimeSpan RetransmitTime { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a neighbour stays in DELAY before it is probed (RFC 4861 §10 DELAY_FIRST_PROBE_TIME: 5 s).</summary>
    public TimeSpan DelayFirstProbeTime { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Broadcast or multicast solicitations before resolution fails (RFC 4861 §10 MAX_MULTICAST_SOLICIT: 3).</summary>
    public int MaxMulticastSolicit { get; init; } = 3;

    /// <summary>Unicast probes of a neighbour in PROBE before it is dropped (RFC 4861 §10 MAX_UNICAST_SOLICIT: 3).</summary>
    public int MaxUnicastSolicit { get; init; } = 3;

    /// <summary>Neighbour solicitations sent for duplicate address detection of each IPv6 address before it is used
    /// (RFC 4862 §5.1 DupAddrDetectTransmits: 1); 0 turns DAD off.</summary>
    public int DupAddrDetectTransmits { get; init; } = 1;

    /// <summary>Give the stack an IPv6 link-local address fe80::/64 with the MAC's modified EUI-64 identifier
    /// (RFC 4862 §5.3), needed for neighbour and router discovery. Default true.</summary>
    public bool Ipv6LinkLocal { get; init; } = true;

    /// <summary>Solicit routers and take their advertisements: routers become default gateways, autonomous /64 prefixes
    /// give addresses (SLAAC, RFC 4862 §5.5). Default true.</summary>
    public bool RouterDiscovery { get; init; } = true;

    /// <summary>Get an IPv4 address, prefix and default gateway from a DHCP server (RFC 2131) when the device is attached, and
    /// keep the lease renewed; each change is published on <see cref="Netstack.DhcpLeases"/>. Default false.</summary>
    public bool Dhcp { get; init; }

    /// <summary>Router solicitations sent at most (RFC 4861 §10 MAX_RTR_SOLICITATIONS: 3).</summary>
    public int MaxRouterSolicitations { get; init; } = 3;

    /// <summary>Time between router solicitations (RFC 4861 §10 RTR_SOLICITATION_INTERVAL: 4 s).</summary>
    public TimeSpan RouterSolicitationInterval { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>An IPv4 address a previous run leased (from <see cref="DhcpLease"/>): the DHCP client asks for it again first
    /// (INIT-REBOOT, RFC 2131 §4.4.2) and discovers only if the server refuses or does not answer. Default none.</summary>
    public NetAddress? DhcpPreviousAddress { get; init; }

    /// <summary>Checks the values and throws <see cref="ArgumentException"/> naming the first that is wrong.</summary>
    public void Validate()
    {
        static void Require(bool ok, string what)
        {
            if (!ok) throw new ArgumentException($"Invalid EthernetSettings: {what}.");
        }
        Require(MacAddress is not { IsMulticast: true } and not { IsZero: true }, "MacAddress must be a non-zero unicast address");
        Require(VlanId is null or (>= 1 and <= 4094), "VlanId must be within 1..4094");
        Require(NeighborCacheSize > 0, "NeighborCacheSize must be positive");
        Require(PendingPacketsPerNeighbor > 0, "PendingPacketsPerNeighbor must be positive");
        Require(ReachableTime > TimeSpan.Zero && RetransmitTime > TimeSpan.Zero && DelayFirstProbeTime > TimeSpan.Zero, "the neighbour timers must be positive");
        Require(MaxMulticastSolicit > 0 && MaxUnicastSolicit > 0, "the solicitation counts must be positive");
        Require(DupAddrDetectTransmits >= 0, "DupAddrDetectTransmits must not be negative");
        Require(DhcpPreviousAddress is null or { IsV6: false, IsUnspecified: false, IsMulticast: false, IsBroadcast: false },
            "DhcpPreviousAddress must be a unicast IPv4 address");
        Require(MaxRouterSolicitations >= 0 && RouterSolicitationInterval > TimeSpan.Zero, "router solicitation settings out of range");
    }
}
