using Rx.Netstack.Devices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Devices;

/// <summary>A real TAP interface inside a network namespace the test creates: its offloads, and reads the kernel never makes.</summary>
public sealed class TapDeviceTests
{
    private static readonly MacAddress Ours = MacAddress.Parse("02:00:00:00:00:01"), Theirs = MacAddress.Parse("02:00:00:00:00:02");

    [NamespaceFact]
    public void With_offloads_the_device_reports_checksum_and_segmentation_offload_and_without_none()
    {
        using var ns = NetworkNamespace.Create();
        using (var tap = ns.Run(() => TapDevice.Open("rxtapt0")))
        {
            Assert.True(tap.Offloads, tap.OffloadsOffReason);
            Assert.Null(tap.OffloadsOffReason);
            Assert.Equal(ChecksumOffload.Both, ((IPacketDevice)tap).ChecksumOffload);
            Assert.True(((IPacketDevice)tap).TcpSegmentationOffload);
            Assert.Equal(LinkMedium.Ethernet, ((IPacketDevice)tap).Medium);
        }
        using (var plain = ns.Run(() => TapDevice.Open("rxtapt1", offloads: false)))
        {
            Assert.False(plain.Offloads);
            Assert.Contains("not requested", plain.OffloadsOffReason);
            Assert.Equal(ChecksumOffload.None, ((IPacketDevice)plain).ChecksumOffload);
            Assert.False(((IPacketDevice)plain).TcpSegmentationOffload);
        }
    }

    [NamespaceFact]
    public void With_offloads_a_read_with_a_short_or_malformed_header_is_a_counted_drop_and_a_super_frame_arrives_whole()
    {
        using var ns = NetworkNamespace.Create();
        using var tap = ns.Run(() => TapDevice.Open("rxtapt2"));
        Assert.True(tap.Offloads, tap.OffloadsOffReason);
        var frames = new List<byte[]>();
        using var subscription = tap.Received.Subscribe(frame => frames.Add(frame.ToArray()));
        byte[] superFrame = SuperFrame(payload: 10 * 1448);

        tap.Deliver(new byte[4], 4);                                       // shorter than the header
        tap.Deliver(new byte[VirtioNetHeader.Size], VirtioNetHeader.Size); // a header and no frame
        Deliver(tap, Read(new VirtioNetHeader(0, 2, 0, 0, 0, 0), superFrame));          // no such GSO type
        Deliver(tap, Read(new VirtioNetHeader(0, VirtioNetHeader.GsoTcpV4, 66, 0, 34, 16), superFrame)); // GSO without a segment size
        Deliver(tap, Read(new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, 0, 0, 0, (ushort)(superFrame.Length - 10), 16), superFrame)); // checksum field past the end
        Deliver(tap, Read(new VirtioNetHeader(0, VirtioNetHeader.GsoNone | VirtioNetHeader.GsoEcn, 0, 0, 0, 0), superFrame)); // ECN without GSO
        Assert.Equal(6, tap.ReceiveDropped);
        Assert.Empty(frames);
        Assert.Equal(0, tap.GsoPacketsReceived);

        // What the kernel hands over for a bridged TCP sender's 14,480 bytes: one frame, partial checksum, gso_size 1448.
        byte[] read = Read(new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, VirtioNetHeader.GsoTcpV4, 66, 1448, 34, 16), superFrame);
        tap.Deliver(read, read.Length);
        Assert.Equal(superFrame, Assert.Single(frames)); // the header stripped, the frame delivered whole
        Assert.Equal(1, tap.GsoPacketsReceived);
        Assert.Equal(6, tap.ReceiveDropped);
    }

    [NamespaceFact]
    public void A_frame_the_kernel_neither_checked_nor_left_partial_has_its_checksum_checked_by_the_device()
    {
        using var ns = NetworkNamespace.Create();
        using var tap = ns.Run(() => TapDevice.Open("rxtapt3"));
        var frames = new List<byte[]>();
        using var subscription = tap.Received.Subscribe(frame => frames.Add(frame.ToArray()));
        byte[] good = Segment(payload: 100, computeChecksum: true);
        byte[] bad = (byte[])good.Clone();
        bad[^1] ^= 0x40;

        Deliver(tap, Read(VirtioNetHeader.Plain, bad));
        Assert.Equal(1, tap.ReceiveDropped);
        Assert.Empty(frames);
        Deliver(tap, Read(VirtioNetHeader.Plain, good));
        Assert.Equal(good, Assert.Single(frames));
        // Checked by the kernel (DATA_VALID) or partial (NEEDS_CSUM): trusted, as the device reports receive offload.
        Deliver(tap, Read(new VirtioNetHeader(VirtioNetHeader.FlagDataValid, 0, 0, 0, 0, 0), bad));
        Assert.Equal(2, frames.Count);
        Assert.Equal(1, tap.ReceiveDropped);
    }

    [Fact]
    public void The_transport_checksum_check_fails_only_a_wrong_tcp_or_udp_checksum()
    {
        byte[] tcp = Segment(payload: 101, computeChecksum: true);
        Assert.True(TapDevice.TransportChecksumHolds(tcp));
        byte[] wrong = (byte[])tcp.Clone();
        wrong[^3] ^= 1;
        Assert.False(TapDevice.TransportChecksumHolds(wrong));
        byte[] fragment = (byte[])wrong.Clone();
        fragment[14 + 6] |= 0x20; // MF: checked after reassembly, not here
        Assert.True(TapDevice.TransportChecksumHolds(fragment));
        byte[] arp = new byte[42];
        arp[12] = 0x08; arp[13] = 0x06;
        Assert.True(TapDevice.TransportChecksumHolds(arp));

        NetAddress v6a = NetAddress.Parse("fd00::1"), v6b = NetAddress.Parse("fd00::2");
        byte[] udp6 = new byte[14 + 40 + 8 + 5];
        EthernetHeader.Emit(udp6, new EthernetHeader(Ours, Theirs, EtherType.Ipv6));
        int length = UdpHeader.Emit(udp6.AsSpan(54), new UdpHeader(1, 2), 5, v6a, v6b);
        Ipv6Header.Emit(udp6.AsSpan(14), new Ipv6Header(v6a, v6b, IpProtocol.Udp), length);
        Assert.True(TapDevice.TransportChecksumHolds(udp6));
        udp6[54 + 6] = udp6[54 + 7] = 0; // RFC 8200 §8.1: IPv6 UDP must carry a checksum
        Assert.False(TapDevice.TransportChecksumHolds(udp6));
    }

    private static void Deliver(TapDevice tap, byte[] read) => tap.Deliver(read, read.Length);

    /// <summary>A virtio-net header and a frame, as one read() returns them.</summary>
    private static byte[] Read(VirtioNetHeader header, byte[] frame)
    {
        byte[] read = new byte[VirtioNetHeader.Size + frame.Length];
        header.WriteTo(read);
        frame.CopyTo(read, VirtioNetHeader.Size);
        return read;
    }

    /// <summary>An Ethernet frame carrying one IPv4 TCP segment (timestamps) with <paramref name="payload"/> bytes.</summary>
    private static byte[] SuperFrame(int payload) => Segment(payload, computeChecksum: false);

    /// <summary>The same, its TCP checksum computed or left zero (as a partial one would be read here).</summary>
    private static byte[] Segment(int payload, bool computeChecksum)
    {
        NetAddress source = NetAddress.Parse("10.0.0.2"), destination = NetAddress.Parse("10.0.0.1");
        var header = new TcpHeader(40000, 7, TcpFlags.Ack) { Sequence = new SeqNumber(1), Acknowledgment = new SeqNumber(1), Window = 1000, HasTimestamps = true, TimestampValue = 1 };
        byte[] frame = new byte[14 + 20 + 60 + payload];
        EthernetHeader.Emit(frame, new EthernetHeader(Ours, Theirs, EtherType.Ipv4));
        new Random(payload).NextBytes(frame.AsSpan(34 + 32, payload));
        int length = TcpHeader.Emit(frame.AsSpan(34), header, payload, source, destination, computeChecksum);
        Ipv4Header.Emit(frame.AsSpan(14), new Ipv4Header(source, destination, IpProtocol.Tcp), length);
        return frame[..(34 + length)];
    }
}
