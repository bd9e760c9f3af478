using System.Net;
using System.Net.Sockets;
using System.Text;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>Our stack as the client: it connects to and sends to the Linux kernel's sockets through a TUN device.</summary>
[Collection(InteropCollection.Name)]
public sealed class StackToKernelTests
{
    [NamespaceFact]
    public async Task Stack_connects_to_a_kernel_listener_and_data_flows_both_ways_at_once_on_ipv4_and_ipv6()
    {
        await using var rig = await InteropRig.StartAsync(serve: false);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        foreach (var kernel in new[] { InteropRig.KernelV4, InteropRig.KernelV6 })
        {
            var listener = rig.KernelListener(kernel, 5001);
            var accepting = listener.AcceptAsync(deadline.Token).AsTask();
            await using var connection = await rig.Stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(kernel), 5001), cancellationToken: deadline.Token);
            using var peer = await accepting;
            Assert.Equal(connection.Local.ToIPEndPoint(), peer.RemoteEndPoint);

            byte[] up = TransferCheck.RandomBytes(2_000_000, seed: 1), down = TransferCheck.RandomBytes(2_000_000, seed: 2);
            var kernelReceives = TransferCheck.ReceiveAllAsync(peer, deadline.Token);
            var stackReceives = TransferCheck.ReceiveAllAsync(connection, deadline.Token);
            await Task.WhenAll(TransferCheck.SendAllAsync(connection, up, deadline.Token), TransferCheck.SendAllAsync(peer, down, deadline.Token));

            Assert.Equal((up.Length, TransferCheck.Sha256(up)), await kernelReceives);
            Assert.Equal((down.Length, TransferCheck.Sha256(down)), await stackReceives);
        }
    }

    [NamespaceFact]
    public async Task Udp_flows_both_ways_between_stack_and_kernel_sockets()
    {
        await using var rig = await InteropRig.StartAsync(serve: false);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        foreach (var kernel in new[] { InteropRig.KernelV4, InteropRig.KernelV6 })
        {
            var kernelSocket = rig.KernelSocket(kernel.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            kernelSocket.Bind(new IPEndPoint(kernel, 6001));
            await using var ours = await rig.Stack.BindUdpAsync(6002, ipv6: kernel.AddressFamily == AddressFamily.InterNetworkV6, deadline.Token);

            // Stack → kernel.
            await ours.SendAsync("from the stack"u8.ToArray(), new NetEndpoint(NetAddress.FromIPAddress(kernel), 6001), deadline.Token);
            var buffer = new byte[2048];
            var got = await kernelSocket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(kernel.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0), deadline.Token);
            Assert.Equal("from the stack", Encoding.ASCII.GetString(buffer, 0, got.ReceivedBytes));
            var stackAddress = kernel.AddressFamily == AddressFamily.InterNetwork ? InteropRig.StackV4 : InteropRig.StackV6;
            Assert.Equal(new IPEndPoint(stackAddress, 6002), got.RemoteEndPoint);

            // Kernel → stack, back to where it came from; a 3000-byte datagram is fragmented by the kernel and reassembled by us.
            byte[] large = TransferCheck.RandomBytes(3000, seed: 3);
            var receiving = ours.ReceiveAsync(cancellationToken: deadline.Token);
            await kernelSocket.SendToAsync(large, SocketFlags.None, got.RemoteEndPoint, deadline.Token);
            var datagram = await receiving;
            Assert.Equal(large, datagram.Data.ToArray());
            Assert.Equal(new IPEndPoint(kernel, 6001), datagram.Source.ToIPEndPoint());
        }
    }

    [NamespaceFact]
    public async Task Connecting_to_a_closed_kernel_port_is_refused()
    {
        await using var rig = await InteropRig.StartAsync(serve: false);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        foreach (var kernel in new[] { InteropRig.KernelV4, InteropRig.KernelV6 })
        {
            var error = await Assert.ThrowsAsync<NetstackException>(() =>
                rig.Stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(kernel), 5999), cancellationToken: deadline.Token));
            Assert.Equal(NetstackErrorKind.ConnectionRefused, error.Kind);
        }
    }
}
