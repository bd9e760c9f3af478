using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>The meaning of an IPv4 header (RFC 791).</summary>
/// <param name="Source">Source address.</param>
/// <param name="Destination">Destination address.</param>
/// <param name="Protocol">Upper-layer protocol.</param>
/// <param name="TimeToLive">TTL.</param>
/// <param name="Identification">Identification, for reassembly.</param>
/// <param name="DontFragment">The DF flag.</param>
/// <param name="MoreFragments">The MF flag.</param>
/// <param name="FragmentOffset">Fragment offset in bytes (the field times 8).</param>
/// <param name="TypeOfService">DSCP and ECN byte.</param>
public readonly record struct Ipv4Header(
    NetAddress Source,
    NetAddress Destination,
    IpProtocol Protocol,
    byte TimeToLive = 64,
    ushort Identification = 0,
    bool DontFragment = false,
    bool MoreFragments = false,
    int FragmentOffset = 0,
    byte TypeOfService = 0)
{
    /// <summary>True when this packet is a fragment (MF set or a non-zero offset).</summary>
    public bool IsFragment => MoreFragments || FragmentOffset != 0;

    /// <summary>The length of a header with no options.</summary>
    public const int HeaderLength = 20;

    /// <summary>The longest IPv4 header (IHL 15: 60 bytes).</summary>
    public const int MaxHeaderRoom = 60;

    /// <summary>The largest fragment offset the 13-bit field can carry, in bytes.</summary>
    public const int MaxFragmentOffset = Ipv4View.OffsetMask * 8;

    /// <summary>
    /// Parses an IPv4 packet: version 4, IHL ≥ 5 and within the buffer, total length ≥ IHL and ≤ buffer
    /// (bytes beyond total length are link padding and are ignored), header checksum verified. Options are skipped.
    /// </summary>
    /// <param name="packet">The whole packet.</param>
    /// <param name="header">The parsed header.</param>
    /// <param name="headerLength">The header length including options (IHL × 4).</param>
    /// <param name="payload">The payload, trimmed to the total length.</param>
    /// <returns><see cref="WireError.None"/>, or why the packet is rejected: <see cref="WireError.Truncated"/> (under 20 bytes),
    /// <see cref="WireError.BadVersion"/>, <see cref="WireError.BadHeaderLength"/> (IHL &lt; 5 or beyond the buffer),
    /// <see cref="WireError.BadLength"/> (total length below IHL × 4 or beyond the buffer), <see cref="WireError.BadChecksum"/>,
    /// <see cref="WireError.BadField"/> (a multicast or limited-broadcast source, RFC 1122 §3.2.1.3).</returns>
    public static WireError TryParse(ReadOnlySpan<byte> packet, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload) =>
        Parse(packet, quoted: false, out header, out headerLength, out payload);

    /// <summary>
    /// Parses the invoking packet quoted in an ICMPv4 error (RFC 792: its header and at least 8 bytes of its data; RFC 1812
    /// §4.3.2.3 allows more, but rarely all). As <see cref="TryParse"/>, except that the total length may reach beyond the
    /// quote (the payload is what was quoted, up to the total length) and the source address is not checked.
    /// The header checksum is still verified: the quoted header is whole.
    /// </summary>
    public static WireError TryParseQuoted(ReadOnlySpan<byte> quote, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload) =>
        Parse(quote, quoted: true, out header, out headerLength, out payload);

    private static WireError Parse(ReadOnlySpan<byte> packet, bool quoted, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload)
    {
        header = default;
        headerLength = 0;
        payload = default;
        if (packet.Length < HeaderLength) return WireError.Truncated;

        var view = new Ipv4View(packet);
        if (view.Version != 4) return WireError.BadVersion;
        int ihl = view.HeaderLength;
        if (ihl < HeaderLength || ihl > packet.Length) return WireError.BadHeaderLength;
        int totalLength = view.TotalLengthField;
        if (totalLength < ihl || (totalLength > packet.Length && !quoted)) return WireError.BadLength;
        totalLength = Math.Min(totalLength, packet.Length);
        if (!Checksum.Verify(packet[..ihl])) return WireError.BadChecksum;

        var source = view.Source;
        if (!quoted && (source.IsMulticast || source.IsBroadcast)) return WireError.BadField;

        header = new Ipv4Header(source, view.Destination, view.ProtocolField, view.Ttl, view.IdentificationField,
            view.DontFragment, view.MoreFragments, view.FragmentOffsetBytes, view.TypeOfServiceByte);
        headerLength = ihl;
        payload = packet[ihl..totalLength];
        return WireError.None;
    }

    /// <summary>
    /// Writes a 20-byte header (no options) with total length <c>20 + payloadLength</c> and a correct header checksum.
    /// </summary>
    /// <returns>The number of bytes written (20).</returns>
    /// <exception cref="ArgumentException">The addresses are not IPv4, the total length exceeds 65535, the fragment offset
    /// is not a multiple of 8 within range, or <paramref name="destination"/> is shorter than 20 bytes.</exception>
    public static int Emit(Span<byte> destination, in Ipv4Header header, int payloadLength)
    {
        if (destination.Length < HeaderLength) throw new ArgumentException("Shorter than an IPv4 header.", nameof(destination));
        if (header.Source.IsV6 || header.Destination.IsV6) throw new ArgumentException("IPv4 header with IPv6 addresses.", nameof(header));
        if ((uint)payloadLength > ushort.MaxValue - HeaderLength) throw new ArgumentOutOfRangeException(nameof(payloadLength));
        if ((header.FragmentOffset & 7) != 0 || (uint)header.FragmentOffset > MaxFragmentOffset)
            throw new ArgumentException("Fragment offset must be a multiple of 8 within 0..65528.", nameof(header));

        var d = destination[..HeaderLength];
        d[Ipv4View.VersionIhl] = 0x45; // version 4, IHL 5
        d[Ipv4View.TypeOfService] = header.TypeOfService;
        BinaryPrimitives.WriteUInt16BigEndian(d[Ipv4View.TotalLength..], (ushort)(HeaderLength + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(d[Ipv4View.Identification..], header.Identification);
        ushort flags = (ushort)((header.DontFragment ? Ipv4View.DontFragmentBit : 0) | (header.MoreFragments ? Ipv4View.MoreFragmentsBit : 0)
            | (header.FragmentOffset >> 3));
        BinaryPrimitives.WriteUInt16BigEndian(d[Ipv4View.FlagsFragmentOffset..], flags);
        d[Ipv4View.TimeToLive] = header.TimeToLive;
        d[Ipv4View.Protocol] = (byte)header.Protocol;
        BinaryPrimitives.WriteUInt16BigEndian(d[Ipv4View.HeaderChecksum..], 0);
        header.Source.WriteTo(d[Ipv4View.SourceAddress..]);
        header.Destination.WriteTo(d[Ipv4View.DestinationAddress..]);
        BinaryPrimitives.WriteUInt16BigEndian(d[Ipv4View.HeaderChecksum..], Checksum.Compute(d));
        return HeaderLength;
    }
}
