using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>MLD message types (ICMPv6; RFC 2710 §3, RFC 3810 §5).</summary>
internal enum MldType : byte
{
    /// <summary>Multicast listener query (MLDv1 and MLDv2; the length tells which, RFC 3810 §8.1).</summary>
    Query = 130,
    /// <summary>MLDv1 listener report.</summary>
    V1Report = 131,
    /// <summary>MLDv1 listener done.</summary>
    V1Done = 132,
    /// <summary>MLDv2 listener report.</summary>
    V2Report = 143,
}

/// <summary>A listener query as a host reads it: 24 bytes is MLDv1, 28 or more MLDv2, 25–27 malformed (RFC 3810 §8.1).</summary>
/// <param name="Version">1 or 2.</param>
/// <param name="Group">The group asked about; :: for a general query.</param>
/// <param name="MaxResponseTime">How long a listener may wait before answering (RFC 2710 §3.4, RFC 3810 §5.1.3).</param>
/// <param name="SourceCount">For MLDv2, the number of sources of a multicast-address-and-source-specific query.</param>
internal readonly record struct MldQuery(int Version, NetAddress Group, TimeSpan MaxResponseTime, int SourceCount);

/// <summary>MLD (RFC 2710, RFC 3810) as a listener speaks it: queries read, reports and dones written, over spans.</summary>
internal static class MldMessage
{
    /// <summary>The length of an MLDv1 message.</summary>
    public const int V1Length = 24;

    /// <summary>The length of an MLDv2 query without sources.</summary>
    public const int V2QueryLength = 28;

    /// <summary>The length of an MLDv2 multicast address record with no sources and no auxiliary data (RFC 3810 §5.2.4).</summary>
    public const int V2RecordLength = 20;

    /// <summary>
    /// Reads a query from an ICMPv6 message whose checksum was verified (type 130): its length tells the version.
    /// </summary>
    /// <returns><see cref="WireError.None"/>, or <see cref="WireError.BadLength"/> / <see cref="WireError.BadField"/>
    /// (a group that is not multicast or ::).</returns>
    public static WireError TryParseQuery(ReadOnlySpan<byte> message, out MldQuery query)
    {
        query = default;
        if (message.Length < V1Length) return WireError.Truncated;
        var group = NetAddress.ReadV6(message[8..]);
        if (!group.IsUnspecified && !group.IsMulticast) return WireError.BadField;
        ushort code = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        if (message.Length == V1Length)
        {
            query = new MldQuery(1, group, TimeSpan.FromMilliseconds(code), 0);
            return WireError.None;
        }
        if (message.Length < V2QueryLength) return WireError.BadLength;
        int sources = BinaryPrimitives.ReadUInt16BigEndian(message[26..]);
        if (message.Length < V2QueryLength + 16 * sources) return WireError.BadLength;
        query = new MldQuery(2, group, TimeSpan.FromMilliseconds(DecodeCode(code)), sources);
        return WireError.None;
    }

    /// <summary>RFC 3810 §5.1.3: below 32768 milliseconds, else a floating-point form (exp 3 bits, mant 12 bits).</summary>
    internal static int DecodeCode(ushort code) => code < 32768 ? code : (code & 0x0FFF | 0x1000) << ((code >> 12 & 0x07) + 3);

    /// <summary>Writes a 24-byte MLDv1 report or done for <paramref name="group"/> with its checksum.</summary>
    public static int EmitV1(Span<byte> message, MldType type, NetAddress group, NetAddress source, NetAddress destination)
    {
        message[..8].Clear();
        message[0] = (byte)type;
        group.WriteTo(message[8..]);
        Finish(message[..V1Length], source, destination);
        return V1Length;
    }

    /// <summary>Writes an MLDv2 report (RFC 3810 §5.2) of <paramref name="groups"/>, each a record of
    /// <paramref name="recordType"/> with no sources, with its checksum.</summary>
    public static int EmitV2Report(Span<byte> message, GroupRecordType recordType, ReadOnlySpan<NetAddress> groups,
        NetAddress source, NetAddress destination)
    {
        int length = 8 + V2RecordLength * groups.Length;
        message[..8].Clear();
        message[0] = (byte)MldType.V2Report;
        BinaryPrimitives.WriteUInt16BigEndian(message[6..], (ushort)groups.Length);
        for (int i = 0; i < groups.Length; i++)
        {
            Span<byte> record = message.Slice(8 + i * V2RecordLength, V2RecordLength);
            record[0] = (byte)recordType;
            record[1] = 0; // aux data length
            BinaryPrimitives.WriteUInt16BigEndian(record[2..], 0); // number of sources
            groups[i].WriteTo(record[4..]);
        }
        Finish(message[..length], source, destination);
        return length;
    }

    private static void Finish(Span<byte> message, NetAddress source, NetAddress destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], 0);
        uint pseudo = Checksum.PseudoHeader(source, destination, IpProtocol.IcmpV6, message.Length);
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], Checksum.Finish(Checksum.Accumulate(message, pseudo)));
    }
}
