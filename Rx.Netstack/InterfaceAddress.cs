namespace Rx.Netstack;

/// <summary>An address of the stack with its prefix length, e.g. 10.0.0.1/24 or fd00::1/64.</summary>
/// <param name="Address">The address.</param>
/// <param name="PrefixLength">The prefix length in bits.</param>
public readonly record struct InterfaceAddress(NetAddress Address, int PrefixLength)
{
    /// <summary>Parses "10.0.0.1/24" (a missing prefix means a host address: /32 or /128).</summary>
    public static InterfaceAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/');
        NetAddress address = NetAddress.Parse(slash < 0 ? text : text[..slash]);
        int max = address.IsV6 ? 128 : 32;
        int prefix = slash < 0 ? max : int.Parse(text[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        if (prefix < 0 || prefix > max) throw new FormatException($"Prefix length {prefix} is out of range for {address}.");
        return new(address, prefix);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Address}/{PrefixLength}";
}
