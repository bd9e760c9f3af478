using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Rx.Netstack;

/// <summary>
/// An IPv4 or IPv6 address as a value type, so the engine can carry addresses through the
/// hot path without allocating <see cref="IPAddress"/> objects. Convert at the API edge with
/// <see cref="FromIPAddress"/> and <see cref="ToIPAddress"/>.
/// </summary>
public readonly record struct NetAddress : IComparable<NetAddress>
{
    private readonly ulong _high;
    private readonly ulong _low;

    /// <summary>True for an IPv6 address, false for IPv4.</summary>
    public bool IsV6 { get; }

    private NetAddress(ulong high, ulong low, bool isV6)
    {
        _high = high;
        _low = low;
        IsV6 = isV6;
    }

    /// <summary>The IPv4 unspecified address 0.0.0.0.</summary>
    public static NetAddress AnyV4 => default;

    /// <summary>The IPv6 unspecified address ::.</summary>
    public static NetAddress AnyV6 => new(0, 0, true);

    /// <summary>The IPv4 loopback address 127.0.0.1.</summary>
    public static NetAddress LoopbackV4 => V4(0x7F00_0001u);

    /// <summary>The IPv6 loopback address ::1.</summary>
    public static NetAddress LoopbackV6 => new(0, 1, true);

    /// <summary>The IP version: 4 or 6.</summary>
    public int Version => IsV6 ? 6 : 4;

    /// <summary>The address length on the wire: 4 or 16 bytes.</summary>
    public int Length => IsV6 ? 16 : 4;

    /// <summary>The IPv4 address as a host-order integer (only meaningful when <see cref="IsV6"/> is false).</summary>
    public uint V4Value => (uint)_low;

    /// <summary>True for 0.0.0.0 or ::.</summary>
    public bool IsUnspecified => _high == 0 && _low == 0;

    /// <summary>True for 127.0.0.0/8 or ::1.</summary>
    public bool IsLoopback => IsV6 ? _high == 0 && _low == 1 : (V4Value >> 24) == 127;

    /// <summary>True for 224.0.0.0/4 or ff00::/8.</summary>
    public bool IsMulticast => IsV6 ? (_high >> 56) == 0xFF : (V4Value >> 28) == 0xE;

    /// <summary>True for the IPv4 limited broadcast address 255.255.255.255.</summary>
    public bool IsBroadcast => !IsV6 && V4Value == 0xFFFF_FFFFu;

    /// <summary>Makes an IPv4 address from its host-order integer value.</summary>
    public static NetAddress V4(uint value) => new(0, value, false);

    /// <summary>Makes an IPv4 address from its four octets.</summary>
    public static NetAddress V4(byte a, byte b, byte c, byte d) => V4((uint)(a << 24 | b << 16 | c << 8 | d));

    /// <summary>Makes an IPv6 address from its two host-order 64-bit halves.</summary>
    public static NetAddress V6(ulong high, ulong low) => new(high, low, true);

    /// <summary>Reads a 4-byte IPv4 address in network order.</summary>
    public static NetAddress ReadV4(ReadOnlySpan<byte> source) => V4(BinaryPrimitives.ReadUInt32BigEndian(source));

    /// <summary>Reads a 16-byte IPv6 address in network order.</summary>
    public static NetAddress ReadV6(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]), true);

    /// <summary>Writes the address in network order (4 or 16 bytes).</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (IsV6)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
            BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination, V4Value);
        }
    }

    /// <summary>Converts from <see cref="IPAddress"/>; an IPv4-mapped IPv6 address stays IPv6.</summary>
    public static NetAddress FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out int written))
            throw new ArgumentException("Address could not be read.", nameof(address));
        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => ReadV4(bytes[..written]),
            AddressFamily.InterNetworkV6 => ReadV6(bytes[..written]),
            _ => throw new ArgumentException($"Unsupported address family {address.AddressFamily}.", nameof(address)),
        };
    }

    /// <summary>Parses a textual IPv4 or IPv6 address.</summary>
    public static NetAddress Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    /// <summary>Converts to <see cref="IPAddress"/> (allocates; for the API edge only).</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        WriteTo(bytes);
        return new IPAddress(bytes[..Length]);
    }

    /// <summary>
    /// An <see cref="IPAddress"/> where a <see cref="NetAddress"/> is wanted, so every API that takes one takes the other:
    /// <c>stack.PingAsync(IPAddress.Parse("10.0.0.2"))</c>. Same as <see cref="FromIPAddress"/>: a null address throws
    /// <see cref="ArgumentNullException"/> (as a null argument would), an IPv6 scope id is dropped (the stack has one
    /// interface, so a scope selects nothing), and an IPv4-mapped IPv6 address stays IPv6.
    /// </summary>
    public static implicit operator NetAddress(IPAddress address) => FromIPAddress(address);

    /// <summary>A <see cref="NetAddress"/> where an <see cref="IPAddress"/> is wanted (lossless; allocates, as <see cref="ToIPAddress"/>).</summary>
    public static implicit operator IPAddress(NetAddress address) => address.ToIPAddress();

    /// <summary>True when <paramref name="other"/> is in the same prefix of <paramref name="prefixLength"/> bits.</summary>
    public bool IsInPrefix(NetAddress other, int prefixLength)
    {
        if (IsV6 != other.IsV6) return false;
        if (!IsV6)
        {
            if (prefixLength <= 0) return true;
            uint mask = prefixLength >= 32 ? uint.MaxValue : ~(uint.MaxValue >> prefixLength);
            return (V4Value & mask) == (other.V4Value & mask);
        }
        UInt128 a = new(_high, _low), b = new(other._high, other._low);
        if (prefixLength <= 0) return true;
        UInt128 mask6 = prefixLength >= 128 ? UInt128.MaxValue : ~(UInt128.MaxValue >> prefixLength);
        return (a & mask6) == (b & mask6);
    }

    /// <inheritdoc />
    public int CompareTo(NetAddress other)
    {
        int c = IsV6.CompareTo(other.IsV6);
        if (c != 0) return c;
        c = _high.CompareTo(other._high);
        return c != 0 ? c : _low.CompareTo(other._low);
    }

    /// <summary>True when <paramref name="left"/> sorts before <paramref name="right"/> (IPv4 before IPv6, then by value).</summary>
    public static bool operator <(NetAddress left, NetAddress right) => left.CompareTo(right) < 0;

    /// <summary>True when <paramref name="left"/> sorts before or equals <paramref name="right"/>.</summary>
    public static bool operator <=(NetAddress left, NetAddress right) => left.CompareTo(right) <= 0;

    /// <summary>True when <paramref name="left"/> sorts after <paramref name="right"/>.</summary>
    public static bool operator >(NetAddress left, NetAddress right) => left.CompareTo(right) > 0;

    /// <summary>True when <paramref name="left"/> sorts after or equals <paramref name="right"/>.</summary>
    public static bool operator >=(NetAddress left, NetAddress right) => left.CompareTo(right) >= 0;

    /// <inheritdoc />
    public override string ToString() => ToIPAddress().ToString();
}
