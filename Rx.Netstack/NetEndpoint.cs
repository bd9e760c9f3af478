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

    /// <summary>
    /// An <see cref="IPEndPoint"/> where a <see cref="NetEndpoint"/> is wanted, so every API that takes one takes the other:
    /// <c>stack.ConnectTcpAsync(new IPEndPoint(address, 80))</c>. Same as <see cref="FromIPEndPoint"/>: null throws
    /// <see cref="ArgumentNullException"/>, an IPv6 scope id is dropped.
    /// </summary>
    public static implicit operator NetEndpoint(IPEndPoint endpoint) => FromIPEndPoint(endpoint);

    /// <summary>A <see cref="NetEndpoint"/> where an <see cref="IPEndPoint"/> is wanted (lossless; allocates, as <see cref="ToIPEndPoint"/>).</summary>
    public static implicit operator IPEndPoint(NetEndpoint endpoint) => endpoint.ToIPEndPoint();

    /// <inheritdoc />
    public override string ToString() => Address.IsV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}
