using System.Buffers.Binary;

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
    /// The segment must be exactly the IP payload (TCP has no length field of its own).
    /// </summary>
    /// <returns><see cref="WireError.None"/>, or <see cref="WireError.Truncated"/> (under 20 bytes),
    /// <see cref="WireError.BadHeaderLength"/> (data offset below 5 or beyond the buffer), <see cref="WireError.BadChecksum"/>,
    /// <see cref="WireError.BadOption"/>.</returns>
    public static WireError TryParse(ReadOnlySpan<byte> segment, NetAddress source, NetAddress destination,
        out TcpHeader header, out ReadOnlySpan<byte> payload, bool verifyChecksum = true)
    {
        header = default;
        payload = default;
        if (segment.Length < MinHeaderLength) return WireError.Truncated;
        var view = new TcpView(segment);
        int headerLength = view.HeaderLength;
        if (headerLength < MinHeaderLength || headerLength > segment.Length) return WireError.BadHeaderLength;
        if (verifyChecksum && !Checksum.Verify(segment, Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, segment.Length)))
            return WireError.BadChecksum;

        var parsed = new TcpHeader(view.SourcePortField, view.DestinationPortField, view.FlagsField)
        {
            Sequence = view.SequenceField,
            Acknowledgment = view.AcknowledgmentField,
            Window = view.WindowField,
            UrgentPointer = view.UrgentPointerField,
        };
        var error = TcpOptions.Read(segment[MinHeaderLength..headerLength], ref parsed);
        if (error != WireError.None) return error;

        header = parsed;
        payload = segment[headerLength..];
        return WireError.None;
    }

    /// <summary>The header length <see cref="Emit"/> writes for <paramref name="header"/>: 20 plus its options, padded to 4 bytes.</summary>
    public static int HeaderLength(in TcpHeader header) => MinHeaderLength + ((TcpOptions.UnpaddedLength(header) + 3) & ~3);

    /// <summary>How many of <paramref name="header"/>'s SACK blocks <see cref="Emit"/> writes: as many as fit in the 40 bytes
    /// of option space beside the other options (4 alone, 3 with timestamps).</summary>
    public static int SackBlocksEmitted(in TcpHeader header) => TcpOptions.SackBlocksThatFit(header);

    /// <summary>
    /// Writes the header with its options at the start of <paramref name="segment"/>, whose payload is already in place at
    /// <c>segment[HeaderLength(header)..][..payloadLength]</c>, and computes the checksum with the pseudo-header.
    /// Options are written in the order MSS, window scale, SACK-permitted, timestamps, SACK blocks (as many as fit in 40 bytes),
    /// padded with end-of-list bytes to a multiple of 4.
    /// </summary>
    /// <returns>The segment length (header + payload).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The segment does not fit in <paramref name="segment"/>.</exception>
    public static int Emit(Span<byte> segment, in TcpHeader header, int payloadLength, NetAddress source, NetAddress destination,
        bool computeChecksum = true)
    {
        int headerLength = HeaderLength(header);
        int length = headerLength + payloadLength;
        if (payloadLength < 0 || length > segment.Length) throw new ArgumentOutOfRangeException(nameof(payloadLength));
        var bytes = segment[..length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.SourcePort..], header.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.DestinationPort..], header.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[TcpView.Sequence..], header.Sequence.Value);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[TcpView.Acknowledgment..], header.Acknowledgment.Value);
        bytes[TcpView.DataOffset] = (byte)((headerLength / 4) << 4);
        bytes[TcpView.Flags] = (byte)header.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.Window..], header.Window);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.Checksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.UrgentPointer..], header.UrgentPointer);
        TcpOptions.Write(bytes[MinHeaderLength..headerLength], header);
        if (!computeChecksum) return length; // offloaded: the field stays zero
        uint pseudo = Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, length);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[TcpView.Checksum..], Checksum.Finish(Checksum.Accumulate(bytes, pseudo)));
        return length;
    }

    /// <summary>
    /// Reads ports and sequence number from the first 8 bytes of a TCP header quoted in an ICMP error (RFC 792 and
    /// RFC 4443 quote at least that much; RFC 5927 §4.1 says to check the sequence number against the send window).
    /// No checksum can be verified on a quote.
    /// </summary>
    /// <returns>False when fewer than 8 bytes are quoted.</returns>
    public static bool TryReadQuoted(ReadOnlySpan<byte> quotedSegment, out ushort sourcePort, out ushort destinationPort, out SeqNumber sequence)
    {
        sourcePort = destinationPort = 0;
        sequence = default;
        if (quotedSegment.Length < 8) return false;
        sourcePort = BinaryPrimitives.ReadUInt16BigEndian(quotedSegment[TcpView.SourcePort..]);
        destinationPort = BinaryPrimitives.ReadUInt16BigEndian(quotedSegment[TcpView.DestinationPort..]);
        sequence = new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(quotedSegment[TcpView.Sequence..]));
        return true;
    }
}
