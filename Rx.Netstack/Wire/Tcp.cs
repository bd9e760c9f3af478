namespace Rx.Netstack.Wire;

/// <summary>Parse and emit TCP segments over spans, with no allocation (RFC 9293 §3.1, options RFC 7323 and RFC 2018).</summary>
public static class Tcp
{
    /// <summary>The header length with no options.</summary>
    public const int MinHeaderLength = 20;

    /// <summary>The largest header length (data offset 15).</summary>
    public const int MaxHeaderLength = 60;

    /// <summary>
    /// Parses a TCP segment: at least 20 bytes, data offset ≥ 5 and within the buffer, checksum verified with the
    /// pseudo-header, and options decoded (MSS, window scale, SACK-permitted, SACK, timestamps, NOP, EOL; unknown options
    /// skipped by their length; an option with length &lt; 2 or running past the header → <see cref="WireError.BadOption"/>;
    /// a known option with the wrong length → <see cref="WireError.BadOption"/>). Window scale above 14 is read as 14 (RFC 7323 §2.3).
    /// </summary>
    public static WireError TryParse(ReadOnlySpan<byte> segment, NetAddress source, NetAddress destination,
        out TcpHeader header, out ReadOnlySpan<byte> payload) => throw new NotImplementedException();

    /// <summary>The header length <see cref="Emit"/> writes for <paramref name="header"/>: 20 plus its options, padded to 4 bytes.</summary>
    public static int HeaderLength(in TcpHeader header) => throw new NotImplementedException();

    /// <summary>
    /// Writes the header with its options at the start of <paramref name="segment"/>, whose payload is already in place at
    /// <c>segment[HeaderLength(header)..][..payloadLength]</c>, and computes the checksum with the pseudo-header.
    /// Options are written in the order MSS, window scale, SACK-permitted, timestamps, SACK blocks (as many as fit in 40 bytes),
    /// padded with NOP/EOL to a multiple of 4.
    /// </summary>
    /// <returns>The segment length (header + payload).</returns>
    public static int Emit(Span<byte> segment, in TcpHeader header, int payloadLength, NetAddress source, NetAddress destination) =>
        throw new NotImplementedException();
}
