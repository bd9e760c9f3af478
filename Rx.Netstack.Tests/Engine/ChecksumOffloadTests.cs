using System.Buffers.Binary;
using System.Net;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Devices;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A device's <see cref="ChecksumOffload"/>: with Transmit the stack leaves TCP/UDP checksums zero, with Receive it accepts
/// frames without checking them; without either (the default) a bad checksum is a counted drop.
/// </summary>
public sealed class ChecksumOffloadTests
{
    private static readonly IPAddress Peer = IPAddress.Parse("10.0.0.9"), Us = IPAddress.Parse("10.0.0.1");

    private static (Netstack Stack, ManualDevice Device, TestScheduler Scheduler) StackOn(ChecksumOffload offload)
    {
        var s = new TestScheduler();
        var stack = new Netstack(new NetstackOptions { Addresses = [new(NetAddress.Parse("10.0.0.1"), 24)], RunContinuationsInline = true }, s);
        var device = new ManualDevice { ChecksumOffload = offload };
        stack.Attach(device);
        return (stack, device, s);
    }

    private static byte[] DatagramWithBadChecksum()
    {
        byte[] packet = TestPackets.Udp4(Peer, 4000, Us, 7000, "corrupt?"u8);
        packet[20 + 6] ^= 0x5a; // the UDP checksum no longer matches
        return packet;
    }

    [Fact]
    public void Without_offload_a_datagram_with_a_bad_checksum_is_dropped_and_counted()
    {
        var (stack, device, s) = StackOn(ChecksumOffload.None);
        using var _ = stack;
        UdpSocket socket = s.Await(stack.BindUdpAsync(7000));
        Task<Datagram> receive = socket.ReceiveAsync();

        device.Inject(DatagramWithBadChecksum());
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);

        Assert.False(receive.IsCompleted);
        Assert.Equal(1, stack.GetStats().Drops[DropReason.UdpMalformed]);
    }

    [Fact]
    public void With_receive_offload_the_link_vouches_for_the_datagram_and_it_is_delivered()
    {
        var (stack, device, s) = StackOn(ChecksumOffload.Receive);
        using var _ = stack;
        UdpSocket socket = s.Await(stack.BindUdpAsync(7000));
        Task<Datagram> receive = socket.ReceiveAsync();

        device.Inject(DatagramWithBadChecksum());
        Datagram datagram = s.Await(receive);

        Assert.Equal("corrupt?"u8.ToArray(), datagram.Data.ToArray());
        Assert.False(stack.GetStats().Drops.ContainsKey(DropReason.UdpMalformed));
    }

    [Theory]
    [InlineData(ChecksumOffload.None)]
    [InlineData(ChecksumOffload.Transmit)]
    public void With_transmit_offload_udp_leaves_the_checksum_zero_and_otherwise_computes_it(ChecksumOffload offload)
    {
        var (stack, device, s) = StackOn(offload);
        using var _ = stack;
        UdpSocket socket = s.Await(stack.BindUdpAsync(7000));
        s.Await(socket.SendAsync("hello"u8.ToArray(), new NetEndpoint(NetAddress.Parse("10.0.0.9"), 4000)));

        byte[] sent = Assert.Single(device.Sent);
        ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(20 + 6));
        if (offload == ChecksumOffload.Transmit) Assert.Equal(0, checksum);
        else
        {
            Assert.NotEqual(0, checksum);
            Assert.NotNull(TestPackets.ParseUdp4(sent)); // an independent parser agrees with the checksum
        }
    }

    [Fact]
    public void With_transmit_offload_a_datagram_that_leaves_in_fragments_still_carries_its_checksum()
    {
        // No device can finish a checksum that lies in the first fragment and covers the others.
        var (stack, device, s) = StackOn(ChecksumOffload.Transmit);
        using var _ = stack;
        UdpSocket socket = s.Await(stack.BindUdpAsync(7000));
        byte[] payload = new byte[3000];
        new Random(5).NextBytes(payload);
        s.Await(socket.SendAsync(payload, new NetEndpoint(NetAddress.Parse("10.0.0.9"), 4000)));

        Assert.True(device.Sent.Count >= 3, $"{device.Sent.Count} frames");
        ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(device.Sent[0].AsSpan(20 + 6));
        ushort expected = BinaryPrimitives.ReadUInt16BigEndian(TestPackets.Udp4(Us, 7000, Peer, 4000, payload).AsSpan(20 + 6));
        Assert.Equal(expected, checksum);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Two_stacks_on_an_offloading_pipe_move_tcp_and_udp_with_zero_checksums(bool v6)
    {
        using var pair = new StackPair(checksumOffload: ChecksumOffload.Both);
        var s = pair.Scheduler;
        var checksums = new List<ushort>();
        using var tap = pair.DeviceB.Received.Subscribe(frame =>
        {
            ReadOnlySpan<byte> f = frame.Span;
            int ipHeader = v6 ? 40 : (f[0] & 0x0f) * 4;
            byte protocol = v6 ? f[6] : f[9];
            if (protocol == 6) checksums.Add(BinaryPrimitives.ReadUInt16BigEndian(f[(ipHeader + 16)..]));
            if (protocol == 17) checksums.Add(BinaryPrimitives.ReadUInt16BigEndian(f[(ipHeader + 6)..]));
        });
        NetAddress b = v6 ? StackPair.B6 : StackPair.B4;

        var (client, server) = pair.ConnectTcp(v6: v6);
        byte[] data = new byte[100_000];
        new Random(3).NextBytes(data);
        Task send = client.SendAsync(data);
        byte[] received = pair.ReadExactly(server, data.Length);
        s.Await(send);

        UdpSocket udpB = s.Await(pair.B.BindUdpAsync(9000, ipv6: v6));
        UdpSocket udpA = s.Await(pair.A.BindUdpAsync(9001, ipv6: v6));
        Task<Datagram> datagram = udpB.ReceiveAsync();
        s.Await(udpA.SendAsync("over udp"u8.ToArray(), new NetEndpoint(b, 9000)));

        Assert.Equal(data, received);
        Assert.Equal("over udp"u8.ToArray(), s.Await(datagram).Data.ToArray());
        Assert.NotEmpty(checksums);
        Assert.All(checksums, c => Assert.Equal(0, c));
    }
}
