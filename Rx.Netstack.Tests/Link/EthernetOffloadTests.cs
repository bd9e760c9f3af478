using System.Buffers.Binary;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Link;
using Rx.Netstack.Tests.Devices;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>
/// Offloads on Ethernet, as a TAP device with virtio-net headers offers them: two stacks on an Ethernet pipe that finishes
/// checksums and carries TCP super-segments whole (a veth pair would). After neighbour resolution the sender writes one
/// Ethernet header and a TCP super-segment of whole MSS-sized segments; the receiver takes the super-frame as the train of
/// segments it stands for. Each super-frame is what a TAP device hands the kernel: the virtio-net header planned for it names
/// the right GSO type, sizes and offsets, and the checksum the kernel finishes from the seed is the full one.
/// </summary>
public sealed class EthernetOffloadTests
{
    private const int Mtu = 1500, UntaggedFrame = 14 + Mtu;

    private static StackPair OffloadingPair(int? vlan = null) => new(
        configure: o => o with { Ethernet = o.Ethernet with { VlanId = vlan } },
        checksumOffload: ChecksumOffload.Both, segmentationOffload: true, medium: LinkMedium.Ethernet);

    /// <summary>Past duplicate address detection of the IPv6 addresses (one probe, one second).</summary>
    private static void PastDad(StackPair pair) => pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1100).Ticks);

    /// <summary>Copies of the frames a device delivers to its stack (the pipe's far end), beside the stack's own subscription.</summary>
    private static List<byte[]> Watch(PipeDevice device)
    {
        var frames = new List<byte[]>();
        device.Received.Subscribe(frame => frames.Add(frame.ToArray()));
        return frames;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tcp_crosses_both_ways_in_super_frames_and_arrives_intact(bool v6)
    {
        using var pair = OffloadingPair();
        List<byte[]> toB = Watch(pair.DeviceB), toA = Watch(pair.DeviceA);
        PastDad(pair);
        var (client, server) = pair.ConnectTcp(v6: v6);
        byte[] data = Enumerable.Range(0, 1 << 20).Select(i => (byte)(i * 31)).ToArray();
        Task write = pair.Scheduler.StartInVirtualTime(() => client.SendAsync(data));
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Scheduler.Await(write);
        Task back = pair.Scheduler.StartInVirtualTime(() => server.SendAsync(data.AsMemory(0, 200_000)));
        Assert.Equal(data.AsSpan(0, 200_000).ToArray(), pair.ReadExactly(client, 200_000));
        pair.Scheduler.Await(back);

        Assert.Contains(toB, f => f.Length > UntaggedFrame);
        Assert.Contains(toA, f => f.Length > UntaggedFrame);
        Assert.All(toB.Concat(toA), f => Assert.True(f.Length <= 14 + 40 + 65535, $"{f.Length}-byte frame"));
        Assert.Equal(0, pair.DeviceA.Dropped + pair.DeviceB.Dropped);
        Assert.Equal(0, pair.A.GetStats().TcpRetransmissions);
        // Nothing dropped but the other stack's MLD reports (for groups this one did not join).
        Assert.Empty(pair.B.GetStats().Drops.Where(d => d.Key != DropReason.MulticastNotJoined));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Each_super_frame_gets_the_virtio_header_a_tap_device_needs_and_the_kernel_finishes_the_full_checksum(bool v6)
    {
        using var pair = OffloadingPair();
        List<byte[]> toB = Watch(pair.DeviceB);
        PastDad(pair);
        var (client, server) = pair.ConnectTcp(v6: v6);
        byte[] data = new byte[300_000];
        new Random(5).NextBytes(data);
        Task write = pair.Scheduler.StartInVirtualTime(() => client.SendAsync(data));
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Scheduler.Await(write);

        List<byte[]> super = [.. toB.Where(f => f.Length > UntaggedFrame)];
        Assert.NotEmpty(super);
        NetAddress source = v6 ? StackPair.A6 : StackPair.A4, destination = v6 ? StackPair.B6 : StackPair.B4;
        foreach (byte[] frame in super)
        {
            // One Ethernet header, to the neighbour resolved, untagged.
            Assert.Equal(WireError.None, EthernetHeader.TryParse(frame, out EthernetHeader ethernet, out _));
            Assert.Equal(pair.B.MacAddress, ethernet.Destination);
            Assert.Equal(pair.A.MacAddress, ethernet.Source);
            Assert.Null(ethernet.VlanId);
            int ipStart = TapDevice.IpStart(frame);
            Assert.Equal(14, ipStart);
            int ipLength = v6 ? 40 : 20;
            Assert.Equal(frame.Length - 14, v6 ? 40 + BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(18)) : BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(16)));

            // What TapDevice writes before it: a partial checksum and TCP GSO with gso_size = one segment's payload.
            Assert.True(PartialChecksum.TryPlan(frame, ipStart, out VirtioNetHeader partial, out int prefixLength, out ushort seed));
            Assert.True(TcpSegmentation.TryPlan(frame, ipStart, Mtu, partial, out VirtioNetHeader gso));
            int tcpStart = 14 + ipLength, tcpHeaderLength = (frame[tcpStart + 12] >> 4) * 4;
            Assert.Equal(v6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4, gso.GsoType);
            Assert.Equal(tcpStart, gso.ChecksumStart);
            Assert.Equal(16, gso.ChecksumOffset);
            Assert.Equal(tcpStart + tcpHeaderLength, gso.HeaderLength);
            Assert.Equal(Mtu - ipLength - tcpHeaderLength, gso.GsoSize);
            // Whole segments only: every piece the kernel cuts but the last is full, and the stack's MSS is the piece.
            int payload = frame.Length - gso.HeaderLength;
            Assert.Equal(0, payload % gso.GsoSize);

            // The kernel finishes the checksum from the seed over the bytes from csum_start: the full checksum of the segment.
            byte[] finished = (byte[])frame.Clone();
            BinaryPrimitives.WriteUInt16BigEndian(finished.AsSpan(prefixLength - 2), seed);
            ushort sum = TestPackets.InternetChecksum(finished.AsSpan(gso.ChecksumStart));
            BinaryPrimitives.WriteUInt16BigEndian(finished.AsSpan(prefixLength - 2), sum);
            Assert.Equal(WireError.None, TcpHeader.TryParse(finished.AsSpan(tcpStart), source, destination, out _, out ReadOnlySpan<byte> bytes, verifyChecksum: true));
            Assert.Equal(payload, bytes.Length);
        }
    }

    [Fact]
    public void With_an_8021q_tag_no_super_segment_is_sent_and_tcp_still_crosses()
    {
        using var pair = OffloadingPair(vlan: 42);
        List<byte[]> toB = Watch(pair.DeviceB);
        var (client, server) = pair.ConnectTcp();
        byte[] data = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray();
        Task write = pair.Scheduler.StartInVirtualTime(() => client.SendAsync(data));
        Assert.Equal(data, pair.ReadExactly(server, data.Length));
        pair.Scheduler.Await(write);
        Assert.All(toB, f => Assert.True(f.Length <= 18 + Mtu, $"{f.Length}-byte frame"));
        Assert.Contains(toB, f => f.Length == 18 + Mtu);
    }
}
