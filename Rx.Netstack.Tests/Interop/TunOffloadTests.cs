using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// TUN offloads against the kernel: a kernel TCP sender hands the TUN device super-packets (one TCP segment of up to 64 KiB
/// with a partial checksum) and our stack takes each as one segment; our stack hands the device TCP super-segments that the
/// kernel cuts (or takes whole); the bytes must arrive intact both ways, over IPv4 and IPv6.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class TunOffloadTests
{
    [NamespaceFact]
    public Task Kernel_bulk_tcp_over_ipv4_arrives_intact_in_super_packets() => SendToDiscard(InteropRig.StackV4, AddressFamily.InterNetwork, offloads: true);

    [NamespaceFact]
    public Task Kernel_bulk_tcp_over_ipv6_arrives_intact_in_super_packets() => SendToDiscard(InteropRig.StackV6, AddressFamily.InterNetworkV6, offloads: true);

    [NamespaceFact]
    public Task In_plain_mode_kernel_bulk_tcp_arrives_intact_in_mtu_sized_packets() => SendToDiscard(InteropRig.StackV4, AddressFamily.InterNetwork, offloads: false);

    private static async Task SendToDiscard(IPAddress target, AddressFamily family, bool offloads)
    {
        await using var rig = await InteropRig.StartAsync(tunOffloads: offloads);
        Assert.Equal(offloads, rig.Tun.Offloads);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        byte[] data = TransferCheck.RandomBytes(8_000_000, seed: 11);
        var report = rig.Services!.Discard.Reports.FirstAsync().ToTask();

        var client = rig.KernelSocket(family, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(target, 9), deadline.Token);
        await TransferCheck.SendAllAsync(client, data, deadline.Token);

        var done = await report.WaitAsync(deadline.Token);
        Assert.Equal(data.Length, done.Bytes);
        Assert.Equal(TransferCheck.Sha256(data), done.Sha256);
        Assert.Equal(0, rig.Tun.ReceiveDropped);
        if (offloads)
        {
            // Bulk data from a kernel socket over a TSO-capable device leaves in super-packets: at least some arrived whole.
            Assert.True(rig.Tun.GsoPacketsReceived > 0, "no GSO super-packet arrived");
            // And the stack took them whole: fewer frames came in than 1500-byte packets would need for the data alone.
            long framesIn = rig.Stack.GetStats().FramesIn;
            Assert.True(framesIn < data.Length / 1460, $"{framesIn} frames in for {data.Length} bytes");
        }
        else
        {
            Assert.Equal(0, rig.Tun.GsoPacketsReceived);
            // The device delivers each wake-up's reads as a receive burst: the stack's round merged in-order runs of them (GRO).
            Assert.True(rig.Stack.GetStats().SegmentsCoalesced > 0, "no segment was coalesced");
        }
    }

    [NamespaceFact]
    public Task Stack_bulk_tcp_over_ipv4_leaves_in_super_segments_and_arrives_intact() => SendToKernel(InteropRig.KernelV4, offloads: true);

    [NamespaceFact]
    public Task Stack_bulk_tcp_over_ipv6_leaves_in_super_segments_and_arrives_intact() => SendToKernel(InteropRig.KernelV6, offloads: true);

    [NamespaceFact]
    public Task In_plain_mode_stack_bulk_tcp_leaves_in_mtu_sized_packets_and_arrives_intact() => SendToKernel(InteropRig.KernelV4, offloads: false);

    private static async Task SendToKernel(IPAddress kernel, bool offloads)
    {
        await using var rig = await InteropRig.StartAsync(serve: false, tunOffloads: offloads);
        Assert.Equal(offloads, rig.Tun.TcpSegmentationOffload);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        byte[] data = TransferCheck.RandomBytes(8_000_000, seed: 12);
        var listener = rig.KernelListener(kernel, 5002);
        var accepting = listener.AcceptAsync(deadline.Token).AsTask();
        await using var connection = await rig.Stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(kernel), 5002), cancellationToken: deadline.Token);
        using var peer = await accepting;

        var kernelReceives = TransferCheck.ReceiveAllAsync(peer, deadline.Token);
        await TransferCheck.SendAllAsync(connection, data, deadline.Token);
        Assert.Equal((data.Length, TransferCheck.Sha256(data)), await kernelReceives);

        Assert.Equal(0, rig.Tun.TransmitDropped);
        if (offloads)
        {
            Assert.True(rig.Tun.GsoPacketsSent > 0, "no super-segment was sent");
            // The data segments went out gathered: headers and send-ring spans in one writev, the payload not copied first.
            Assert.True(rig.Tun.GatheredPacketsSent > 0, "no packet went out through the gather path");
            // Most data left in super-segments: far fewer frames than 1500-byte packets would need.
            long framesOut = rig.Stack.GetStats().FramesOut;
            Assert.True(framesOut < data.Length / 1448 / 2, $"{framesOut} frames out for {data.Length} bytes");
        }
        else
        {
            Assert.Equal(0, rig.Tun.GsoPacketsSent);
            Assert.Equal(0, rig.Tun.GatheredPacketsSent); // without transmit checksum offload the stack sends whole frames
        }
    }
}
