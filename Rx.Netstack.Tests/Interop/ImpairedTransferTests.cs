using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Devices;
using Xunit.Abstractions;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// 20 MB each way between the kernel's TCP and ours over a bad link: 5 % loss, 25 % reordering, 2 % duplication, 1 ms delay.
/// The kernel side uses <c>tc qdisc … netem</c> when the kernel has it (sch_netem); the same impairment is applied to what our
/// stack sends with <see cref="ImpairedLink"/>, and, without netem, to what it receives too.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class ImpairedTransferTests(ITestOutputHelper output)
{
    private static readonly int TransferSize = int.TryParse(Environment.GetEnvironmentVariable("RX_INTEROP_MB"), out int mb) ? mb * 1_000_000 : 20_000_000;

    private static readonly ImpairmentOptions BadLink = new()
    {
        Loss = 0.05,
        Reordering = 0.25,
        ReorderDelay = TimeSpan.FromMilliseconds(1),
        Duplication = 0.02,
        Delay = TimeSpan.FromMilliseconds(1),
    };

    [NamespaceFact]
    public async Task Twenty_megabytes_each_way_arrive_intact_through_loss_reordering_and_duplication()
    {
        bool netem = false;
        ImpairedLink? link = null;
        await using var rig = await InteropRig.StartAsync(wrap: (tun, stack, ns) =>
        {
            // Decided before the stack attaches, so the whole connection sees the same link.
            netem = TryNetem(ns);
            link = new ImpairedLink(tun, stack.Scheduler, outbound: BadLink, inbound: netem ? ImpairmentOptions.None : BadLink, seed: 2024);
            return link;
        });
        output.WriteLine(netem
            ? "kernel → stack: tc netem on the TUN interface; stack → kernel: ImpairedLink"
            : "sch_netem is not available in this kernel (tc: \"Specified qdisc kind is unknown\"): ImpairedLink impairs both directions");

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var clock = Stopwatch.StartNew();

        // Kernel → stack: the kernel sends to our discard service, which reports what arrived.
        byte[] toStack = TransferCheck.RandomBytes(TransferSize, seed: 11);
        var report = rig.Services!.Discard.Reports.FirstAsync().ToTask(deadline.Token);
        var client = rig.KernelSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(InteropRig.StackV4, 9), deadline.Token);
        var kernelSends = TransferCheck.SendAllAsync(client, toStack, deadline.Token);

        // Stack → kernel, at the same time: we connect to a kernel listener and send.
        byte[] toKernel = TransferCheck.RandomBytes(TransferSize, seed: 12);
        var listener = rig.KernelListener(InteropRig.KernelV4, 5002);
        var accepting = listener.AcceptAsync(deadline.Token).AsTask();
        await using var connection = await rig.Stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(InteropRig.KernelV4), 5002), cancellationToken: deadline.Token);
        var stackSends = TransferCheck.SendAllAsync(connection, toKernel, deadline.Token); // the first segment completes the kernel's accept
        using var peer = await accepting;
        using var sampling = connection.InfoUpdates(TimeSpan.FromSeconds(1)).Subscribe(i => output.WriteLine(
            $"{clock.Elapsed.TotalSeconds:F2} cwnd {i.CongestionWindow} ssthresh {i.SlowStartThreshold} flight {i.BytesInFlight} srtt {i.SmoothedRtt?.TotalMilliseconds:F1} rto {i.Rto.TotalMilliseconds} rec {i.InRecovery} sent {i.BytesSent} rtx {i.SegmentsRetransmitted}"));
        var kernelReceives = TransferCheck.ReceiveAllAsync(peer, deadline.Token);
        await stackSends;

        await kernelSends;
        var arrivedAtStack = await report;
        var arrivedAtKernel = await kernelReceives;
        output.WriteLine($"both transfers done in {clock.Elapsed.TotalSeconds:F1} s; stack retransmitted {rig.Stack.GetStats().TcpRetransmissions} segments");
        output.WriteLine($"outbound link: {link!.OutboundCounters}");
        output.WriteLine($"inbound link: {link.InboundCounters}");

        Assert.Equal((toStack.Length, TransferCheck.Sha256(toStack)), (arrivedAtStack.Bytes, arrivedAtStack.Sha256));
        Assert.Equal((toKernel.Length, TransferCheck.Sha256(toKernel)), arrivedAtKernel);
        Assert.True(link.OutboundCounters.LostCount > 0 && link.OutboundCounters.DuplicatedCount > 0 && link.OutboundCounters.ReorderedCount > 0);
    }

    /// <summary>Adds netem on the kernel's side of the TUN interface; false when this kernel has no sch_netem.</summary>
    private static bool TryNetem(NetworkNamespace ns)
    {
        try
        {
            ns.Exec("tc", "qdisc", "add", "dev", InteropRig.Interface, "root", "netem",
                "loss", "5%", "reorder", "25%", "50%", "duplicate", "2%", "delay", "1ms");
            return true;
        }
        catch (InvalidOperationException e) when (e.Message.Contains("Specified qdisc kind is unknown", StringComparison.Ordinal))
        {
            return false;
        }
    }
}
