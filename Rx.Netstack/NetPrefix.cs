using System.Globalization;

namespace Rx.Netstack;

/// <summary>
/// A range of addresses, e.g. 10.0.0.0/8, 0.0.0.0/0 or fd00::/64: the destinations an interceptor answers for (see
/// <see cref="Sockets.TcpInterceptor"/>, <see cref="Sockets.UdpInterceptor"/>).
/// </summary>
/// <param name="Address">An address of the range (bits past the prefix are ignored).</param>
/// <param name="Length">The prefix length in bits: 0..32 for IPv4, 0..128 for IPv6.</param>
public readonly record struct NetPrefix(NetAddress Address, int Length)
{
    /// <summary>Every IPv4 address (0.0.0.0/0).</summary>
    public static NetPrefix AllV4 => new(NetAddress.AnyV4, 0);

    /// <summary>Every IPv6 address (::/0).</summary>
    public static NetPrefix AllV6 => new(NetAddress.AnyV6, 0);

    /// <summary>True when the length is within the address family's range.</summary>
    public bool IsValid => Length >= 0 && Length <= (Address.IsV6 ? 128 : 32);

    /// <summary>True when <paramref name="address"/> is of the same IP version and within the prefix.</summary>
    public bool Contains(NetAddress address) => Address.IsInPrefix(address, Length);

    /// <summary>Parses "10.0.0.0/8" or "fd00::/64" (a missing length means one address: /32 or /128).</summary>
    /// <exception cref="FormatException">Not an address, or a length out of range.</exception>
    public static NetPrefix Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        NetAddress address = NetAddress.Parse(slash < 0 ? text : text[..slash]);
        int max = address.IsV6 ? 128 : 32;
        if (slash >= 0 && !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw new FormatException($"'{text}' has no prefix length after the slash.");
        int length = slash < 0 ? max : int.Parse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture);
        if (length > max) throw new FormatException($"Prefix length {length} is out of range for {address} (0..{max}).");
        return new(address, length);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Address}/{Length}";
}
