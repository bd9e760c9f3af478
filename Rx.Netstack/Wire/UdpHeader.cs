using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>The meaning of a UDP header (RFC 768).</summary>
/// <param name="SourcePort">Source port.</param>
/// <param name="DestinationPort">Destination port.</param>
public readonly record struct UdpHeader(ushort SourcePort, ushort DestinationPort)
{
    /// <summary>The header length.</summary>
    public const int HeaderLength = 8;

    /// <summary>
    /// Parses a UDP datagram: length field ≥ 8 and ≤ buffer (extra bytes ignored), destination port not 0,
    /// checksum verified with the pseudo-header (a zero checksum means "none" on IPv4 and is rejected on IPv6, RFC 8200 §8.1).
    /// </summary>
    /// <returns><see cref="WireError.None"/>, or <see cref="WireError.Truncated"/> (under 8 bytes), <see cref="WireError.BadLength"/>
    /// (length field below 8 or beyond the buffer), <see cref="WireError.BadChecksum"/>, <see cref="WireError.BadField"/> (destination port 0).</returns>
    public static WireError TryParse(ReadOnlySpan<byte> datagram, NetAddress source, NetAddress destination,
        out UdpHeader header, out ReadOnlySpan<byte> payload, bool verifyChecksum = true)
    {
        header = default;
        payload = default;
        if (datagram.Length < HeaderLength) return WireError.Truncated;
        var view = new UdpView(datagram);
        int length = view.LengthField;
        if (length < HeaderLength || length > datagram.Length) return WireError.BadLength;
        var bytes = datagram[..length];
        if (!verifyChecksum)
        {
            // The link vouches for the datagram (receive checksum offload).
        }
        else if (view.ChecksumField == 0)
        {
            if (source.IsV6) return WireError.BadChecksum; // RFC 8200 §8.1: IPv6 receivers discard a zero UDP checksum
        }
        else if (!Checksum.Verify(bytes, Checksum.PseudoHeader(source, destination, IpProtocol.Udp, length)))
        {
            return WireError.BadChecksum;
        }
        if (view.DestinationPortField == 0) return WireError.BadField;

        header = new UdpHeader(view.SourcePortField, view.DestinationPortField);
        payload = bytes[HeaderLength..];
        return WireError.None;
    }

    /// <summary>
    /// Writes the 8-byte header at the start of <paramref name="datagram"/>, whose payload is already in place at
    /// <c>datagram[8..(8 + payloadLength)]</c>, and computes the checksum with the pseudo-header (a computed 0 is sent as 0xFFFF).
    /// </summary>
    /// <returns>The datagram length (8 + payloadLength).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The datagram would exceed 65535 bytes or the buffer.</exception>
    public static int Emit(Span<byte> datagram, in UdpHeader header, int payloadLength, NetAddress source, NetAddress destination,
        bool computeChecksum = true)
    {
        int length = HeaderLength + payloadLength;
        if (payloadLength < 0 || length > ushort.MaxValue || length > datagram.Length)
            throw new ArgumentOutOfRangeException(nameof(payloadLength));
        var bytes = datagram[..length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes[UdpView.SourcePort..], header.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[UdpView.DestinationPort..], header.DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[UdpView.Length..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[UdpView.Checksum..], 0);
        if (!computeChecksum) return length; // offloaded: the field stays zero
        ushort checksum = Checksum.Finish(Checksum.Accumulate(bytes, Checksum.PseudoHeader(source, destination, IpProtocol.Udp, length)));
        // RFC 768: an all-zero transmitted checksum means "no checksum", so a computed zero is sent as all ones.
        BinaryPrimitives.WriteUInt16BigEndian(bytes[UdpView.Checksum..], checksum == 0 ? (ushort)0xFFFF : checksum);
        return length;
    }

    /// <summary>Reads the ports of a UDP header quoted in an ICMP error (only the first 4 bytes are needed; no checksum can be
    /// verified on a quote).</summary>
    /// <returns>False when fewer than 4 bytes are quoted.</returns>
    public static bool TryReadQuoted(ReadOnlySpan<byte> quotedDatagram, out UdpHeader header)
    {
        header = default;
        if (quotedDatagram.Length < 4) return false;
        header = new UdpHeader(BinaryPrimitives.ReadUInt16BigEndian(quotedDatagram[UdpView.SourcePort..]),
            BinaryPrimitives.ReadUInt16BigEndian(quotedDatagram[UdpView.DestinationPort..]));
        return true;
    }
}
