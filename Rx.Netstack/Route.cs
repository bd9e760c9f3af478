namespace Rx.Netstack;

/// <summary>
/// A static route for an Ethernet interface: packets to <see cref="Destination"/>/<see cref="PrefixLength"/> go to the
/// neighbour <see cref="Gateway"/>. A prefix length of 0 makes it the default route of its family. Routes matter only on
/// an Ethernet device (<see cref="LinkMedium.Ethernet"/>); on an IP device every packet goes to the one peer.
/// </summary>
/// <param name="Destination">The destination prefix.</param>
/// <param name="PrefixLength">Its length in bits (0: the default route).</param>
/// <param name="Gateway">The next hop; it must be on a connected prefix (or IPv6 link-local).</param>
public readonly record struct Route(NetAddress Destination, int PrefixLength, NetAddress Gateway)
{
    /// <summary>The default route of <paramref name="gateway"/>'s family.</summary>
    public static Route Default(NetAddress gateway) => new(gateway.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 0, gateway);

    /// <summary>True when <paramref name="address"/> is inside this route's prefix.</summary>
    public bool Contains(NetAddress address) => Destination.IsV6 == address.IsV6 && Destination.IsInPrefix(address, PrefixLength);

    /// <summary>Parses "10.1.0.0/16 via 10.0.0.254" or "default via fe80::1".</summary>
    /// <exception cref="FormatException">Not of that form, or the families differ.</exception>
    public static Route Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || parts[1] != "via") throw new FormatException($"'{text}' is not a route: write \"PREFIX via GATEWAY\" or \"default via GATEWAY\".");
        NetAddress gateway = NetAddress.Parse(parts[2]);
        Route route = parts[0] == "default" ? Default(gateway) : FromPrefix(InterfaceAddress.Parse(parts[0]), gateway);
        if (route.Destination.IsV6 != gateway.IsV6) throw new FormatException($"'{text}': the prefix and the gateway are of different IP versions.");
        return route;
    }

    private static Route FromPrefix(InterfaceAddress prefix, NetAddress gateway) => new(prefix.Address, prefix.PrefixLength, gateway);

    /// <inheritdoc />
    public override string ToString() => PrefixLength == 0 ? $"default via {Gateway}" : $"{Destination}/{PrefixLength} via {Gateway}";
}
