namespace Rx.Netstack.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): a 16-bit ones' complement sum, computed over wide vectors.
/// Partial sums are carried as <see cref="uint"/> (unfolded) so pieces can be added in any order.
/// </summary>
public static class Checksum
{
    /// <summary>Adds the bytes of <paramref name="data"/> (as big-endian 16-bit words; an odd last byte is padded with zero)
    /// to <paramref name="initial"/> and returns the unfolded partial sum.</summary>
    public static uint Accumulate(ReadOnlySpan<byte> data, uint initial = 0) => throw new NotImplementedException();

    /// <summary>Folds a partial sum to 16 bits and complements it: the value to put in a checksum field.</summary>
    public static ushort Finish(uint partialSum) => throw new NotImplementedException();

    /// <summary>The checksum of <paramref name="data"/> alone: <c>Finish(Accumulate(data))</c>.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Accumulate(data));

    /// <summary>The partial sum of the IPv4 (RFC 768/9293) or IPv6 (RFC 8200 §8.1) pseudo-header.</summary>
    /// <param name="source">Source address; its version selects the pseudo-header form.</param>
    /// <param name="destination">Destination address (same version as <paramref name="source"/>).</param>
    /// <param name="protocol">The upper-layer protocol.</param>
    /// <param name="upperLayerLength">The upper-layer packet length (header + payload) in bytes.</param>
    public static uint PseudoHeader(NetAddress source, NetAddress destination, IpProtocol protocol, int upperLayerLength) =>
        throw new NotImplementedException();

    /// <summary>True when a buffer that includes its own checksum field sums to 0xFFFF (verifies), with an optional pseudo-header sum.</summary>
    public static bool Verify(ReadOnlySpan<byte> data, uint pseudoHeaderSum = 0) => throw new NotImplementedException();
}
