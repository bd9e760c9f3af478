using System.Net;

namespace Rx.Netstack;

/// <summary>An address and port as a value type (the engine's form of <see cref="IPEndPoint"/>).</summary>
/// <param name="Address">The IP address.</param>
/// <param name="Port">The port number.</param>
public readonly record struct NetEndpoint(NetAddress Address, ushort Port)
{
    /// <summary>Converts from <see cref="IPEndPoint"/>.</summary>
    public static NetEndpoint FromIPEndPoint(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return new(NetAddress.FromIPAddress(endpoint.Address), checked((ushort)endpoint.Port));
    }

    /// <summary>Parses "1.2.3.4:80" or "[::1]:80".</summary>
    public static NetEndpoint Parse(string text) => FromIPEndPoint(IPEndPoint.Parse(text));

    /// <summary>Converts to <see cref="IPEndPoint"/> (allocates; for the API edge only).</summary>
    public IPEndPoint ToIPEndPoint() => new(Address.ToIPAddress(), Port);

    /// <inheritdoc />
    public override string ToString() => Address.IsV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}
