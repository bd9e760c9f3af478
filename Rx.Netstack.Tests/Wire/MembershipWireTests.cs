using System.Buffers.Binary;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;

/// <summary>IGMP and MLD as the stack reads and writes them: Max Resp codes, version by length, rejections, hostile bytes.</summary>
public sealed class MembershipWireTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(100, 100)]
    [InlineData(127, 127)]
    [InlineData(0x80, 128)]            // exp 0, mant 0: 0x10 << 3 (RFC 3376 §4.1.1)
    [InlineData(0xFF, 31 << 10)]        // exp 7, mant 15: 0x1F << 10
    public void Igmpv3_max_resp_codes_decode_as_rfc_3376_says(int code, int tenths) =>
        Assert.Equal(tenths, IgmpMessage.DecodeCode((byte)code));

    [Theory]
    [InlineData(1000, 1000)]
    [InlineData(32767, 32767)]
    [InlineData(0x8000, 0x1000 << 3)]   // RFC 3810 §5.1.3
    [InlineData(0xFFFF, 0x1FFF << 10)]
    public void Mldv2_max_resp_codes_decode_as_rfc_3810_says(int code, int milliseconds) =>
        Assert.Equal(milliseconds, MldMessage.DecodeCode((ushort)code));

    private static byte[] Query(int length, byte code, NetAddress group)
    {
        byte[] igmp = new byte[length];
        igmp[0] = (byte)IgmpType.MembershipQuery;
        igmp[1] = code;
        group.WriteTo(igmp.AsSpan(4));
        BinaryPrimitives.WriteUInt16BigEndian(igmp.AsSpan(2), Checksum.Compute(igmp));
        return igmp;
    }

    [Fact]
    public void The_length_and_max_resp_field_tell_the_igmp_version()
    {
        NetAddress group = NetAddress.Parse("239.1.1.1");
        Assert.Equal(WireError.None, IgmpMessage.TryParseQuery(Query(8, 0, group), out bool isQuery, out IgmpQuery q));
        Assert.Equal((true, 1, TimeSpan.FromSeconds(10)), (isQuery, q.Version, q.MaxResponseTime));
        Assert.Equal(WireError.None, IgmpMessage.TryParseQuery(Query(8, 50, group), out _, out q));
        Assert.Equal((2, group, TimeSpan.FromSeconds(5)), (q.Version, q.Group, q.MaxResponseTime));
        Assert.Equal(WireError.None, IgmpMessage.TryParseQuery(Query(12, 100, NetAddress.AnyV4), out _, out q));
        Assert.Equal((3, NetAddress.AnyV4, TimeSpan.FromSeconds(10)), (q.Version, q.Group, q.MaxResponseTime));
        Assert.Equal(WireError.BadLength, IgmpMessage.TryParseQuery(Query(10, 100, group), out _, out _)); // 9–11 bytes (§7.1)
        Assert.Equal(WireError.BadField, IgmpMessage.TryParseQuery(Query(8, 10, NetAddress.Parse("10.0.0.1")), out _, out _));
        byte[] sources = Query(12, 10, group);
        sources[11] = 2; // two sources announced, none present
        BinaryPrimitives.WriteUInt16BigEndian(sources.AsSpan(2), 0);
        BinaryPrimitives.WriteUInt16BigEndian(sources.AsSpan(2), Checksum.Compute(sources));
        Assert.Equal(WireError.BadLength, IgmpMessage.TryParseQuery(sources, out _, out _));
        byte[] corrupt = Query(8, 10, group);
        corrupt[7] ^= 1;
        Assert.Equal(WireError.BadChecksum, IgmpMessage.TryParseQuery(corrupt, out _, out _));
    }

    [Fact]
    public void Reports_are_written_with_their_records_and_a_valid_checksum()
    {
        NetAddress[] groups = [NetAddress.Parse("239.1.1.1"), NetAddress.Parse("239.2.2.2")];
        byte[] igmp = new byte[64];
        int length = IgmpMessage.EmitV3Report(igmp, GroupRecordType.ChangeToExclude, groups);
        Assert.Equal(8 + 2 * 8, length);
        Assert.True(Checksum.Verify(igmp.AsSpan(0, length)));
        Assert.Equal((0x22, 2, 4, groups[1]), (igmp[0], BinaryPrimitives.ReadUInt16BigEndian(igmp.AsSpan(6)), igmp[16], NetAddress.ReadV4(igmp.AsSpan(20))));

        NetAddress source = NetAddress.Parse("fe80::1"), destination = NetAddress.Parse("ff02::16"), group6 = NetAddress.Parse("ff05::1");
        byte[] mld = new byte[64];
        length = MldMessage.EmitV2Report(mld, GroupRecordType.ModeIsExclude, [group6], source, destination);
        Assert.Equal(28, length);
        Assert.Equal(WireError.None, IcmpHeader.TryParseV6(mld.AsSpan(0, length), source, destination, out IcmpHeader header, out _));
        Assert.Equal((143, 2, group6), (header.Type, mld[8], NetAddress.ReadV6(mld.AsSpan(12))));
    }

    [Fact]
    public void Hostile_bytes_never_throw_from_the_igmp_and_mld_readers()
    {
        var random = new Random(19);
        int accepted = 0;
        for (int i = 0; i < 50_000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            if (bytes.Length >= 8 && random.Next(2) == 0)
            {
                bytes[0] = (byte)IgmpType.MembershipQuery;
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), 0);
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), Checksum.Compute(bytes));
            }
            if (IgmpMessage.TryParseQuery(bytes, out bool isQuery, out IgmpQuery q) == WireError.None && isQuery)
            {
                accepted++;
                Assert.InRange(q.Version, 1, 3);
                Assert.True(q.Group.IsUnspecified || q.Group.IsMulticast);
            }
            if (MldMessage.TryParseQuery(bytes, out MldQuery m) == WireError.None)
                Assert.True(m.Version is 1 or 2 && (m.Group.IsUnspecified || m.Group.IsMulticast));
        }
        Assert.True(accepted > 0, "no well-formed query was among the hostile bytes");
    }
}
