using Rx.Netstack.Devices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Devices;

/// <summary>
/// Transmit TSO over TUN: the virtio-net header of a TCP super-segment must name its IP version, the payload of each piece
/// (MTU − IP header − TCP header with options), the header bytes and the partial checksum; anything else gets no GSO.
/// </summary>
public sealed class TcpSegmentationTests
{
    private static readonly NetAddress V4Source = NetAddress.Parse("10.1.2.3"), V4Destination = NetAddress.Parse("10.9.8.7");
    private static readonly NetAddress V6Source = NetAddress.Parse("fd00::1"), V6Destination = NetAddress.Parse("fd00::2:3");

    /// <summary>A TCP packet as the stack emits it with transmit checksum offload (checksum field zero).</summary>
    private static byte[] TcpPacket(bool v6, int payloadLength, bool timestamps, TcpFlags extra = 0)
    {
        NetAddress source = v6 ? V6Source : V4Source, destination = v6 ? V6Destination : V4Destination;
        int ipLength = v6 ? 40 : 20;
        var header = new TcpHeader(40000, 80, TcpFlags.Ack | extra) { Sequence = new SeqNumber(7), Acknowledgment = new SeqNumber(9), Window = 1000 };
        if (timestamps)
        {
            header.HasTimestamps = true;
            header.TimestampValue = 1;
            header.TimestampEcho = 2;
        }
        var packet = new byte[ipLength + 60 + payloadLength];
        int length = Rx.Netstack.Wire.TcpHeader.Emit(packet.AsSpan(ipLength), header, payloadLength, source, destination, computeChecksum: false);
        if (v6) Ipv6Header.Emit(packet, new Ipv6Header(source, destination, IpProtocol.Tcp), length);
        else Ipv4Header.Emit(packet, new Ipv4Header(source, destination, IpProtocol.Tcp), length);
        return packet[..(ipLength + length)];
    }

    [Theory]
    [InlineData(false, true, 1448, 52)]  // IPv4, timestamps: 20 + 32 header bytes
    [InlineData(false, false, 1460, 40)]
    [InlineData(true, true, 1428, 72)]   // IPv6, timestamps: 40 + 32
    [InlineData(true, false, 1440, 60)]
    public void A_super_segment_gets_the_gso_type_segment_size_and_header_length(bool v6, bool timestamps, int segment, int headers)
    {
        byte[] packet = TcpPacket(v6, 3 * segment + 100, timestamps);
        Assert.True(PartialChecksum.TryPlan(packet, out VirtioNetHeader partial, out _, out _));

        Assert.True(TcpSegmentation.TryPlan(packet, 1500, partial, out VirtioNetHeader header));
        Assert.Equal(v6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4, header.GsoType);
        Assert.Equal(segment, header.GsoSize);
        Assert.Equal(headers, header.HeaderLength);
        Assert.Equal(VirtioNetHeader.FlagNeedsChecksum, header.Flags);
        Assert.Equal(v6 ? 40 : 20, header.ChecksumStart);
        Assert.Equal(16, header.ChecksumOffset);
        Assert.True(header.IsGso);
        // Each piece the kernel cuts is one full-sized packet.
        Assert.Equal(1500, header.HeaderLength + header.GsoSize);

        // What the kernel checks when it reads the header back (VirtioNetHeader.TryRead mirrors it).
        var written = new byte[VirtioNetHeader.Size + packet.Length];
        header.WriteTo(written);
        packet.CopyTo(written, VirtioNetHeader.Size);
        Assert.True(VirtioNetHeader.TryRead(written, out VirtioNetHeader read));
        Assert.Equal(header, read);
    }

    [Theory]
    [InlineData(false, 1448, 66)] // 14 + 20 + 32
    [InlineData(true, 1428, 86)]  // 14 + 40 + 32
    public void In_a_tap_frame_hdr_len_counts_the_ethernet_header_and_gso_size_only_the_ip_packets_room(bool v6, int segment, int headers)
    {
        byte[] packet = TcpPacket(v6, 5 * segment, timestamps: true);
        var ethernet = new EthernetHeader(MacAddress.Parse("02:00:00:00:00:02"), MacAddress.Parse("02:00:00:00:00:01"), v6 ? EtherType.Ipv6 : EtherType.Ipv4);
        byte[] frame = new byte[14 + packet.Length];
        EthernetHeader.Emit(frame, ethernet);
        packet.CopyTo(frame, 14);
        Assert.True(PartialChecksum.TryPlan(frame, 14, out VirtioNetHeader partial, out _, out _));

        Assert.True(TcpSegmentation.TryPlan(frame, 14, 1500, partial, out VirtioNetHeader header));
        Assert.Equal(v6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4, header.GsoType);
        Assert.Equal(segment, header.GsoSize);
        Assert.Equal(headers, header.HeaderLength);
        Assert.Equal(14 + (v6 ? 40 : 20), header.ChecksumStart);
        // Each piece: the Ethernet header and a full-sized (MTU) IP packet.
        Assert.Equal(14 + 1500, header.HeaderLength + header.GsoSize);

        var written = new byte[VirtioNetHeader.Size + frame.Length];
        header.WriteTo(written);
        frame.CopyTo(written, VirtioNetHeader.Size);
        Assert.True(VirtioNetHeader.TryRead(written, out VirtioNetHeader read));
        Assert.Equal(header, read);

        // The same packet in a frame that fits the MTU gets no GSO.
        Assert.False(TcpSegmentation.TryPlan(frame.AsSpan(0, 14 + 1500), 14, 1500, partial, out _));
    }

    [Fact]
    public void A_segment_carrying_cwr_is_marked_ecn_as_linux_marks_it()
    {
        byte[] packet = TcpPacket(v6: false, 5000, timestamps: false, TcpFlags.Cwr);
        Assert.True(PartialChecksum.TryPlan(packet, out VirtioNetHeader partial, out _, out _));
        Assert.True(TcpSegmentation.TryPlan(packet, 1500, partial, out VirtioNetHeader header));
        Assert.Equal(VirtioNetHeader.GsoTcpV4 | VirtioNetHeader.GsoEcn, header.GsoType);
    }

    [Fact]
    public void A_tcp_packet_that_fits_the_mtu_or_a_udp_packet_gets_no_gso()
    {
        byte[] fits = TcpPacket(v6: false, 1460, timestamps: false);
        Assert.True(PartialChecksum.TryPlan(fits, out VirtioNetHeader partial, out _, out _));
        Assert.False(TcpSegmentation.TryPlan(fits, 1500, partial, out _));

        var udp = new byte[20 + 8 + 3000];
        int length = Rx.Netstack.Wire.UdpHeader.Emit(udp.AsSpan(20), new UdpHeader(5353, 53), 3000, V4Source, V4Destination, computeChecksum: false);
        Ipv4Header.Emit(udp, new Ipv4Header(V4Source, V4Destination, IpProtocol.Udp), length);
        Assert.True(PartialChecksum.TryPlan(udp, out partial, out _, out _));
        Assert.False(TcpSegmentation.TryPlan(udp, 1500, partial, out _));
    }
}
