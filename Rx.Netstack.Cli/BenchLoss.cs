using System.Globalization;
using System.Reactive.Concurrency;
using System.Runtime.InteropServices;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench loss</c>: goodput under loss and reordering, the Linux kernel against our stack over one impaired link. A TUN
/// device (offloads off, MTU 1500) in a namespace this command creates and deletes; between it and our stack an
/// <see cref="ImpairedLink"/> that drops, holds back and delays frames the same way in both directions — so our sender to
/// Linux and Linux's sender to us cross the very same link, case by case, in one run. Each case runs twice per direction: both
/// senders on CUBIC, then both on BBR (TCP_CONGESTION on the kernel's socket, <see cref="TcpSettings.CongestionControl"/> on
/// ours), so a loss-based and a model-based pair are each compared like with like; SACK and RACK on both sides. Both senders
/// may queue the same data (the kernel's doubled SO_SNDBUF) and both receivers offer the same window. Each line is one bulk
/// transfer; retransmissions are the sender's.
/// </summary>
internal static class BenchLoss
{
    /// <summary>One-way delay of the link: an RTT of 10 ms, so loss recovery has round trips to lose.</summary>
    private static readonly TimeSpan OneWayDelay = TimeSpan.FromMilliseconds(5);

    /// <summary>The cases: loss in each direction, reordering (a frame held back 5 ms lets the next ones pass).</summary>
    /// <summary>The congestion control pairs: ours and the kernel's socket on the same algorithm.</summary>
    private static readonly (CongestionControlAlgorithm Ours, string Linux)[] Algorithms =
    [
        (CongestionControlAlgorithm.Cubic, "cubic"),
        (CongestionControlAlgorithm.Bbr, "bbr"),
    ];

    private static readonly (string Name, double Loss, double Reordering)[] Cases =
    [
        ("1 % loss", 0.01, 0),
        ("3 % loss", 0.03, 0),
        ("5 % loss", 0.05, 0),
        ("5 % reordered", 0, 0.05),
        ("1 % loss + 5 % reordered", 0.01, 0.05),
    ];

    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o, DemoConsole console)
    {
        using var ns = NetworkNamespace.Create($"rxloss-{Environment.ProcessId}");
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => ns.Dispose());
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => ns.Dispose());
        using var clock = new EventLoopScheduler(); // the link's delays, on the wall clock
        TunDevice? tun = null;
        try
        {
            // Each of the kernel's segments meets the impairment on its own, as each of ours does: the device delivers every
            // packet as read, and the stack merges only what the impairment let through (its receive coalescing is behind it).
            tun = ns.Run(() => TunDevice.Open(BenchTun.Interface, offloads: false));
            ns.Exec("ip", "link", "set", BenchTun.Interface, "mtu", BenchTun.Mtu.ToString(CultureInfo.InvariantCulture));
            ns.Exec("ip", "addr", "add", $"{BenchTun.KernelAddress}/24", "dev", BenchTun.Interface);
            ns.Exec("ip", "link", "set", BenchTun.Interface, "up");
            var results = new List<BenchResult>();
            ushort port = 5301;
            bool warmedUp = false;
            int seed = 1;
            foreach (var (name, loss, reordering) in Cases)
            {
                var impairment = new ImpairmentOptions
                {
                    Delay = OneWayDelay,
                    Loss = loss,
                    Reordering = reordering,
                    ReorderDelay = TimeSpan.FromMilliseconds(5),
                };
                using var link = new ImpairedLink(tun, clock, impairment, impairment, seed++);
                using var stack = new Netstack(new NetstackOptions { Addresses = [new InterfaceAddress(BenchTun.StackAddress, 24)] });
                using var attachment = stack.Attach(link);
                if (!warmedUp)
                {
                    // Not measured: the JIT's tiers would otherwise still be compiling the hot path.
                    if (!o.Json) console.Line("warm-up (not measured) …");
                    var warmUp = o with { Seconds = Math.Min(0.5, o.Seconds) };
                    foreach (var (ours, linux) in Algorithms)
                    {
                        await MeasureAsync(ns, stack, link, warmUp, "warm-up", port++, kernelSends: true, ours, linux);
                        await MeasureAsync(ns, stack, link, warmUp, "warm-up", port++, kernelSends: false, ours, linux);
                    }
                    warmedUp = true;
                }
                foreach (var (ours, linux) in Algorithms)
                {
                    if (!o.Json) console.Line($"{name}, {linux}: linux → rx-netstack …");
                    results.Add(await MeasureAsync(ns, stack, link, o, name, port++, kernelSends: true, ours, linux));
                    if (!o.Json) console.Line($"{name}, {linux}: rx-netstack → linux …");
                    results.Add(await MeasureAsync(ns, stack, link, o, name, port++, kernelSends: false, ours, linux));
                }
            }
            return results;
        }
        finally
        {
            tun?.Dispose();
        }
    }

    private static async Task<BenchResult> MeasureAsync(NetworkNamespace ns, Netstack stack, ImpairedLink link, BenchOptions o, string name,
        ushort port, bool kernelSends, CongestionControlAlgorithm ours, string linux)
    {
        // The kernel doubles SO_SNDBUF (socket(7)) and its sender keeps that much data queued (ss -tm: ~512 KiB written and not
        // yet acknowledged behind a 256 KiB buffer); ours gets as much, or in recovery it would wait for its application while
        // the kernel's never does. The receivers are alike already: each offers a window of the buffer.
        var settings = new TcpSettings { SendBufferSize = KernelSendBuffer(o.Buffer), ReceiveBufferSize = o.Buffer, CongestionControl = ours };
        long kernelRetransBefore = KernelRetransmissions(ns);
        long kernelDsackRecvBefore = KernelDsacksReceived(ns), kernelDsackSentBefore = KernelDsacksSent(ns);
        long pruneBefore = KernelExtCounter(ns, "PruneCalled"), collapsedBefore = KernelExtCounter(ns, "TCPRcvCollapsed");
        long ofoDroppedBefore = KernelExtCounter(ns, "TCPOFODrop") + KernelExtCounter(ns, "OfoPruned");
        long pawsBefore = KernelExtCounter(ns, "PAWSEstab"), dsackSegsBefore = KernelExtCounter(ns, "TCPDSACKRecvSegs");
        var oursBefore = stack.GetStats();
        long toStackLostBefore = link.InboundCounters.Lost, toKernelLostBefore = link.OutboundCounters.Lost;
        long toStackOfferedBefore = link.InboundCounters.Offered, toKernelOfferedBefore = link.OutboundCounters.Offered;
        await using var pair = kernelSends
            ? await BenchTun.KernelToStackAsync(ns, stack, settings, o.Buffer, port)
            : await BenchTun.StackToKernelAsync(ns, stack, settings, o.Buffer, port);
        string linuxCc = UseCongestionControl(pair.KernelSocket, linux);
        using var stopSampling = new CancellationTokenSource();
        Task<SenderSamples> sampling = SampleAsync(pair.Connection, stopSampling.Token);
        var (sent, received, elapsed) = await BenchTun.BulkAsync(pair, o.Write, o.Duration, (long)(1e9 * o.Seconds));
        await stopSampling.CancelAsync();
        SenderSamples samples = await sampling;
        if (received != sent) throw new InvalidOperationException($"sent {sent} bytes but {received} arrived");
        var oursAfter = stack.GetStats();
        long retransmitted = kernelSends ? KernelRetransmissions(ns) - kernelRetransBefore : oursAfter.TcpRetransmissions - oursBefore.TcpRetransmissions;
        long dataOffered = kernelSends ? link.InboundCounters.Offered - toStackOfferedBefore : link.OutboundCounters.Offered - toKernelOfferedBefore;
        long dataLost = kernelSends ? link.InboundCounters.Lost - toStackLostBefore : link.OutboundCounters.Lost - toKernelLostBefore;
        return new BenchResult("loss", kernelSends ? "linux → rx-netstack" : "rx-netstack → linux",
        [
            ("link", name), ("mb_per_s", received / 1e6 / elapsed.TotalSeconds), ("bytes", received), ("seconds", elapsed.TotalSeconds),
            ("sender_retransmits", retransmitted), ("data_dir_frames", dataOffered), ("data_dir_lost", dataLost),
            ("buffer", BenchTun.Label(o.Buffer)), ("our_sndbuf", BenchTun.Label(KernelSendBuffer(o.Buffer))), ("rtt_ms", 2 * OneWayDelay.TotalMilliseconds), ("linux_cc", linuxCc), ("ours_cc", ours.ToString().ToLowerInvariant()),
            // How our stack recovered (as sender on our rows, as receiver on the kernel's): which mechanism resent, and how
            // often it found a resend spurious.
            ("ours_fast_retransmits", oursAfter.TcpFastRetransmits - oursBefore.TcpFastRetransmits),
            ("ours_timeouts", oursAfter.TcpTimeouts - oursBefore.TcpTimeouts),
            ("ours_tail_loss_probes", oursAfter.TcpTailLossProbes - oursBefore.TcpTailLossProbes),
            ("ours_reorder_timeouts", oursAfter.TcpReorderTimeouts - oursBefore.TcpReorderTimeouts),
            ("ours_dsacks_received", oursAfter.TcpDuplicateSacksReceived - oursBefore.TcpDuplicateSacksReceived),
            ("ours_undone", oursAfter.TcpSpuriousRetransmissionsUndone - oursBefore.TcpSpuriousRetransmissionsUndone),
            // D-SACKs each way (RFC 2883): what each receiver reported of the duplicates it got, and what each sender was told
            // of them; a sender's RACK widens its reordering window on them (RFC 8985 §6.2 step 4).
            ("ours_dsacks_sent", oursAfter.TcpDuplicateSacksSent - oursBefore.TcpDuplicateSacksSent),
            ("linux_dsacks_received", KernelDsacksReceived(ns) - kernelDsackRecvBefore),
            ("linux_dsacks_sent", KernelDsacksSent(ns) - kernelDsackSentBefore),
            // Our end every 10 ms: the peer's window (SND.WND) and how much of it is in use (SND.MAX − SND.UNA), cwnd, and the
            // share of samples where the window was full (less than a segment left) — on our rows what bounds our sender, on
            // the kernel's the window our receiver offers.
            ("ours_snd_wnd_kib", samples.Mean(s => s.SendWindow) / 1024), ("ours_outstanding_kib", samples.Mean(s => s.Outstanding) / 1024),
            ("ours_cwnd_kib", samples.Mean(s => s.CongestionWindow) / 1024), ("ours_rcv_wnd_kib", samples.Mean(s => s.ReceiveWindow) / 1024),
            ("ours_window_full", samples.Share(s => s.SendWindow - s.Outstanding < s.Mss)),
            // Linux's receiver under memory pressure (TcpExt): prunes of its queues, collapses, out-of-order segments dropped.
            ("linux_prune_called", KernelExtCounter(ns, "PruneCalled") - pruneBefore),
            ("linux_rcv_collapsed", KernelExtCounter(ns, "TCPRcvCollapsed") - collapsedBefore),
            ("linux_ofo_dropped", KernelExtCounter(ns, "TCPOFODrop") + KernelExtCounter(ns, "OfoPruned") - ofoDroppedBefore),
            // Segments each receiver dropped by PAWS (RFC 7323 §5.3), and the segments Linux's D-SACKs named (TCPDSACKRecvSegs).
            ("ours_paws_drops", oursAfter.TcpPawsDrops - oursBefore.TcpPawsDrops),
            ("linux_paws_drops", KernelExtCounter(ns, "PAWSEstab") - pawsBefore),
            ("linux_dsack_segs_received", KernelExtCounter(ns, "TCPDSACKRecvSegs") - dsackSegsBefore),
        ]);
    }

    /// <summary>One sample of our connection's sending state.</summary>
    private readonly record struct SenderSample(int SendWindow, int Outstanding, int CongestionWindow, int ReceiveWindow, int Mss);

    /// <summary>The samples of one run (the first 10 ms and the end of the run excluded: only established, sending states).</summary>
    private sealed class SenderSamples : List<SenderSample>
    {
        public double Mean(Func<SenderSample, double> value) => Count == 0 ? 0 : this.Average(value);

        public double Share(Func<SenderSample, bool> predicate) => Count == 0 ? 0 : (double)this.Count(predicate) / Count;
    }

    /// <summary>Samples <paramref name="connection"/> every 10 ms until <paramref name="stop"/> (at most ten minutes' worth).</summary>
    private static async Task<SenderSamples> SampleAsync(TcpConnection connection, CancellationToken stop)
    {
        var samples = new SenderSamples();
        try
        {
            for (int i = 0; i < 60_000 && !stop.IsCancellationRequested; i++)
            {
                await Task.Delay(10, stop);
                TcpConnectionInfo info = await connection.GetInfoAsync(stop);
                if (info.State != TcpState.Established) break;
                samples.Add(new SenderSample(info.SendWindow, info.BytesInFlight, info.CongestionWindow, info.ReceiveWindow, info.MaxSegmentSize));
            }
        }
        catch (OperationCanceledException)
        {
            // The run ended.
        }
        return samples;
    }

    /// <summary>A TcpExt counter of the namespace (/proc/net/netstat), or 0 if it has none by that name.</summary>
    private static long KernelExtCounter(NetworkNamespace ns, string counter) =>
        Math.Max(0, KernelCounter(ns, "/proc/net/netstat", "TcpExt:", counter));

    /// <summary>What the kernel makes of SO_SNDBUF <paramref name="buffer"/>: twice it, for its bookkeeping (socket(7)).</summary>
    internal static int KernelSendBuffer(int buffer) => 2 * buffer;

    private const int IPPROTO_TCP = 6, TCP_CONGESTION = 13;

    /// <summary>Puts the kernel's socket on <paramref name="algorithm"/>, as ours, and returns what it runs (TCP_CONGESTION, tcp(7)).</summary>
    internal static string UseCongestionControl(System.Net.Sockets.Socket socket, string algorithm)
    {
        socket.SetRawSocketOption(IPPROTO_TCP, TCP_CONGESTION, System.Text.Encoding.ASCII.GetBytes(algorithm));
        byte[] name = new byte[16];
        int length = socket.GetRawSocketOption(IPPROTO_TCP, TCP_CONGESTION, name);
        return System.Text.Encoding.ASCII.GetString(name, 0, length).TrimEnd('\0');
    }

    /// <summary>The namespace's TCP RetransSegs (its own MIB: only the kernel's sockets inside it count).</summary>
    private static long KernelRetransmissions(NetworkNamespace ns) => KernelTcpCounter(ns, "RetransSegs");

    /// <summary>D-SACKs the namespace's senders were given (TcpExt TCPDSACKRecv).</summary>
    private static long KernelDsacksReceived(NetworkNamespace ns) => KernelCounter(ns, "/proc/net/netstat", "TcpExt:", "TCPDSACKRecv");

    /// <summary>D-SACKs the namespace's receivers sent, for data below RCV.NXT and for out-of-order data (TCPDSACKOldSent, TCPDSACKOfoSent).</summary>
    private static long KernelDsacksSent(NetworkNamespace ns) =>
        KernelCounter(ns, "/proc/net/netstat", "TcpExt:", "TCPDSACKOldSent") + KernelCounter(ns, "/proc/net/netstat", "TcpExt:", "TCPDSACKOfoSent");

    /// <summary>A counter of the namespace's TCP MIB (/proc/net/snmp, line <c>Tcp:</c>), or -1 if it has none by that name.</summary>
    internal static long KernelTcpCounter(NetworkNamespace ns, string counter) => KernelCounter(ns, "/proc/net/snmp", "Tcp:", counter);

    /// <summary>A counter of a namespace's MIB file <paramref name="path"/>, or -1 if it has none by that name.</summary>
    private static long KernelCounter(NetworkNamespace ns, string path, string prefix, string counter) =>
        ParseMibCounter(ns.Exec("cat", path), prefix, counter);

    /// <summary>
    /// A counter of a MIB file's text (/proc/net/snmp, /proc/net/netstat: a line of names then a line of values, both starting
    /// <paramref name="prefix"/>, such as <c>Tcp:</c> or <c>TcpExt:</c>), or -1 if it has none by that name.
    /// </summary>
    internal static long ParseMibCounter(string text, string prefix, string counter)
    {
        string[] lines = text.Split('\n');
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith(prefix, StringComparison.Ordinal) || !lines[i + 1].StartsWith(prefix, StringComparison.Ordinal)) continue;
            string[] names = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string[] values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int at = Array.IndexOf(names, counter);
            return at > 0 && at < values.Length ? long.Parse(values[at], CultureInfo.InvariantCulture) : -1;
        }
        return -1;
    }
}
