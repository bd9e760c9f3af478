using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>A prefix information option of a router advertisement (RFC 4861 §4.6.2).</summary>
/// <param name="Prefix">The prefix (bits past <paramref name="PrefixLength"/> are zero on the wire, as sent).</param>
/// <param name="PrefixLength">Its length in bits.</param>
/// <param name="OnLink">The L flag: addresses in the prefix are on this link.</param>
/// <param name="Autonomous">The A flag: hosts may form addresses in it (SLAAC, RFC 4862 §5.5.3).</param>
/// <param name="ValidLifetime">Seconds the prefix stays valid (0xFFFFFFFF: forever).</param>
/// <param name="PreferredLifetime">Seconds addresses formed in it stay preferred.</param>
public readonly record struct NdpPrefixInformation(NetAddress Prefix, int PrefixLength, bool OnLink, bool Autonomous,
    uint ValidLifetime, uint PreferredLifetime);

/// <summary>
/// The meaning of an IPv6 neighbour discovery message (RFC 4861 §4): router solicitation and advertisement, neighbour
/// solicitation and advertisement, with the options the stack uses (link-layer addresses, prefix information, MTU).
/// </summary>
/// <param name="Type">One of <see cref="IcmpV6Type.RouterSolicitation"/> … <see cref="IcmpV6Type.NeighborAdvertisement"/>.</param>
/// <param name="Target">NS/NA: the target address (unspecified IPv6 for RS and RA).</param>
/// <param name="SourceLinkAddress">The source link-layer address option, if present.</param>
/// <param name="TargetLinkAddress">NA: the target link-layer address option, if present.</param>
/// <param name="Router">NA: the R flag (the sender is a router).</param>
/// <param name="Solicited">NA: the S flag (an answer to a solicitation).</param>
/// <param name="Override">NA: the O flag (replace a cached link-layer address).</param>
/// <param name="CurrentHopLimit">RA: the hop limit hosts should use (0: unspecified).</param>
/// <param name="Managed">RA: the M flag (addresses from DHCPv6).</param>
/// <param name="OtherConfig">RA: the O flag (other configuration from DHCPv6).</param>
/// <param name="RouterLifetime">RA: seconds the router is a default router (0: not one).</param>
/// <param name="ReachableTime">RA: milliseconds of the reachable time (0: unspecified).</param>
/// <param name="RetransmitTimer">RA: milliseconds between solicitations (0: unspecified).</param>
/// <param name="Mtu">RA: the MTU option (0: none).</param>
/// <param name="Prefixes">RA: the prefix information options (null: none).</param>
public readonly record struct NdpMessage(
    IcmpV6Type Type,
    NetAddress Target,
    MacAddress? SourceLinkAddress = null,
    MacAddress? TargetLinkAddress = null,
    bool Router = false,
    bool Solicited = false,
    bool Override = false,
    byte CurrentHopLimit = 0,
    bool Managed = false,
    bool OtherConfig = false,
    ushort RouterLifetime = 0,
    uint ReachableTime = 0,
    uint RetransmitTimer = 0,
    uint Mtu = 0,
    IReadOnlyList<NdpPrefixInformation>? Prefixes = null)
{
    /// <summary>The hop limit every neighbour discovery message is sent with and must arrive with (RFC 4861 §7.1.1).</summary>
    public const byte RequiredHopLimit = 255;

    private const int OptionSourceLink = 1, OptionTargetLink = 2, OptionPrefix = 3, OptionMtu = 5;
    private const int PrefixOptionLength = 32;

    /// <summary>Where a message type's options start (after its fixed part).</summary>
    private static int OptionsOffset(IcmpV6Type type) => type switch
    {
        IcmpV6Type.RouterSolicitation => 8,
        IcmpV6Type.RouterAdvertisement => 16,
        _ => 24,
    };

    /// <summary>
    /// Parses a neighbour discovery message: the whole ICMPv6 message, its checksum already verified
    /// (<see cref="IcmpHeader.TryParseV6"/>). Checks what RFC 4861 §6.1 and §7.1 ask of every receiver that the ICMP layer
    /// does not: code 0, the fixed part present, a unicast target, every option of non-zero length within the message.
    /// The caller checks the hop limit (255) and the rules that need the IP addresses.
    /// </summary>
    /// <returns><see cref="WireError.None"/>; <see cref="WireError.Truncated"/>; <see cref="WireError.BadField"/> (not an
    /// RS/RA/NS/NA, a code other than 0, a multicast target); <see cref="WireError.BadOption"/> (an option of length 0, running
    /// past the end, or a link-layer address option of the wrong size).</returns>
    public static WireError TryParse(ReadOnlySpan<byte> message, out NdpMessage ndp)
    {
        ndp = default;
        if (message.Length < IcmpHeader.HeaderLength) return WireError.Truncated;
        var type = (IcmpV6Type)message[0];
        if (type is not (IcmpV6Type.RouterSolicitation or IcmpV6Type.RouterAdvertisement or IcmpV6Type.NeighborSolicitation
            or IcmpV6Type.NeighborAdvertisement) || message[1] != 0)
            return WireError.BadField;
        int optionsAt = OptionsOffset(type);
        if (message.Length < optionsAt) return WireError.Truncated;
        NetAddress target = NetAddress.AnyV6;
        if (type is IcmpV6Type.NeighborSolicitation or IcmpV6Type.NeighborAdvertisement)
        {
            target = NetAddress.ReadV6(message[8..]);
            if (target.IsMulticast) return WireError.BadField;
        }
        ndp = new NdpMessage(type, target);
        if (type == IcmpV6Type.NeighborAdvertisement)
        {
            byte flags = message[4];
            ndp = ndp with { Router = (flags & 0x80) != 0, Solicited = (flags & 0x40) != 0, Override = (flags & 0x20) != 0 };
        }
        else if (type == IcmpV6Type.RouterAdvertisement)
        {
            ndp = ndp with
            {
                CurrentHopLimit = message[4],
                Managed = (message[5] & 0x80) != 0,
                OtherConfig = (message[5] & 0x40) != 0,
                RouterLifetime = BinaryPrimitives.ReadUInt16BigEndian(message[6..]),
                ReachableTime = BinaryPrimitives.ReadUInt32BigEndian(message[8..]),
                RetransmitTimer = BinaryPrimitives.ReadUInt32BigEndian(message[12..]),
            };
        }
        List<NdpPrefixInformation>? prefixes = null;
        ReadOnlySpan<byte> options = message[optionsAt..];
        while (!options.IsEmpty)
        {
            if (options.Length < 2) return WireError.BadOption;
            int length = options[1] * 8;
            if (length == 0 || length > options.Length) return WireError.BadOption; // RFC 4861 §4.6: length 0 → discard
            ReadOnlySpan<byte> option = options[..length];
            switch (option[0])
            {
                case OptionSourceLink or OptionTargetLink:
                    if (length != 8) return WireError.BadOption; // Ethernet: 6 bytes of address in one unit (RFC 2464 §6)
                    MacAddress mac = MacAddress.Read(option[2..]);
                    ndp = option[0] == OptionSourceLink ? ndp with { SourceLinkAddress = mac } : ndp with { TargetLinkAddress = mac };
                    break;
                case OptionPrefix when type == IcmpV6Type.RouterAdvertisement:
                    if (length != PrefixOptionLength) return WireError.BadOption;
                    (prefixes ??= []).Add(new NdpPrefixInformation(NetAddress.ReadV6(option[16..]), Math.Min((int)option[2], 128),
                        (option[3] & 0x80) != 0, (option[3] & 0x40) != 0,
                        BinaryPrimitives.ReadUInt32BigEndian(option[4..]), BinaryPrimitives.ReadUInt32BigEndian(option[8..])));
                    break;
                case OptionMtu when type == IcmpV6Type.RouterAdvertisement:
                    if (length != 8) return WireError.BadOption;
                    ndp = ndp with { Mtu = BinaryPrimitives.ReadUInt32BigEndian(option[4..]) };
                    break;
                default:
                    break; // RFC 4861 §4.6: options a receiver does not recognise are skipped
            }
            options = options[length..];
        }
        if (prefixes is not null) ndp = ndp with { Prefixes = prefixes };
        return WireError.None;
    }

    /// <summary>The message length <see cref="Emit"/> writes.</summary>
    public int Length => OptionsOffset(Type) + (SourceLinkAddress is null ? 0 : 8) + (TargetLinkAddress is null ? 0 : 8)
        + (Mtu == 0 ? 0 : 8) + (Prefixes?.Count ?? 0) * PrefixOptionLength;

    /// <summary>Writes the whole ICMPv6 message, checksum included (the pseudo-header of <paramref name="source"/> and
    /// <paramref name="destination"/>).</summary>
    /// <returns>The message length.</returns>
    /// <exception cref="ArgumentException">The span is shorter than <see cref="Length"/>, or the type is not RS/RA/NS/NA.</exception>
    public static int Emit(Span<byte> message, in NdpMessage ndp, NetAddress source, NetAddress destination)
    {
        if (ndp.Type is not (IcmpV6Type.RouterSolicitation or IcmpV6Type.RouterAdvertisement or IcmpV6Type.NeighborSolicitation
            or IcmpV6Type.NeighborAdvertisement))
            throw new ArgumentException($"{ndp.Type} is not a neighbour discovery message.", nameof(ndp));
        int length = ndp.Length;
        if (message.Length < length) throw new ArgumentException("Shorter than the message.", nameof(message));
        Span<byte> m = message[..length];
        int optionsAt = OptionsOffset(ndp.Type);
        m[..optionsAt].Clear();
        m[0] = (byte)ndp.Type;
        switch (ndp.Type)
        {
            case IcmpV6Type.NeighborSolicitation:
                ndp.Target.WriteTo(m[8..]);
                break;
            case IcmpV6Type.NeighborAdvertisement:
                m[4] = (byte)((ndp.Router ? 0x80 : 0) | (ndp.Solicited ? 0x40 : 0) | (ndp.Override ? 0x20 : 0));
                ndp.Target.WriteTo(m[8..]);
                break;
            case IcmpV6Type.RouterAdvertisement:
                m[4] = ndp.CurrentHopLimit;
                m[5] = (byte)((ndp.Managed ? 0x80 : 0) | (ndp.OtherConfig ? 0x40 : 0));
                BinaryPrimitives.WriteUInt16BigEndian(m[6..], ndp.RouterLifetime);
                BinaryPrimitives.WriteUInt32BigEndian(m[8..], ndp.ReachableTime);
                BinaryPrimitives.WriteUInt32BigEndian(m[12..], ndp.RetransmitTimer);
                break;
        }
        int at = optionsAt;
        if (ndp.SourceLinkAddress is MacAddress sll) at += WriteLinkOption(m[at..], OptionSourceLink, sll);
        if (ndp.TargetLinkAddress is MacAddress tll) at += WriteLinkOption(m[at..], OptionTargetLink, tll);
        if (ndp.Mtu != 0)
        {
            m[at] = OptionMtu;
            m[at + 1] = 1;
            BinaryPrimitives.WriteUInt16BigEndian(m[(at + 2)..], 0);
            BinaryPrimitives.WriteUInt32BigEndian(m[(at + 4)..], ndp.Mtu);
            at += 8;
        }
        foreach (NdpPrefixInformation p in ndp.Prefixes ?? [])
        {
            Span<byte> o = m.Slice(at, PrefixOptionLength);
            o.Clear();
            o[0] = OptionPrefix;
            o[1] = PrefixOptionLength / 8;
            o[2] = (byte)p.PrefixLength;
            o[3] = (byte)((p.OnLink ? 0x80 : 0) | (p.Autonomous ? 0x40 : 0));
            BinaryPrimitives.WriteUInt32BigEndian(o[4..], p.ValidLifetime);
            BinaryPrimitives.WriteUInt32BigEndian(o[8..], p.PreferredLifetime);
            p.Prefix.WriteTo(o[16..]);
            at += PrefixOptionLength;
        }
        uint pseudo = Checksum.PseudoHeader(source, destination, IpProtocol.IcmpV6, length);
        BinaryPrimitives.WriteUInt16BigEndian(m[2..], Checksum.Finish(Checksum.Accumulate(m, pseudo)));
        return length;
    }

    private static int WriteLinkOption(Span<byte> option, int type, MacAddress address)
    {
        option[0] = (byte)type;
        option[1] = 1;
        address.WriteTo(option[2..]);
        return 8;
    }
}
