using System.Buffers.Binary;

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

    /// <summary>The fixed header length.</summary>
    public const int HeaderLength = 40;

    /// <summary>The fragment extension header length.</summary>
    public const int FragmentHeaderLength = 8;

    /// <summary>
    /// Parses an IPv6 packet: version 6, payload length within the buffer (extra bytes ignored), then walks
    /// hop-by-hop (only first), destination options and routing headers (segments left 0; skipped) and the fragment header.
    /// Stops at the first upper-layer protocol (TCP, UDP, ICMPv6, no next header, or any other number not an extension
    /// header, including extensions the stack does not implement such as AH or ESP): the caller decides whether it knows it.
    /// For a real fragment (offset ≠ 0 or M set) the walk stops after the fragment header and
    /// <see cref="Ipv6Header.Protocol"/> is the fragment header's next header, unexamined; re-parse after reassembly.
    /// </summary>
    /// <param name="packet">The whole packet.</param>
    /// <param name="header">The parsed header chain.</param>
    /// <param name="payloadOffset">Offset of the upper-layer payload in <paramref name="packet"/>.</param>
    /// <param name="payload">The upper-layer payload (for a fragment, the fragment's data).</param>
    /// <param name="errorPointer">On an error, the byte offset in the packet of the offending field, for an ICMPv6 parameter
    /// problem (RFC 8200 §4, RFC 4443 §3.4; see <see cref="ParameterProblemCode"/>). On success, the offset of the next-header
    /// field that named <see cref="Ipv6Header.Protocol"/>: the pointer of a code-1 parameter problem if the caller does not
    /// handle that protocol.</param>
    /// <returns><see cref="WireError.None"/>, or why the packet is rejected: <see cref="WireError.Truncated"/> (under 40 bytes,
    /// or an extension header running past the payload), <see cref="WireError.BadVersion"/>, <see cref="WireError.BadLength"/>
    /// (payload length beyond the buffer), <see cref="WireError.BadField"/> (multicast source, RFC 4291 §2.7),
    /// <see cref="WireError.UnknownNextHeader"/> (hop-by-hop not directly after the fixed header, RFC 8200 §4.1; pointer at the
    /// next-header field holding 0), <see cref="WireError.BadExtensionHeader"/> (routing header with segments left ≠ 0, pointer at
    /// its routing type, RFC 8200 §4.4; a malformed option; a second fragment header; a fragment whose length is not a multiple of 8
    /// with M set, pointer at the payload length, or that ends beyond 65535, pointer at its offset field, RFC 8200 §4.5),
    /// <see cref="WireError.BadOption"/> (an unrecognised option whose type asks for discard, RFC 8200 §4.2; pointer at its type).</returns>
    public static WireError TryParse(ReadOnlySpan<byte> packet, out Ipv6Header header, out int payloadOffset,
        out ReadOnlySpan<byte> payload, out int errorPointer) =>
        Parse(packet, quoted: false, out header, out payloadOffset, out payload, out errorPointer);

    /// <summary>
    /// Parses the invoking packet quoted in an ICMPv6 error (RFC 4443 §2.4 (c): as much as fits in 1280 bytes, so often cut
    /// short). As <see cref="TryParse"/>, except that the payload length may reach beyond the quote (the walk and the payload
    /// stop at the end of the quote), the source address is not checked, and fragment lengths are not checked.
    /// </summary>
    public static WireError TryParseQuoted(ReadOnlySpan<byte> quote, out Ipv6Header header, out int payloadOffset,
        out ReadOnlySpan<byte> payload) =>
        Parse(quote, quoted: true, out header, out payloadOffset, out payload, out _);

    private static WireError Parse(ReadOnlySpan<byte> packet, bool quoted, out Ipv6Header header, out int payloadOffset,
        out ReadOnlySpan<byte> payload, out int errorPointer)
    {
        header = default;
        payloadOffset = 0;
        payload = default;
        errorPointer = 0;
        if (packet.Length < HeaderLength) return WireError.Truncated;

        var view = new Ipv6View(packet);
        if (view.Version != 6) return WireError.BadVersion;
        int end = HeaderLength + view.PayloadLengthField;
        if (end > packet.Length)
        {
            if (!quoted) return WireError.BadLength;
            end = packet.Length;
        }
        var source = view.Source;
        if (source.IsMulticast && !quoted) return WireError.BadField;

        byte next = view.NextHeaderField;
        int nextField = Ipv6View.NextHeader;
        int offset = HeaderLength;
        bool hasFragment = false, moreFragments = false;
        int fragmentOffset = 0, unfragmentable = HeaderLength;
        uint identification = 0;

        // Each step moves at least 8 bytes forward, so the walk is bounded by the payload length.
        bool walking = true;
        while (walking)
        {
            switch ((IpProtocol)next)
            {
                case IpProtocol.HopByHop when offset != HeaderLength:
                    // RFC 8200 §4.1: hop-by-hop anywhere else is treated as an unrecognised next header (code 1).
                    errorPointer = nextField;
                    return WireError.UnknownNextHeader;

                case IpProtocol.HopByHop:
                case IpProtocol.Ipv6DestinationOptions:
                {
                    var error = ExtensionLength(packet, offset, end, out int length);
                    if (error != WireError.None) return error;
                    error = Ipv6Options.Check(packet, offset, offset + length, out errorPointer);
                    if (error != WireError.None) return error;
                    nextField = offset;
                    next = packet[offset];
                    offset += length;
                    break;
                }

                case IpProtocol.Ipv6Route:
                {
                    var error = ExtensionLength(packet, offset, end, out int length);
                    if (error != WireError.None) return error;
                    // RFC 8200 §4.4: the stack knows no routing type, so it may only skip a header with segments left 0;
                    // otherwise the parameter problem points at the routing type.
                    if (packet[offset + 3] != 0)
                    {
                        errorPointer = offset + 2;
                        return WireError.BadExtensionHeader;
                    }
                    nextField = offset;
                    next = packet[offset];
                    offset += length;
                    break;
                }

                case IpProtocol.Ipv6Fragment:
                {
                    if (hasFragment)
                    {
                        errorPointer = nextField;
                        return WireError.BadExtensionHeader;
                    }
                    if (offset + FragmentHeaderLength > end) return WireError.Truncated;
                    var fragment = new Ipv6FragmentView(packet[offset..]);
                    hasFragment = true;
                    unfragmentable = offset;
                    fragmentOffset = fragment.FragmentOffsetBytes;
                    moreFragments = fragment.MoreFragments;
                    identification = fragment.IdentificationField;
                    int dataLength = end - (offset + FragmentHeaderLength);
                    // RFC 8200 §4.5: every fragment but the last carries a multiple of 8 bytes ...
                    if (moreFragments && (dataLength & 7) != 0 && !quoted)
                    {
                        errorPointer = Ipv6View.PayloadLength;
                        return WireError.BadExtensionHeader;
                    }
                    // ... and no fragment reaches past 65535 bytes of the original packet.
                    if (fragmentOffset + dataLength > ushort.MaxValue && !quoted)
                    {
                        errorPointer = offset + Ipv6FragmentView.OffsetAndFlags;
                        return WireError.BadExtensionHeader;
                    }
                    nextField = offset;
                    next = fragment.NextHeaderField;
                    offset += FragmentHeaderLength;
                    // A real fragment's data is opaque until reassembled; an atomic fragment (RFC 6946) goes on.
                    if (moreFragments || fragmentOffset != 0) walking = false;
                    break;
                }

                default:
                    walking = false;
                    break;
            }
        }

        header = new Ipv6Header(source, view.Destination, (IpProtocol)next, view.HopLimitField, view.TrafficClass, view.FlowLabel,
            hasFragment, fragmentOffset, moreFragments, identification, unfragmentable);
        payloadOffset = offset;
        payload = packet[offset..end];
        errorPointer = nextField;
        return WireError.None;
    }

    /// <summary>The length of the hop-by-hop, destination options or routing header at <paramref name="offset"/>
    /// (RFC 8200 §4.3: 8 + 8 × Hdr Ext Len), checked against the end of the payload.</summary>
    private static WireError ExtensionLength(ReadOnlySpan<byte> packet, int offset, int end, out int length)
    {
        length = 0;
        if (offset + 8 > end) return WireError.Truncated;
        length = (packet[offset + 1] + 1) * 8;
        return offset + length > end ? WireError.Truncated : WireError.None;
    }

    /// <summary>
    /// The ICMPv6 parameter-problem code (RFC 4443 §3.4) to answer a packet that <see cref="TryParse"/> rejected with
    /// <paramref name="error"/> and <paramref name="errorPointer"/>, or −1 when no parameter problem is to be sent:
    /// 0 for <see cref="WireError.BadExtensionHeader"/>, 1 for <see cref="WireError.UnknownNextHeader"/>, 2 for
    /// <see cref="WireError.BadOption"/> when the option type's action bits ask for a report (RFC 8200 §4.2). A packet sent
    /// to a multicast address is answered only for an option whose action bits are 10 (RFC 4443 §2.4 (e)).
    /// </summary>
    public static int ParameterProblemCode(ReadOnlySpan<byte> packet, WireError error, int errorPointer)
    {
        if (packet.Length < HeaderLength || (uint)errorPointer >= (uint)packet.Length) return -1;
        bool toMulticast = new Ipv6View(packet).Destination.IsMulticast;
        switch (error)
        {
            case WireError.BadExtensionHeader: return toMulticast ? -1 : 0;
            case WireError.UnknownNextHeader: return toMulticast ? -1 : 1;
            case WireError.BadOption:
                int action = packet[errorPointer] >> 6;
                return action == 2 || (action == 3 && !toMulticast) ? 2 : -1;
            default: return -1;
        }
    }

    /// <summary>
    /// Writes the 40-byte fixed header with payload length <paramref name="payloadLength"/>. If
    /// <paramref name="header"/> has <see cref="Ipv6Header.HasFragmentHeader"/>, the next header is 44 and an 8-byte fragment
    /// header follows (carrying <see cref="Ipv6Header.Protocol"/> as its next header); <paramref name="payloadLength"/> then
    /// counts the bytes after the fragment header, and the payload-length field includes the fragment header.
    /// <see cref="Ipv6Header.UnfragmentablePartLength"/> is not written (it describes a parsed packet).
    /// </summary>
    /// <returns>The number of bytes written (40 or 48).</returns>
    /// <exception cref="ArgumentException">The addresses are not IPv6, the payload length field would exceed 65535, the
    /// fragment offset is not a multiple of 8 within range, or <paramref name="destination"/> is too short.</exception>
    public static int Emit(Span<byte> destination, in Ipv6Header header, int payloadLength)
    {
        int length = EmittedLength(header);
        if (destination.Length < length) throw new ArgumentException("Shorter than the IPv6 header.", nameof(destination));
        if (!header.Source.IsV6 || !header.Destination.IsV6) throw new ArgumentException("IPv6 header with IPv4 addresses.", nameof(header));
        int payloadField = payloadLength + (length - HeaderLength);
        if (payloadLength < 0 || payloadField > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(payloadLength));

        uint first = (6u << 28) | ((uint)header.TrafficClass << 20) | (header.FlowLabel & 0xF_FFFF);
        BinaryPrimitives.WriteUInt32BigEndian(destination, first);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv6View.PayloadLength..], (ushort)payloadField);
        destination[Ipv6View.NextHeader] = header.HasFragmentHeader ? (byte)IpProtocol.Ipv6Fragment : (byte)header.Protocol;
        destination[Ipv6View.HopLimit] = header.HopLimit;
        header.Source.WriteTo(destination[Ipv6View.SourceAddress..]);
        header.Destination.WriteTo(destination[Ipv6View.DestinationAddress..]);
        if (!header.HasFragmentHeader) return HeaderLength;

        if ((header.FragmentOffset & 7) != 0 || (uint)header.FragmentOffset > Ipv6FragmentView.OffsetMask)
            throw new ArgumentException("Fragment offset must be a multiple of 8 within 0..65528.", nameof(header));
        var fragment = destination.Slice(HeaderLength, FragmentHeaderLength);
        fragment[Ipv6FragmentView.NextHeader] = (byte)header.Protocol;
        fragment[1] = 0; // reserved
        BinaryPrimitives.WriteUInt16BigEndian(fragment[Ipv6FragmentView.OffsetAndFlags..],
            (ushort)(header.FragmentOffset | (header.MoreFragments ? Ipv6FragmentView.MoreFragmentsBit : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(fragment[Ipv6FragmentView.Identification..], header.FragmentIdentification);
        return length;
    }

    /// <summary>The header bytes <see cref="Emit"/> writes for <paramref name="header"/> (40 or 48).</summary>
    public static int EmittedLength(in Ipv6Header header) => header.HasFragmentHeader ? HeaderLength + FragmentHeaderLength : HeaderLength;
}
