namespace Rx.Netstack.Wire;

/// <summary>The meaning of an IPv4 header (RFC 791).</summary>
/// <param name="Source">Source address.</param>
/// <param name="Destination">Destination address.</param>
/// <param name="Protocol">Upper-layer protocol.</param>
/// <param name="TimeToLive">TTL.</param>
/// <param name="Identification">Identification, for reassembly.</param>
/// <param name="DontFragment">The DF flag.</param>
/// <param name="MoreFragments">The MF flag.</param>
/// <param name="FragmentOffset">Fragment offset in bytes (the field times 8).</param>
/// <param name="TypeOfService">DSCP and ECN byte.</param>
public readonly record struct Ipv4Header(
    NetAddress Source,
    NetAddress Destination,
    IpProtocol Protocol,
    byte TimeToLive = 64,
    ushort Identification = 0,
    bool DontFragment = false,
    bool MoreFragments = false,
    int FragmentOffset = 0,
    byte TypeOfService = 0)
{
    /// <summary>True when this packet is a fragment (MF set or a non-zero offset).</summary>
    public bool IsFragment => MoreFragments || FragmentOffset != 0;
}

/// <summary>Parse and emit IPv4 headers over spans, with no allocation.</summary>
public static class Ipv4
{
    /// <summary>The length of a header with no options.</summary>
    public const int HeaderLength = 20;

    /// <summary>The longest IPv4 header (IHL 15: 60 bytes).</summary>
    public const int MaxHeaderRoom = 60;

    /// <summary>
    /// Parses an IPv4 packet: version 4, IHL ≥ 5 and within the buffer, total length ≥ IHL and ≤ buffer
    /// (bytes beyond total length are link padding and are ignored), header checksum verified. Options are skipped.
    /// </summary>
    /// <param name="packet">The whole packet.</param>
    /// <param name="header">The parsed header.</param>
    /// <param name="headerLength">The header length including options (IHL × 4).</param>
    /// <param name="payload">The payload, trimmed to the total length.</param>
    /// <returns><see cref="WireError.None"/>, or why the packet is rejected.</returns>
    public static WireError TryParse(ReadOnlySpan<byte> packet, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload) =>
        throw new NotImplementedException();

    /// <summary>
    /// Writes a 20-byte header (no options) with total length <c>20 + payloadLength</c> and a correct header checksum.
    /// </summary>
    /// <returns>The number of bytes written (20).</returns>
    public static int Emit(Span<byte> destination, in Ipv4Header header, int payloadLength) => throw new NotImplementedException();
}
