using System.Net;
using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Devices;
using Xunit.Abstractions;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// Our stack against the kernel's TCP with each of its options turned off in the kernel's namespace — SACK, timestamps, window
/// scaling — and with a small MSS announced (<c>ip route … advmss 536</c>): the handshake agrees to what both offer, and bulk
/// data goes both ways at once, byte-exact, over IPv4 and IPv6.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class KernelTcpOptionsTests(ITestOutputHelper output)
{
    private const int Size = 2_000_000;

    [NamespaceFact("sysctl")]
    public Task Without_sack() => RunAsync(ns => ns.Exec("sysctl", "-qw", "net.ipv4.tcp_sack=0"),
        info => Assert.False(info.SackEnabled));

    [NamespaceFact("sysctl")]
    public Task Without_timestamps() => RunAsync(ns => ns.Exec("sysctl", "-qw", "net.ipv4.tcp_timestamps=0"),
        info => Assert.False(info.TimestampsEnabled));

    [NamespaceFact("sysctl")]
    public Task Without_window_scaling() => RunAsync(ns => ns.Exec("sysctl", "-qw", "net.ipv4.tcp_window_scaling=0"),
        info => Assert.Equal((0, 0), (info.SendWindowScale, info.ReceiveWindowScale)));

    /// <summary>IPv4 announces 536, the RFC 9293 default; Linux announces no IPv6 MSS below 1220 (net.ipv6.route.min_adv_mss).</summary>
    [NamespaceFact]
    public Task With_a_small_mss() => RunAsync(ns =>
    {
        ns.Exec("ip", "route", "replace", "10.77.0.0/24", "dev", InteropRig.Interface, "proto", "kernel", "scope", "link", "advmss", "536");
        ns.Exec("ip", "-6", "route", "replace", "fd77::/64", "dev", InteropRig.Interface, "proto", "kernel", "metric", "256", "advmss", "1220");
    }, (info, v6) => Assert.Equal((v6 ? 1220 : 536) - (info.TimestampsEnabled ? 12 : 0), info.MaxSegmentSize));

    private Task RunAsync(Action<NetworkNamespace> configureKernel, Action<TcpConnectionInfo> check) =>
        RunAsync(configureKernel, (info, _) => check(info));

    private async Task RunAsync(Action<NetworkNamespace> configureKernel, Action<TcpConnectionInfo, bool> check)
    {
        await using InteropRig rig = await InteropRig.StartAsync(serve: false);
        configureKernel(rig.Namespace);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        foreach (IPAddress kernel in new[] { InteropRig.KernelV4, InteropRig.KernelV6 })
        {
            var listener = rig.KernelListener(kernel, 5200);
            TcpConnectionInfo info = await TwoWayTransfer.RunAsync(rig.Stack, listener, new IPEndPoint(kernel, 5200), Size, deadline.Token);
            output.WriteLine($"{kernel}: SACK {info.SackEnabled}, timestamps {info.TimestampsEnabled}, window scale {info.SendWindowScale}/{info.ReceiveWindowScale}, " +
                $"MSS {info.MaxSegmentSize}, retransmitted {info.SegmentsRetransmitted}");
            check(info, kernel.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
            listener.Dispose();
        }
    }
}
