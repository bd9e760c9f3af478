using System.Diagnostics.Metrics;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Tcp;

namespace Rx.Netstack;

// The stack's counters as System.Diagnostics.Metrics instruments, for the tools of the ecosystem
// (`dotnet-counters monitor --counters Rx.Netstack`, OpenTelemetry's AddMeter("Rx.Netstack")). The Rx streams
// (Stats, SocketTable) stay the primary API; this only reads the same counters when a listener asks.
public sealed partial class Netstack
{
    /// <summary>The name of the <see cref="Meter"/> every stack publishes its counters on.</summary>
    public const string MeterName = "Rx.Netstack";

    /// <summary>
    /// Creates the instruments. Names follow OpenTelemetry's semantic conventions where one exists (<c>system.network.*</c>
    /// with <c>network.io.direction</c>, <c>network.transport</c>, <c>network.connection.state</c>); the rest are
    /// <c>rx_netstack.*</c>. Every measurement carries <c>rx_netstack.stack.id</c> (<see cref="Id"/>) so several stacks in one
    /// process stay apart. Callbacks run on the listener's thread and read the counters without the engine lock: a value may
    /// be a packet out of date, never torn (64-bit reads), and nothing is allocated by the engine for it.
    /// </summary>
    private Meter CreateMeter()
    {
        var meter = new Meter(MeterName, typeof(Netstack).Assembly.GetName().Version?.ToString(3));
        var stack = new KeyValuePair<string, object?>("rx_netstack.stack.id", Id);
        NetstackCounters c = _counters;

        meter.CreateObservableCounter("system.network.packets", () => InOut(c.FramesIn, c.FramesOut), "{packet}", "Frames received from and sent to the device.");
        meter.CreateObservableCounter("system.network.io", () => InOut(c.BytesIn, c.BytesOut), "By", "Bytes received from and sent to the device.");
        meter.CreateObservableCounter("system.network.dropped", () => new Measurement<long>(c.Drops.Sum(), stack, Direction("receive")), "{packet}",
            "Packets the stack dropped, all reasons together (see rx_netstack.drops).");
        meter.CreateObservableUpDownCounter("system.network.connections", ConnectionsByState, "{connection}", "TCP connections by state.");

        meter.CreateObservableCounter("rx_netstack.drops", DropsByReason, "{packet}", "Packets dropped, by reason (rx_netstack.drop.reason).");
        meter.CreateObservableCounter("rx_netstack.tcp.segments", () => InOut(c.TcpIn, c.TcpOut), "{segment}", "TCP segments accepted and sent.");
        meter.CreateObservableCounter("rx_netstack.tcp.retransmissions", () => new Measurement<long>(_tcp.TcpCounters.SegmentsRetransmitted, stack), "{segment}", "TCP segments retransmitted.");
        meter.CreateObservableCounter("rx_netstack.tcp.events", TcpEvents, "{event}",
            "TCP loss recovery, ECN and path MTU events, by kind (rx_netstack.tcp.event): the TCP counters of NetstackStats.");
        meter.CreateObservableCounter("rx_netstack.udp.datagrams", () => InOut(c.UdpIn, c.UdpOut), "{datagram}", "UDP datagrams delivered to sockets and sent.");
        meter.CreateObservableCounter("rx_netstack.icmp.messages", () => InOut(c.IcmpIn, c.IcmpOut), "{message}", "ICMP messages accepted and sent.");
        meter.CreateObservableUpDownCounter("rx_netstack.sockets", SocketsByKind, "{socket}", "Open sockets by kind (rx_netstack.socket.kind).");
        meter.CreateObservableCounter("rx_netstack.commands.processed", () => new Measurement<long>(c.CommandsProcessed, stack), "{command}", "Commands the engine processed.");
        meter.CreateObservableCounter("rx_netstack.commands.waited", () => new Measurement<long>(Interlocked.Read(ref c.CommandsWaited), stack), "{command}",
            "Commands that found the queue's room taken and waited for a later round.");
        meter.CreateObservableCounter("rx_netstack.commands.refused", () => new Measurement<long>(Interlocked.Read(ref c.CommandsRefused), stack), "{command}",
            "Commands refused past CommandQueueLimit.");
        meter.CreateObservableUpDownCounter("rx_netstack.commands.queued", () => new Measurement<int>(_passes.QueuedCommands, stack), "{command}",
            "Commands waiting for the engine.");
        meter.CreateObservableCounter("rx_netstack.passes", () => new Measurement<long>(c.Passes, stack), "{pass}", "Engine passes run.");
        meter.CreateObservableCounter("rx_netstack.faults", () => new[]
        {
            new Measurement<long>(c.EngineFaults, stack, new("rx_netstack.fault.kind", "engine")),
            new Measurement<long>(Interlocked.Read(ref c.SubscriberFaults), stack, new("rx_netstack.fault.kind", "subscriber")),
        }, "{fault}", "Commands the engine failed on, and subscribers whose handler threw.");
        return meter;

        static KeyValuePair<string, object?> Direction(string direction) => new("network.io.direction", direction);

        Measurement<long>[] InOut(long received, long sent) =>
        [
            new(received, stack, Direction("receive")),
            new(sent, stack, Direction("transmit")),
        ];

        IEnumerable<Measurement<int>> ConnectionsByState()
        {
            foreach (TcpState state in Enum.GetValues<TcpState>())
                yield return new Measurement<int>(_tcp.ConnectionsIn(state), stack, new("network.transport", "tcp"),
                    new("network.connection.state", SemanticState(state)));
        }

        IEnumerable<Measurement<long>> DropsByReason()
        {
            for (int i = 0; i < c.Drops.Length; i++)
                yield return new Measurement<long>(c.Drops[i], stack, new("rx_netstack.drop.reason", ((DropReason)i).ToString()));
        }

        IEnumerable<Measurement<long>> TcpEvents()
        {
            TcpCounters t = _tcp.TcpCounters;
            yield return Event("fast_retransmit", t.FastRetransmits);
            yield return Event("recovery", t.RecoveryEpisodes);
            yield return Event("timeout", t.Timeouts);
            yield return Event("tail_loss_probe", t.TailLossProbes);
            yield return Event("reorder_timeout", t.ReorderTimeouts);
            yield return Event("out_of_order_dropped", t.OutOfOrderDropped);
            yield return Event("dsack_received", t.DuplicateSacksReceived);
            yield return Event("dsack_sent", t.DuplicateSacksSent);
            yield return Event("undo", t.SpuriousRetransmissionsUndone);
            yield return Event("ecn_ce_received", t.CongestionMarksReceived);
            yield return Event("ecn_reduction", t.CongestionEchoResponses);
            yield return Event("icmp_error_accepted", t.IcmpErrorsAccepted);
            yield return Event("pmtu_reduction", t.PathMtuReductions);
            yield return Event("pmtu_black_hole", t.PathMtuBlackHoles);
            yield return Event("pmtu_raise", t.PathMtuRaises);
        }

        Measurement<long> Event(string kind, long value) => new(value, stack, new("rx_netstack.tcp.event", kind));

        IEnumerable<Measurement<int>> SocketsByKind()
        {
            foreach (SocketKind kind in Enum.GetValues<SocketKind>())
                if (kind != SocketKind.None)
                    yield return new Measurement<int>(_sockets.CountOf(kind), stack, new("rx_netstack.socket.kind", kind.ToString()));
        }
    }

    /// <summary>OpenTelemetry's <c>network.connection.state</c> values for a TCP state.</summary>
    internal static string SemanticState(TcpState state) => state switch
    {
        TcpState.Closed => "close",
        TcpState.Listen => "listen",
        TcpState.SynSent => "syn_sent",
        TcpState.SynReceived => "syn_recv",
        TcpState.Established => "established",
        TcpState.FinWait1 => "fin_wait_1",
        TcpState.FinWait2 => "fin_wait_2",
        TcpState.CloseWait => "close_wait",
        TcpState.Closing => "closing",
        TcpState.LastAck => "last_ack",
        TcpState.TimeWait => "time_wait",
        _ => state.ToString().ToLowerInvariant(),
    };
}
