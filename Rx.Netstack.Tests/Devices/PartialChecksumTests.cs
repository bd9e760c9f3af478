using System.Buffers.Binary;
using Rx.Netstack.Devices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Devices;

/// <summary>
/// Transmit checksum offload over TUN: for a TCP/UDP packet the stack left without checksum, the seed written into the field
/// and the virtio-net header must let the kernel finish exactly the checksum the stack would have computed.
/// </summary>
public sealed class PartialChecksumTests
{
    private static readonly NetAddress V4Source = NetAddress.Parse("10.1.2.3"), V4Destination = NetAddress.Parse("10.9.8.7");
    private static readonly NetAddress V6Source = NetAddress.Parse("fd00::1"), V6Destination = NetAddress.Parse("fd00::2:3");

    /// <summary>An IP packet carrying a TCP or UDP segment with its checksum computed by the stack's own emitters.</summary>
    private static byte[] Packet(bool v6, IpProtocol protocol, int payloadLength, bool fragment = false)
    {
        NetAddress source = v6 ? V6Source : V4Source, destination = v6 ? V6Destination : V4Destination;
        int ipLength = v6 ? (fragment ? 48 : 40) : 20;
        var packet = new byte[ipLength + 60 + payloadLength];
        new Random(payloadLength).NextBytes(packet.AsSpan(ipLength + (protocol == IpProtocol.Tcp ? 20 : 8), payloadLength));
        Span<byte> transport = packet.AsSpan(ipLength);
        int length = protocol == IpProtocol.Tcp
            ? Rx.Netstack.Wire.TcpHeader.Emit(transport, new TcpHeader(40000, 80, TcpFlags.Ack | TcpFlags.Psh) { Sequence = new SeqNumber(7), Acknowledgment = new SeqNumber(9), Window = 1000 },
                payloadLength, source, destination)
            : Rx.Netstack.Wire.UdpHeader.Emit(transport, new UdpHeader(5353, 53), payloadLength, source, destination);
        if (v6) Ipv6Header.Emit(packet, new Ipv6Header(source, destination, protocol, HasFragmentHeader: fragment, MoreFragments: fragment), length);
        else Ipv4Header.Emit(packet, new Ipv4Header(source, destination, protocol, MoreFragments: fragment), length);
        return packet[..(ipLength + length)];
    }

    private static int ChecksumAt(bool v6, IpProtocol protocol) => (v6 ? 40 : 20) + (protocol == IpProtocol.Tcp ? 16 : 6);

    [Theory]
    [InlineData(false, IpProtocol.Tcp, 1448)]
    [InlineData(false, IpProtocol.Tcp, 0)]
    [InlineData(false, IpProtocol.Udp, 1001)] // odd length: the kernel pads the last byte with zero, as RFC 1071 does
    [InlineData(true, IpProtocol.Tcp, 1428)]
    [InlineData(true, IpProtocol.Udp, 33)]
    public void The_kernel_finishing_from_the_seed_gets_the_checksum_the_stack_would_have_written(bool v6, IpProtocol protocol, int payloadLength)
    {
        byte[] packet = Packet(v6, protocol, payloadLength);
        int at = ChecksumAt(v6, protocol);
        ushort computed = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(at));
        packet[at] = packet[at + 1] = 0; // what the stack emits with ChecksumOffload.Transmit

        Assert.True(PartialChecksum.TryPlan(packet, out VirtioNetHeader header, out int prefixLength, out ushort seed));
        Assert.Equal(VirtioNetHeader.FlagNeedsChecksum, header.Flags);
        Assert.Equal(VirtioNetHeader.GsoNone, header.GsoType);
        Assert.Equal(v6 ? 40 : 20, header.ChecksumStart);
        Assert.Equal(protocol == IpProtocol.Tcp ? 16 : 6, header.ChecksumOffset);
        Assert.Equal(at + 2, prefixLength);
        Assert.True(prefixLength <= PartialChecksum.MaxPrefixLength);

        // What skb_checksum_help does: sum from csum_start to the end with the seed in the field, complement, store.
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(at), seed);
        ushort finished = TestPackets.InternetChecksum(packet.AsSpan(header.ChecksumStart));
        if (protocol == IpProtocol.Udp && finished == 0) finished = 0xffff;
        Assert.Equal(computed, finished);
    }

    [Theory]
    [InlineData(false, IpProtocol.Tcp, null)]
    [InlineData(true, IpProtocol.Tcp, null)]
    [InlineData(false, IpProtocol.Udp, 100)] // an 802.1Q tag: four bytes more before the IP packet
    [InlineData(true, IpProtocol.Udp, 100)]
    public void In_a_tap_frame_csum_start_counts_from_the_ethernet_header_and_the_kernel_finishes_the_same_checksum(bool v6, IpProtocol protocol, int? vlan)
    {
        byte[] packet = Packet(v6, protocol, 999);
        var ethernet = new EthernetHeader(MacAddress.Parse("02:00:00:00:00:02"), MacAddress.Parse("02:00:00:00:00:01"), v6 ? EtherType.Ipv6 : EtherType.Ipv4, vlan);
        byte[] frame = new byte[ethernet.Length + packet.Length];
        EthernetHeader.Emit(frame, ethernet);
        packet.CopyTo(frame, ethernet.Length);
        int ipStart = TapDevice.IpStart(frame);
        Assert.Equal(vlan is null ? 14 : 18, ipStart);
        int at = ipStart + ChecksumAt(v6, protocol);
        ushort computed = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(at));
        frame[at] = frame[at + 1] = 0;

        Assert.True(PartialChecksum.TryPlan(frame, ipStart, out VirtioNetHeader header, out int prefixLength, out ushort seed));
        Assert.Equal(ipStart + (v6 ? 40 : 20), header.ChecksumStart);
        Assert.Equal(at + 2, prefixLength);
        Assert.True(prefixLength <= PartialChecksum.MaxPrefixLength);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(at), seed);
        ushort finished = TestPackets.InternetChecksum(frame.AsSpan(header.ChecksumStart));
        if (protocol == IpProtocol.Udp && finished == 0) finished = 0xffff;
        Assert.Equal(computed, finished);
    }

    [Fact]
    public void A_frame_without_an_ip_packet_has_no_ip_start()
    {
        byte[] arp = new byte[42];
        arp[12] = 0x08; arp[13] = 0x06;
        Assert.Equal(-1, TapDevice.IpStart(arp));
        Assert.Equal(-1, TapDevice.IpStart(new byte[13]));
        byte[] tagged = new byte[17];
        tagged[12] = 0x81; tagged[13] = 0x00;
        Assert.Equal(-1, TapDevice.IpStart(tagged)); // a tag and no room for the inner type
    }

    [Fact]
    public void A_packet_that_already_has_its_checksum_goes_out_as_it_is()
    {
        Assert.False(PartialChecksum.TryPlan(Packet(false, IpProtocol.Tcp, 100), out _, out _, out _));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fragments_are_not_planned_for(bool v6)
    {
        byte[] packet = Packet(v6, IpProtocol.Udp, 200, fragment: true);
        int at = (v6 ? 48 : 20) + 6;
        packet[at] = packet[at + 1] = 0;
        Assert.False(PartialChecksum.TryPlan(packet, out _, out _, out _));
    }

    [Fact]
    public void Icmp_and_truncated_or_unknown_packets_are_not_planned_for()
    {
        byte[] icmp = Packet(false, IpProtocol.Udp, 20);
        icmp[9] = 1;
        Assert.False(PartialChecksum.TryPlan(icmp, out _, out _, out _));

        byte[] tcp = Packet(false, IpProtocol.Tcp, 100);
        tcp[36] = tcp[37] = 0;
        Assert.False(PartialChecksum.TryPlan(tcp.AsSpan(0, 30), out _, out _, out _)); // shorter than its total length
        Assert.False(PartialChecksum.TryPlan(new byte[10], out _, out _, out _));
        byte[] version5 = (byte[])tcp.Clone();
        version5[0] = 0x55;
        Assert.False(PartialChecksum.TryPlan(version5, out _, out _, out _));
    }
}
