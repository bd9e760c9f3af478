using System.Buffers.Binary;
using System.Text;

namespace Rx.Netstack.Sockets;

/// <summary>The few pieces of the DNS message format (RFC 1035 §4.1) a stub resolver needs: one question out, addresses back.</summary>
internal static class DnsMessage
{
    public const ushort TypeA = 1;      // RFC 1035 §3.2.2
    public const ushort TypeAaaa = 28;  // RFC 3596 §2.1
    public const ushort ClassIn = 1;
    public const int HeaderLength = 12;
    private const int MaxNameLength = 255; // RFC 1035 §2.3.4
    private const int MaxLabelLength = 63;

    /// <summary>Writes a recursive query for (<paramref name="name"/>, <paramref name="type"/>, IN); returns its length.</summary>
    public static int WriteQuery(Span<byte> destination, ushort id, string name, ushort type)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, id);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 0x0100); // QR=0, opcode QUERY, RD=1 (§4.1.1)
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], 1);      // QDCOUNT
        destination[6..HeaderLength].Clear();                            // ANCOUNT, NSCOUNT, ARCOUNT
        int offset = HeaderLength + WriteName(destination[HeaderLength..], name);
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 2)..], ClassIn);
        return offset + 4;
    }

    /// <summary>Encodes a name as length-prefixed labels ending in the root label (§3.1).</summary>
    private static int WriteName(Span<byte> destination, string name)
    {
        name = name.TrimEnd('.');
        if (name.Length + 2 > MaxNameLength) throw new ArgumentException($"The name '{name}' is longer than DNS allows.", nameof(name));
        int offset = 0;
        foreach (string label in name.Split('.'))
        {
            int length = Encoding.ASCII.GetByteCount(label);
            if (length is 0 or > MaxLabelLength) throw new ArgumentException($"The name '{name}' has an empty or over-long label.", nameof(name));
            destination[offset++] = (byte)length;
            offset += Encoding.ASCII.GetBytes(label, destination[offset..]);
        }
        destination[offset++] = 0;
        return offset;
    }

    /// <summary>
    /// Reads the answer to query <paramref name="id"/>: the response code (0 = no error, 3 = name error) and the addresses of
    /// every answer record of <paramref name="type"/> (CNAME records before them are followed implicitly, since recursive
    /// servers list the target's records in the same answer section). False when the message is not a well-formed response to it.
    /// </summary>
    public static bool TryReadAnswer(ReadOnlySpan<byte> message, ushort id, ushort type, List<NetAddress> addresses, out int responseCode)
    {
        responseCode = -1;
        if (message.Length < HeaderLength || BinaryPrimitives.ReadUInt16BigEndian(message) != id) return false;
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(message[2..]);
        if ((flags & 0x8000) == 0) return false; // not a response
        responseCode = flags & 0x000F;
        int questions = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        int answers = BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
        int offset = HeaderLength;
        for (int i = 0; i < questions; i++)
        {
            if (!TrySkipName(message, ref offset) || offset + 4 > message.Length) return false;
            offset += 4;
        }
        for (int i = 0; i < answers; i++)
        {
            if (!TrySkipName(message, ref offset) || offset + 10 > message.Length) return false;
            ushort rrType = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]);
            ushort rrClass = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 2)..]);
            int dataLength = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 8)..]);
            offset += 10;
            if (offset + dataLength > message.Length) return false;
            ReadOnlySpan<byte> data = message.Slice(offset, dataLength);
            if (rrClass == ClassIn && rrType == type)
            {
                if (type == TypeA && dataLength == 4) addresses.Add(NetAddress.ReadV4(data));
                else if (type == TypeAaaa && dataLength == 16) addresses.Add(NetAddress.ReadV6(data));
            }
            offset += dataLength;
        }
        return true;
    }

    /// <summary>Skips a name: labels, ending in the root label or in a compression pointer (§4.1.4).</summary>
    private static bool TrySkipName(ReadOnlySpan<byte> message, ref int offset)
    {
        for (int labels = 0; labels < 128 && offset < message.Length; labels++)
        {
            byte length = message[offset];
            if (length == 0) { offset++; return true; }
            if ((length & 0xC0) == 0xC0) { offset += 2; return offset <= message.Length; }
            if ((length & 0xC0) != 0) return false;
            offset += 1 + length;
        }
        return false;
    }
}
