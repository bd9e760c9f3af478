namespace Rx.Netstack;

/// <summary>
/// Transport checksum work a link takes off the stack, as a network card's offloads or the Linux loopback device do
/// (<c>NETIF_F_HW_CSUM | NETIF_F_RXCSUM</c>): a link that cannot corrupt a frame gains nothing from checksums.
/// Applies to TCP and UDP; the IPv4 header checksum and ICMP checksums are always computed and verified.
/// </summary>
[Flags]
public enum ChecksumOffload
{
    /// <summary>The stack computes and verifies every checksum (the default).</summary>
    None = 0,

    /// <summary>Frames received from the link are known intact (an in-memory link, or hardware that checked them): the stack
    /// does not verify their TCP and UDP checksums.</summary>
    Receive = 1,

    /// <summary>The link does not need TCP and UDP checksums (its receiver trusts it): the stack leaves the checksum field
    /// zero. A capture of such a link shows zero checksums, as a capture of Linux's loopback shows unfinished ones.</summary>
    Transmit = 2,

    /// <summary>Both: what an in-memory link between two stacks can use.</summary>
    Both = Receive | Transmit,
}
