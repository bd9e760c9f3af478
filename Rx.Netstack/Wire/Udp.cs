namespace Rx.Netstack.Wire;

/// <summary>The meaning of a UDP header (RFC 768).</summary>
/// <param name="SourcePort">Source port.</param>
/// <param name="DestinationPort">Destination port.</param>
public readonly record struct UdpHeader(ushort SourcePort, ushort DestinationPort);

/// <summary>Parse and emit UDP over spans, with no allocation.</summary>
public static class Udp
{
    /// <summary>The header length.</summary>
    public const int HeaderLength = 8;

    /// <summary>
    /// Parses a UDP datagram: length field ≥ 8 and ≤ buffer (extra bytes ignored), destination port not 0,
    /// checksum verified with the pseudo-header (a zero checksum means "none" on IPv4 and is rejected on IPv6, RFC 8200 §8.1).
    /// </summary>
    public static WireError TryParse(ReadOnlySpan<byte> datagram, NetAddress source, NetAddress destination,
        out UdpHeader header, out ReadOnlySpan<byte> payload) => throw new NotImplementedException();

    /// <summary>
    /// Writes the 8-byte header at the start of <paramref name="datagram"/>, whose payload is already in place at
    /// <c>datagram[8..(8 + payloadLength)]</c>, and computes the checksum with the pseudo-header (a computed 0 is sent as 0xFFFF).
    /// </summary>
    /// <returns>The datagram length (8 + payloadLength).</returns>
    public static int Emit(Span<byte> datagram, in UdpHeader header, int payloadLength, NetAddress source, NetAddress destination) =>
        throw new NotImplementedException();
}
