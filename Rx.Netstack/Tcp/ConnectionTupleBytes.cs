using System.Buffers.Binary;

namespace Rx.Netstack.Tcp;

/// <summary>Serialises a connection's 4-tuple into a span, as the input of the keyed hashes of ISNs and SYN cookies.</summary>
internal static class ConnectionTupleBytes
{
    /// <summary>The most bytes <see cref="Write"/> writes: a version byte, two IPv6 addresses and two ports.</summary>
    public const int MaxLength = 1 + 16 + 2 + 16 + 2;

    /// <summary>Writes the IP version, local address and port, remote address and port; returns the length written.</summary>
    public static int Write(Span<byte> destination, NetEndpoint local, NetEndpoint remote)
    {
        // The version byte keeps an IPv4 tuple distinct from an IPv6 one whose bytes happen to match.
        destination[0] = (byte)local.Address.Version;
        int at = 1;
        local.Address.WriteTo(destination[at..]);
        at += local.Address.Length;
        BinaryPrimitives.WriteUInt16BigEndian(destination[at..], local.Port);
        at += 2;
        remote.Address.WriteTo(destination[at..]);
        at += remote.Address.Length;
        BinaryPrimitives.WriteUInt16BigEndian(destination[at..], remote.Port);
        return at + 2;
    }
}
