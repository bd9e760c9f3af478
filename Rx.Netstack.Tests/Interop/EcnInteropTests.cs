using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// ECN (RFC 3168) against the Linux kernel with <c>net.ipv4.tcp_ecn=1</c> in the test's namespace: the handshake agrees
/// both ways (the kernel's <c>ss</c> shows <c>ecn</c>), and an <see cref="ImpairedLink"/> that marks CE instead of dropping
/// makes each side's receiver echo the mark and the other's sender slow down, the data intact.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class EcnInteropTests
{
    private static readonly TcpSettings Ecn = new() { EnableEcn = true };

    /// <summary>Both directions: 3 % of what would be dropped is marked instead when ECN-capable (data), dropped otherwise.</summary>
    private static readonly ImpairmentOptions Marking = new() { Loss = 0.03, CongestionMarking = true };

    private const int IpProtoTcp = 6, TcpInfo = 11, TcpCongestion = 13; // tcp(7)
    private const byte TcpiOptEcn = 8, TcpiOptEcnSeen = 16;               // linux/tcp.h tcpi_options

    /// <summary>The kernel's TCP_INFO for a socket: tcpi_options (byte 5) and tcpi_snd_ssthresh (bytes 76–79).</summary>
    private static (byte Options, uint SendSsthresh) KernelTcpInfo(Socket socket)
    {
        byte[] info = new byte[104];
        int length = socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
        Assert.True(length >= 84, $"TCP_INFO returned {length} bytes");
        return (info[5], BitConverter.ToUInt32(info, 76));
    }

    private static async Task<(InteropRig Rig, ImpairedLink Link)> StartAsync()
    {
        ImpairedLink? link = null;
        InteropRig rig = await InteropRig.StartAsync(serve: false, tunOffloads: false,
            wrap: (tun, stack, ns) => link = new ImpairedLink(tun, stack.Scheduler, outbound: Marking, inbound: Marking, seed: 18));
        rig.Namespace.Exec("sysctl", "-q", "-w", "net.ipv4.tcp_ecn=1"); // the kernel asks for ECN and agrees to it
        return (rig, link!);
    }

    [NamespaceFact]
    public async Task Our_sender_agrees_ECN_with_the_kernel_and_slows_for_its_echoes_without_a_loss()
    {
        var (rig, link) = await StartAsync();
        await using var _ = rig;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var listener = rig.KernelListener(InteropRig.KernelV4, 5018);
        var accepting = listener.AcceptAsync(deadline.Token).AsTask();
        await using var connection = await rig.Stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(InteropRig.KernelV4), 5018), Ecn, deadline.Token);
        using var peer = await accepting;
        Assert.True((KernelTcpInfo(peer).Options & TcpiOptEcn) != 0, "the kernel agreed ECN");

        byte[] up = TransferCheck.RandomBytes(3_000_000, seed: 18);
        var kernelReceives = TransferCheck.ReceiveAllAsync(peer, deadline.Token);
        await TransferCheck.SendAllAsync(connection, up, deadline.Token);
        Assert.Equal((up.Length, TransferCheck.Sha256(up)), await kernelReceives);

        Assert.True(link.OutboundCounters.Marked > 0, link.OutboundCounters.ToString());
        Assert.True((KernelTcpInfo(peer).Options & TcpiOptEcnSeen) != 0, "the kernel saw our data ECN-capable");
        Assert.True(rig.Stack.TcpCounters.CongestionEchoResponses > 0, "the kernel echoed the marks (ECE) and our sender answered");
        var info = await connection.GetInfoAsync(deadline.Token);
        Assert.True(info.SlowStartThreshold < int.MaxValue, "the sender left slow start");
    }

    [NamespaceFact]
    public async Task The_kernel_agrees_ECN_with_our_listener_and_our_echoes_reach_its_sender()
    {
        var (rig, link) = await StartAsync();
        await using var _ = rig;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var listener = await rig.Stack.ListenTcpAsync(5019, settings: Ecn);
        var accepting = listener.AcceptAsync(deadline.Token);
        using var kernel = rig.KernelSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await kernel.ConnectAsync(new IPEndPoint(InteropRig.StackV4, 5019), deadline.Token);
        await using var connection = await accepting;
        Assert.True((KernelTcpInfo(kernel).Options & TcpiOptEcn) != 0, "the kernel agreed ECN");
        kernel.SetRawSocketOption(IpProtoTcp, TcpCongestion, "cubic"u8); // loss-based, so an echo lowers its ssthresh

        byte[] down = TransferCheck.RandomBytes(3_000_000, seed: 19);
        var stackReceives = TransferCheck.ReceiveAllAsync(connection, deadline.Token);
        await TransferCheck.SendAllAsync(kernel, down, deadline.Token);
        Assert.Equal((down.Length, TransferCheck.Sha256(down)), await stackReceives);

        Assert.True(link.InboundCounters.Marked > 0, "the kernel sent ECT data and the link marked some: " + link.InboundCounters);
        Assert.True(rig.Stack.TcpCounters.CongestionMarksReceived > 0, "our receiver saw the CE marks");
        Assert.True(KernelTcpInfo(kernel).SendSsthresh < 0x7FFF_FFFF, "the kernel's sender reduced its window for our ECE");
    }
}
