using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>Reads and writes the TCP options the stack understands (RFC 9293 §3.1–3.2, RFC 7323, RFC 2018).</summary>
internal static class TcpOptions
{
    internal const byte EndOfList = 0;
    internal const byte NoOperation = 1;
    internal const byte MaxSegmentSize = 2;
    internal const byte WindowScale = 3;
    internal const byte SackPermitted = 4;
    internal const byte Sack = 5;
    internal const byte Timestamps = 8;

    internal const int MaxSegmentSizeLength = 4;
    internal const int WindowScaleLength = 3;
    internal const int SackPermittedLength = 2;
    internal const int TimestampsLength = 10;
    internal const int SackBlockLength = 8;
    internal const int MaxSpace = TcpHeader.MaxHeaderLength - TcpHeader.MinHeaderLength;

    /// <summary>RFC 7323 §2.3: a shift above 14 is used as 14.</summary>
    internal const int MaxWindowScale = 14;

    /// <summary>Decodes <paramref name="options"/> into <paramref name="header"/>.</summary>
    public static WireError Read(ReadOnlySpan<byte> options, ref TcpHeader header)
    {
        int i = 0;
        while (i < options.Length)
        {
            byte kind = options[i];
            if (kind == EndOfList) break;
            if (kind == NoOperation)
            {
                i++;
                continue;
            }
            // Every other option has a length byte counting kind and length (RFC 9293 §3.2).
            if (i + 1 >= options.Length) return WireError.BadOption;
            int length = options[i + 1];
            if (length < 2 || i + length > options.Length) return WireError.BadOption;
            var data = options.Slice(i + 2, length - 2);
            switch (kind)
            {
                case MaxSegmentSize:
                    if (length != MaxSegmentSizeLength) return WireError.BadOption;
                    header.MaxSegmentSize = BinaryPrimitives.ReadUInt16BigEndian(data);
                    break;
                case WindowScale:
                    if (length != WindowScaleLength) return WireError.BadOption;
                    header.WindowScale = (sbyte)Math.Min((int)data[0], MaxWindowScale);
                    break;
                case SackPermitted:
                    if (length != SackPermittedLength) return WireError.BadOption;
                    header.SackPermitted = true;
                    break;
                case Timestamps:
                    if (length != TimestampsLength) return WireError.BadOption;
                    header.HasTimestamps = true;
                    header.TimestampValue = BinaryPrimitives.ReadUInt32BigEndian(data);
                    header.TimestampEcho = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                    break;
                case Sack:
                    // RFC 2018 §3: 2 + 8n bytes; 40 bytes of option space hold at most 4 blocks.
                    if (data.Length == 0 || data.Length % SackBlockLength != 0) return WireError.BadOption;
                    header.SackBlockCount = 0;
                    for (int b = 0; b < data.Length; b += SackBlockLength)
                    {
                        header.AddSackBlock(new SackBlock(
                            new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(data[b..])),
                            new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(data[(b + 4)..]))));
                    }
                    break;
            }
            i += length;
        }
        return WireError.None;
    }

    /// <summary>How many of the header's SACK blocks fit beside its other options.</summary>
    public static int SackBlocksThatFit(in TcpHeader header) =>
        header.SackBlockCount == 0 ? 0 : Math.Min(header.SackBlockCount, SackBlockRoom(header));

    /// <summary>How many SACK blocks fit beside the header's other options (RFC 2018 §3: 4 alone, 3 with timestamps).</summary>
    public static int SackBlockRoom(in TcpHeader header)
    {
        int room = MaxSpace - FixedOptionsLength(header) - 2;
        return room < SackBlockLength ? 0 : room / SackBlockLength;
    }

    /// <summary>The unpadded bytes of the options written for <paramref name="header"/>.</summary>
    public static int UnpaddedLength(in TcpHeader header)
    {
        int blocks = SackBlocksThatFit(header);
        return FixedOptionsLength(header) + (blocks == 0 ? 0 : 2 + blocks * SackBlockLength);
    }

    private static int FixedOptionsLength(in TcpHeader header) =>
        (header.MaxSegmentSize != 0 ? MaxSegmentSizeLength : 0)
        + (header.WindowScale >= 0 ? WindowScaleLength : 0)
        + (header.SackPermitted ? SackPermittedLength : 0)
        + (header.HasTimestamps ? TimestampsLength : 0);

    /// <summary>Writes the options in the documented order and pads with end-of-list bytes to <paramref name="options"/>' length.</summary>
    public static void Write(Span<byte> options, in TcpHeader header)
    {
        int i = 0;
        if (header.MaxSegmentSize != 0)
        {
            options[i] = MaxSegmentSize;
            options[i + 1] = MaxSegmentSizeLength;
            BinaryPrimitives.WriteUInt16BigEndian(options[(i + 2)..], header.MaxSegmentSize);
            i += MaxSegmentSizeLength;
        }
        if (header.WindowScale >= 0)
        {
            options[i] = WindowScale;
            options[i + 1] = WindowScaleLength;
            options[i + 2] = (byte)header.WindowScale;
            i += WindowScaleLength;
        }
        if (header.SackPermitted)
        {
            options[i] = SackPermitted;
            options[i + 1] = SackPermittedLength;
            i += SackPermittedLength;
        }
        if (header.HasTimestamps)
        {
            options[i] = Timestamps;
            options[i + 1] = TimestampsLength;
            BinaryPrimitives.WriteUInt32BigEndian(options[(i + 2)..], header.TimestampValue);
            BinaryPrimitives.WriteUInt32BigEndian(options[(i + 6)..], header.TimestampEcho);
            i += TimestampsLength;
        }
        int blocks = SackBlocksThatFit(header);
        if (blocks > 0)
        {
            options[i] = Sack;
            options[i + 1] = (byte)(2 + blocks * SackBlockLength);
            i += 2;
            for (int b = 0; b < blocks; b++)
            {
                var block = header.SackBlocks[b];
                BinaryPrimitives.WriteUInt32BigEndian(options[i..], block.Left.Value);
                BinaryPrimitives.WriteUInt32BigEndian(options[(i + 4)..], block.Right.Value);
                i += SackBlockLength;
            }
        }
        options[i..].Clear(); // end-of-list padding to the 32-bit boundary
    }
}
