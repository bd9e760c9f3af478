using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>EtherType values the stack knows (IEEE 802.3 type field, ≥ 0x0600).</summary>
public enum EtherType : ushort
{
    /// <summary>IPv4 (RFC 894).</summary>
    Ipv4 = 0x0800,
    /// <summary>ARP (RFC 826).</summary>
    Arp = 0x0806,
    /// <summary>An IEEE 802.1Q VLAN tag follows.</summary>
    Vlan = 0x8100,
    /// <summary>IPv6 (RFC 2464).</summary>
    Ipv6 = 0x86DD,
}

/// <summary>
/// The meaning of an Ethernet II header, with an optional IEEE 802.1Q tag: destination, source, EtherType of the payload.
/// </summary>
/// <param name="Destination">The destination MAC address.</param>
/// <param name="Source">The source MAC address.</param>
/// <param name="EtherType">The payload's type (after the VLAN tag, when there is one).</param>
/// <param name="VlanId">The 802.1Q VLAN identifier (0–4095), or null for an untagged frame.</param>
/// <param name="Priority">The 802.1Q priority code point (0–7); only with a tag.</param>
public readonly record struct EthernetHeader(MacAddress Destination, MacAddress Source, EtherType EtherType, int? VlanId = null, byte Priority = 0)
{
    /// <summary>The untagged header length.</summary>
    public const int HeaderLength = 14;

    /// <summary>The 802.1Q tag length.</summary>
    public const int VlanTagLength = 4;

    /// <summary>The longest header the stack writes: tagged.</summary>
    public const int MaxHeaderLength = HeaderLength + VlanTagLength;

    /// <summary>The bytes this header takes on the wire: 14, or 18 with a tag.</summary>
    public int Length => VlanId is null ? HeaderLength : MaxHeaderLength;

    /// <summary>
    /// Parses an Ethernet II frame (no FCS): 14 bytes at least, the type field an EtherType (≥ 0x0600: IEEE 802.3 length
    /// frames with LLC are not Ethernet II), one 802.1Q tag read when present. The payload keeps any link padding; the IP
    /// parser trims it by its own length field.
    /// </summary>
    /// <returns><see cref="WireError.None"/>; <see cref="WireError.Truncated"/> (shorter than the header or the tag);
    /// <see cref="WireError.BadField"/> (a length field instead of a type, or a multicast source address, IEEE 802 §8.2).</returns>
    public static WireError TryParse(ReadOnlySpan<byte> frame, out EthernetHeader header, out ReadOnlySpan<byte> payload)
    {
        header = default;
        payload = default;
        if (frame.Length < HeaderLength) return WireError.Truncated;
        var view = new EthernetView(frame);
        MacAddress source = view.Source;
        if (source.IsMulticast) return WireError.BadField;
        ushort type = view.TypeField;
        int? vlan = null;
        byte priority = 0;
        int length = HeaderLength;
        if (type == (ushort)EtherType.Vlan)
        {
            if (frame.Length < MaxHeaderLength) return WireError.Truncated;
            ushort tci = view.TagControl;
            vlan = tci & 0x0FFF;
            priority = (byte)(tci >> 13);
            type = view.InnerTypeField;
            length = MaxHeaderLength;
        }
        if (type < 0x0600) return WireError.BadField;
        header = new EthernetHeader(view.Destination, source, (EtherType)type, vlan, priority);
        payload = frame[length..];
        return WireError.None;
    }

    /// <summary>Writes the header (with its tag when <see cref="VlanId"/> is set) at the start of <paramref name="frame"/>.</summary>
    /// <returns>The bytes written (<see cref="Length"/>).</returns>
    /// <exception cref="ArgumentException">The span is too short, or the VLAN id or priority is out of range.</exception>
    public static int Emit(Span<byte> frame, in EthernetHeader header)
    {
        int length = header.Length;
        if (frame.Length < length) throw new ArgumentException("Shorter than the Ethernet header.", nameof(frame));
        if (header.VlanId is < 0 or > 4095 || header.Priority > 7) throw new ArgumentException("VLAN id must be 0..4095 and priority 0..7.", nameof(header));
        header.Destination.WriteTo(frame[EthernetView.DestinationOffset..]);
        header.Source.WriteTo(frame[EthernetView.SourceOffset..]);
        if (header.VlanId is int vlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame[EthernetView.TypeOffset..], (ushort)EtherType.Vlan);
            BinaryPrimitives.WriteUInt16BigEndian(frame[EthernetView.TagControlOffset..], (ushort)(header.Priority << 13 | vlan));
            BinaryPrimitives.WriteUInt16BigEndian(frame[EthernetView.InnerTypeOffset..], (ushort)header.EtherType);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame[EthernetView.TypeOffset..], (ushort)header.EtherType);
        }
        return length;
    }
}

/// <summary>A read view over an Ethernet II header (IEEE 802.3 §3.1, 802.1Q §9); the constructor checks the 14 bytes once.</summary>
internal readonly ref struct EthernetView
{
    internal const int DestinationOffset = 0;
    internal const int SourceOffset = 6;
    internal const int TypeOffset = 12;
    internal const int TagControlOffset = 14;
    internal const int InnerTypeOffset = 16;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps <paramref name="bytes"/>: 14 bytes at least (18 before the tag's fields are read).</summary>
    public EthernetView(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < EthernetHeader.HeaderLength) throw new ArgumentException("Shorter than an Ethernet header.", nameof(bytes));
        _bytes = bytes;
    }

    public MacAddress Destination => MacAddress.Read(_bytes[DestinationOffset..]);
    public MacAddress Source => MacAddress.Read(_bytes[SourceOffset..]);
    public ushort TypeField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[TypeOffset..]);
    public ushort TagControl => BinaryPrimitives.ReadUInt16BigEndian(_bytes[TagControlOffset..]);
    public ushort InnerTypeField => BinaryPrimitives.ReadUInt16BigEndian(_bytes[InnerTypeOffset..]);
}
