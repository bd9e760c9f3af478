using System.Buffers.Binary;
using System.Globalization;

namespace Rx.Netstack;

/// <summary>A 48-bit IEEE 802 MAC address as a value type (the engine carries it without allocating).</summary>
public readonly record struct MacAddress
{
    /// <summary>The address in the low 48 bits, first octet highest.</summary>
    private readonly ulong _value;

    private MacAddress(ulong value) => _value = value & 0xFFFF_FFFF_FFFFUL;

    /// <summary>The length on the wire: 6 bytes.</summary>
    public const int Length = 6;

    /// <summary>ff:ff:ff:ff:ff:ff.</summary>
    public static MacAddress Broadcast => new(0xFFFF_FFFF_FFFFUL);

    /// <summary>True for ff:ff:ff:ff:ff:ff.</summary>
    public bool IsBroadcast => _value == 0xFFFF_FFFF_FFFFUL;

    /// <summary>True for a group address (the I/G bit, the low bit of the first octet), broadcast included.</summary>
    public bool IsMulticast => (_value & 0x0100_0000_0000UL) != 0;

    /// <summary>True for 00:00:00:00:00:00.</summary>
    public bool IsZero => _value == 0;

    /// <summary>True for a locally administered address (the U/L bit of the first octet).</summary>
    public bool IsLocallyAdministered => (_value & 0x0200_0000_0000UL) != 0;

    /// <summary>The address as an integer, first octet in bits 40–47.</summary>
    public ulong Value => _value;

    /// <summary>Makes an address from its integer value (the low 48 bits, first octet highest).</summary>
    public static MacAddress FromValue(ulong value) => new(value);

    /// <summary>Reads 6 bytes in wire order.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> source) =>
        new((ulong)BinaryPrimitives.ReadUInt16BigEndian(source) << 32 | BinaryPrimitives.ReadUInt32BigEndian(source[2..]));

    /// <summary>Writes the 6 bytes in wire order.</summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(_value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)_value);
    }

    /// <summary>
    /// The group address an IP multicast address maps to: 01:00:5e and the low 23 bits for IPv4 (RFC 1112 §6.4),
    /// 33:33 and the low 32 bits for IPv6 (RFC 2464 §7).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="group"/> is not multicast.</exception>
    public static MacAddress ForMulticast(NetAddress group)
    {
        if (!group.IsMulticast) throw new ArgumentException($"{group} is not a multicast address.", nameof(group));
        Span<byte> bytes = stackalloc byte[16];
        group.WriteTo(bytes);
        return group.IsV6
            ? new(0x3333_0000_0000UL | BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]))
            : new(0x0100_5E00_0000UL | (group.V4Value & 0x7F_FFFFu));
    }

    /// <summary>
    /// The modified EUI-64 interface identifier of this address (RFC 4291 appendix A): ff:fe in the middle and the U/L bit
    /// inverted, the low 64 bits of a link-local or SLAAC address (RFC 4862 §5.3, §5.5.3).
    /// </summary>
    public ulong InterfaceIdentifier
    {
        get
        {
            ulong high = _value >> 24, low = _value & 0xFF_FFFF;
            return (high << 40 | 0xFF_FEUL << 24 | low) ^ 0x0200_0000_0000_0000UL;
        }
    }

    /// <summary>A locally administered unicast address made from <paramref name="seed"/> (02:xx:…): a stack's default MAC.</summary>
    public static MacAddress LocallyAdministered(uint seed) => new(0x0252_0000_0000UL | seed);

    /// <summary>Parses "02:00:5e:10:00:01" (colons or dashes, hex digits in either case).</summary>
    /// <exception cref="FormatException">Not six hex octets.</exception>
    public static MacAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParse(text, out MacAddress address)) throw new FormatException($"'{text}' is not a MAC address (six hex octets, e.g. 02:00:00:00:00:01).");
        return address;
    }

    /// <summary>Parses "02:00:5e:10:00:01"; false when <paramref name="text"/> is not six hex octets.</summary>
    public static bool TryParse(string? text, out MacAddress address)
    {
        address = default;
        if (text is null || text.Length != 17) return false;
        ulong value = 0;
        for (int i = 0; i < 6; i++)
        {
            if (i > 0 && text[i * 3 - 1] is not (':' or '-')) return false;
            if (!byte.TryParse(text.AsSpan(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte octet)) return false;
            value = value << 8 | octet;
        }
        address = new(value);
        return true;
    }

    /// <inheritdoc />
    public override string ToString()
    {
        Span<byte> b = stackalloc byte[Length];
        WriteTo(b);
        return string.Create(CultureInfo.InvariantCulture, $"{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}:{b[4]:x2}:{b[5]:x2}");
    }
}
