namespace Rx.Netstack;

/// <summary>What a device's frames carry (<see cref="IPacketDevice.Medium"/>), as smoltcp's <c>Medium</c> or a Linux TUN
/// versus TAP descriptor.</summary>
public enum LinkMedium
{
    /// <summary>Whole IP packets with no link-layer header (TUN, tunnels, the in-memory pipe by default). No neighbours, no
    /// routing: every packet goes to the one peer.</summary>
    Ip = 0,

    /// <summary>Ethernet II frames (TAP, a bridge, a veth): the stack has a MAC address, resolves neighbours with ARP and
    /// IPv6 neighbour discovery and picks a next hop from its route table. See docs/ethernet.md.</summary>
    Ethernet = 1,
}
