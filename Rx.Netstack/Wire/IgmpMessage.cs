using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>IGMP message types (RFC 1112, RFC 2236 §2.1, RFC 3376 §4).</summary>
internal enum IgmpType : byte
{
    /// <summary>Membership query (every version; the length and Max Resp field tell which, RFC 3376 §7.1).</summary>
    MembershipQuery = 0x11,
    /// <summary>IGMPv1 membership report.</summary>
    V1Report = 0x12,
    /// <summary>IGMPv2 membership report.</summary>
    V2Report = 0x16,
    /// <summary>IGMPv2 leave group.</summary>
    LeaveGroup = 0x17,
    /// <summary>IGMPv3 membership report.</summary>
    V3Report = 0x22,
}

/// <summary>
/// A membership query as a host reads it (RFC 3376 §4.1, §7.1): an 8-byte query is IGMPv1 (Max Resp Time 0) or IGMPv2; a
/// query of 12 bytes or more is IGMPv3; 9–11 bytes is malformed. Only queries are parsed: a host ignores other hosts' reports.
/// </summary>
/// <param name="Version">1, 2 or 3.</param>
/// <param name="Group">The group asked about; 0.0.0.0 for a general query.</param>
/// <param name="MaxResponseTime">How long a host may wait before answering (RFC 2236 §2.2, RFC 3376 §4.1.1; 10 s for IGMPv1).</param>
/// <param name="SourceCount">For IGMPv3, the number of sources of a group-and-source-specific query.</param>
internal readonly record struct IgmpQuery(int Version, NetAddress Group, TimeSpan MaxResponseTime, int SourceCount);

/// <summary>The kinds of group record in IGMPv3 and MLDv2 reports (RFC 3376 §4.2.12, RFC 3810 §5.2.12).</summary>
internal enum GroupRecordType : byte
{
    /// <summary>MODE_IS_EXCLUDE: the current state, in answer to a query (with no sources: any-source membership).</summary>
    ModeIsExclude = 2,
    /// <summary>CHANGE_TO_INCLUDE_MODE: a state change (with no sources: the host left).</summary>
    ChangeToInclude = 3,
    /// <summary>CHANGE_TO_EXCLUDE_MODE: a state change (with no sources: the host joined).</summary>
    ChangeToExclude = 4,
}

/// <summary>IGMP (RFC 2236, RFC 3376) as a host speaks it: queries are read, reports and leaves written, over spans.</summary>
internal static class IgmpMessage
{
    /// <summary>The length of an IGMPv1/v2 message.</summary>
    public const int V2Length = 8;

    /// <summary>The length of an IGMPv3 query without sources.</summary>
    public const int V3QueryLength = 12;

    /// <summary>The length of an IGMPv3 group record with no sources and no auxiliary data (RFC 3376 §4.2.4).</summary>
    public const int V3RecordLength = 8;

    /// <summary>
    /// Reads an IGMP message: checksum over the whole message (RFC 3376 §4.1.2), then a query's fields. Returns
    /// <see cref="WireError.None"/> with <paramref name="isQuery"/> false for a well-formed message of another type.
    /// </summary>
    public static WireError TryParseQuery(ReadOnlySpan<byte> message, out bool isQuery, out IgmpQuery query)
    {
        isQuery = false;
        query = default;
        if (message.Length < V2Length) return WireError.Truncated;
        if (!Checksum.Verify(message)) return WireError.BadChecksum;
        if (message[0] != (byte)IgmpType.MembershipQuery) return WireError.None;
        var group = NetAddress.ReadV4(message[4..]);
        if (!group.IsUnspecified && !group.IsMulticast) return WireError.BadField;
        byte code = message[1];
        if (message.Length == V2Length)
        {
            // RFC 2236 §4: a Max Response Time of 0 is an IGMPv1 query, answered within 10 s.
            query = code == 0
                ? new IgmpQuery(1, group, TimeSpan.FromSeconds(10), 0)
                : new IgmpQuery(2, group, TimeSpan.FromMilliseconds(code * 100), 0);
            isQuery = true;
            return WireError.None;
        }
        if (message.Length < V3QueryLength) return WireError.BadLength;
        int sources = BinaryPrimitives.ReadUInt16BigEndian(message[10..]);
        if (message.Length < V3QueryLength + 4 * sources) return WireError.BadLength;
        query = new IgmpQuery(3, group, TimeSpan.FromMilliseconds(DecodeCode(code) * 100), sources);
        isQuery = true;
        return WireError.None;
    }

    /// <summary>RFC 3376 §4.1.1: below 128 the value itself, else a floating-point form (exp 3 bits, mant 4 bits).</summary>
    internal static int DecodeCode(byte code) => code < 128 ? code : (code & 0x0F | 0x10) << ((code >> 4 & 0x07) + 3);

    /// <summary>Writes an 8-byte IGMPv1/v2 report or leave for <paramref name="group"/> with its checksum.</summary>
    public static int EmitV2(Span<byte> message, IgmpType type, NetAddress group)
    {
        message[0] = (byte)type;
        message[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], 0);
        group.WriteTo(message[4..]);
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], Checksum.Compute(message[..V2Length]));
        return V2Length;
    }

    /// <summary>
    /// Writes an IGMPv3 report (RFC 3376 §4.2) of <paramref name="groups"/>, each a record of <paramref name="recordType"/> with
    /// no sources (any-source membership: EXCLUDE {}), with its checksum.
    /// </summary>
    public static int EmitV3Report(Span<byte> message, GroupRecordType recordType, ReadOnlySpan<NetAddress> groups)
    {
        int length = 8 + V3RecordLength * groups.Length;
        message[..8].Clear();
        message[0] = (byte)IgmpType.V3Report;
        BinaryPrimitives.WriteUInt16BigEndian(message[6..], (ushort)groups.Length);
        for (int i = 0; i < groups.Length; i++)
        {
            Span<byte> record = message.Slice(8 + i * V3RecordLength, V3RecordLength);
            record[0] = (byte)recordType;
            record[1] = 0; // aux data length
            BinaryPrimitives.WriteUInt16BigEndian(record[2..], 0); // number of sources
            groups[i].WriteTo(record[4..]);
        }
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], Checksum.Compute(message[..length]));
        return length;
    }
}
