namespace Rx.Netstack.Wire;

/// <summary>The meaning of an IPv6 header chain (RFC 8200), after skipping the extension headers the stack handles.</summary>
/// <param name="Source">Source address.</param>
/// <param name="Destination">Destination address.</param>
/// <param name="Protocol">The upper-layer protocol found after the extension headers (or <see cref="IpProtocol.Ipv6NoNextHeader"/>).</param>
/// <param name="HopLimit">Hop limit.</param>
/// <param name="TrafficClass">Traffic class.</param>
/// <param name="FlowLabel">Flow label (20 bits).</param>
/// <param name="HasFragmentHeader">True when a fragment header was present.</param>
/// <param name="FragmentOffset">Fragment offset in bytes.</param>
/// <param name="MoreFragments">The M flag of the fragment header.</param>
/// <param name="FragmentIdentification">The identification of the fragment header.</param>
/// <param name="UnfragmentablePartLength">Bytes from the start of the packet to the start of the fragment header
/// (the fixed header and any extension headers before it), used by reassembly; 40 when there is none.</param>
public readonly record struct Ipv6Header(
    NetAddress Source,
    NetAddress Destination,
    IpProtocol Protocol,
    byte HopLimit = 64,
    byte TrafficClass = 0,
    uint FlowLabel = 0,
    bool HasFragmentHeader = false,
    int FragmentOffset = 0,
    bool MoreFragments = false,
    uint FragmentIdentification = 0,
    int UnfragmentablePartLength = 40)
{
    /// <summary>True when this packet is a fragment (a fragment header with M set or a non-zero offset).
    /// An "atomic fragment" (offset 0, M clear, RFC 6946) is not.</summary>
    public bool IsFragment => HasFragmentHeader && (MoreFragments || FragmentOffset != 0);
}

/// <summary>Parse and emit IPv6 headers over spans, with no allocation.</summary>
public static class Ipv6
{
    /// <summary>The fixed header length.</summary>
    public const int HeaderLength = 40;

    /// <summary>The fragment extension header length.</summary>
    public const int FragmentHeaderLength = 8;

    /// <summary>
    /// Parses an IPv6 packet: version 6, payload length within the buffer (extra bytes ignored), then walks
    /// hop-by-hop (only first), destination options and routing headers (segments left 0; skipped) and the fragment header.
    /// Stops at the first upper-layer protocol (TCP, UDP, ICMPv6, or any other number not an extension header).
    /// </summary>
    /// <param name="packet">The whole packet.</param>
    /// <param name="header">The parsed header chain.</param>
    /// <param name="payloadOffset">Offset of the upper-layer payload in <paramref name="packet"/>.</param>
    /// <param name="payload">The upper-layer payload (for a fragment, the fragment's data).</param>
    /// <param name="errorPointer">On <see cref="WireError.UnknownNextHeader"/> or <see cref="WireError.BadExtensionHeader"/>,
    /// the byte offset in the packet of the offending field, for an ICMPv6 parameter problem (RFC 8200 §4, RFC 4443 §3.4).</param>
    /// <returns><see cref="WireError.None"/>, or why the packet is rejected.</returns>
    public static WireError TryParse(ReadOnlySpan<byte> packet, out Ipv6Header header, out int payloadOffset,
        out ReadOnlySpan<byte> payload, out int errorPointer) => throw new NotImplementedException();

    /// <summary>
    /// Writes the 40-byte fixed header with payload length <paramref name="payloadLength"/>. If
    /// <paramref name="header"/> has <see cref="Ipv6Header.HasFragmentHeader"/>, the next header is 44 and an 8-byte fragment
    /// header follows (carrying <see cref="Ipv6Header.Protocol"/> as its next header); <paramref name="payloadLength"/> then
    /// counts the bytes after the fragment header, and the payload-length field includes the fragment header.
    /// </summary>
    /// <returns>The number of bytes written (40 or 48).</returns>
    public static int Emit(Span<byte> destination, in Ipv6Header header, int payloadLength) => throw new NotImplementedException();

    /// <summary>The header bytes <see cref="Emit"/> writes for <paramref name="header"/> (40 or 48).</summary>
    public static int EmittedLength(in Ipv6Header header) => header.HasFragmentHeader ? HeaderLength + FragmentHeaderLength : HeaderLength;
}
