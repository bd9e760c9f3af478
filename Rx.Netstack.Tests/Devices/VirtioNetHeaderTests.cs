using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

/// <summary>The virtio-net header a TUN descriptor with offloads puts before each packet: parsing, emission, malformed input.</summary>
public sealed class VirtioNetHeaderTests
{
    /// <summary>A read as the kernel returns it: header, then a (dummy) IP packet of <paramref name="ipLength"/> bytes.</summary>
    private static byte[] Read(VirtioNetHeader header, int ipLength)
    {
        var read = new byte[VirtioNetHeader.Size + ipLength];
        header.WriteTo(read);
        return read;
    }

    [Fact]
    public void A_tcp_v4_super_packet_header_round_trips_in_little_endian()
    {
        var header = new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, VirtioNetHeader.GsoTcpV4, HeaderLength: 66, GsoSize: 1448,
            ChecksumStart: 20, ChecksumOffset: 16);
        byte[] read = Read(header, 20000);

        Assert.Equal(new byte[] { 1, 1, 66, 0, 0xa8, 0x05, 20, 0, 16, 0 }, read[..VirtioNetHeader.Size]);
        Assert.True(VirtioNetHeader.TryRead(read, out VirtioNetHeader parsed));
        Assert.Equal(header, parsed);
        Assert.True(parsed.IsGso);
    }

    [Fact]
    public void The_plain_header_is_ten_zero_bytes_and_not_gso()
    {
        var bytes = new byte[VirtioNetHeader.Size];
        Array.Fill(bytes, (byte)0xff);
        VirtioNetHeader.Plain.WriteTo(bytes);
        Assert.All(bytes, b => Assert.Equal(0, b));
        Assert.False(VirtioNetHeader.Plain.IsGso);
        Assert.True(VirtioNetHeader.TryRead(Read(VirtioNetHeader.Plain, 40), out VirtioNetHeader parsed));
        Assert.False(parsed.IsGso);
    }

    [Fact]
    public void The_ecn_bit_qualifies_a_gso_type()
    {
        var header = new VirtioNetHeader(0, VirtioNetHeader.GsoTcpV6 | VirtioNetHeader.GsoEcn, 74, 1428, 0, 0);
        Assert.True(VirtioNetHeader.TryRead(Read(header, 3000), out VirtioNetHeader parsed));
        Assert.True(parsed.IsGso);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(10)] // a header and no packet
    public void Reads_too_short_for_a_header_and_a_packet_are_rejected(int length)
    {
        Assert.False(VirtioNetHeader.TryRead(new byte[length], out VirtioNetHeader header));
        Assert.Equal(default, header);
    }

    [Theory]
    [InlineData(2)] // VIRTIO_NET_HDR_GSO_UDP is 3, TCPV4 1, TCPV6 4, UDP_L4 5: 2 means nothing
    [InlineData(6)]
    [InlineData(0x7f)]
    [InlineData(0x80)] // the ECN bit alone
    public void Unknown_gso_types_are_rejected(byte gsoType)
    {
        var header = new VirtioNetHeader(0, gsoType, 54, 1448, 0, 0);
        Assert.False(VirtioNetHeader.TryRead(Read(header, 3000), out _));
    }

    [Fact]
    public void A_super_packet_without_a_segment_size_is_rejected()
    {
        var header = new VirtioNetHeader(0, VirtioNetHeader.GsoTcpV4, 54, 0, 0, 0);
        Assert.False(VirtioNetHeader.TryRead(Read(header, 3000), out _));
    }

    [Theory]
    [InlineData(20, 16, 37, false)] // the checksum field (bytes 36..37) would end past a 37-byte packet
    [InlineData(20, 16, 38, true)]  // just fits
    [InlineData(0xffff, 0xffff, 100, false)]
    public void A_partial_checksum_must_lie_inside_the_packet(ushort start, ushort offset, int ipLength, bool accepted)
    {
        var header = new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, VirtioNetHeader.GsoNone, 0, 0, start, offset);
        Assert.Equal(accepted, VirtioNetHeader.TryRead(Read(header, ipLength), out _));
    }

    [Fact]
    public void Writing_into_a_short_span_throws_instead_of_writing_past_it()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => VirtioNetHeader.Plain.WriteTo(new byte[VirtioNetHeader.Size - 1]));
    }
}
