namespace Rx.Netstack.Link;

/// <summary>The reachability state of a cached neighbour (RFC 4861 §7.3.2), the same for ARP and IPv6 neighbours.</summary>
public enum NeighborState
{
    /// <summary>Resolution in progress: solicitations are being sent and packets wait for the answer.</summary>
    Incomplete,
    /// <summary>Confirmed reachable within the reachable time.</summary>
    Reachable,
    /// <summary>The link-layer address is known but unconfirmed; nothing is sent to check until traffic goes there.</summary>
    Stale,
    /// <summary>Traffic went to a STALE neighbour; probing starts when the delay ends without confirmation.</summary>
    Delay,
    /// <summary>Unicast solicitations are being sent to confirm the neighbour.</summary>
    Probe,
}

/// <summary>A neighbour cache entry as <see cref="Netstack.GetNeighbors"/> shows it.</summary>
/// <param name="Address">The neighbour's IP address.</param>
/// <param name="LinkAddress">Its MAC address (null while <see cref="NeighborState.Incomplete"/>).</param>
/// <param name="State">Its reachability state.</param>
/// <param name="IsRouter">True for a router learned from a router advertisement.</param>
public readonly record struct NeighborInfo(NetAddress Address, MacAddress? LinkAddress, NeighborState State, bool IsRouter);
