using System.Reactive.Disposables;
using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    private NetstackStats SnapshotStats()
    {
        NetstackCounters c = _counters;
        TcpCounters t = _tcp.TcpCounters;
        var drops = new Dictionary<DropReason, long>();
        for (int i = 0; i < c.Drops.Length; i++)
            if (c.Drops[i] != 0) drops[(DropReason)i] = c.Drops[i];
        Dictionary<string, int> sockets, connections;
        lock (_passes.EngineLock)
        {
            sockets = [];
            foreach (SocketKind kind in Enum.GetValues<SocketKind>())
                if (_sockets.CountOf(kind) is > 0 and int n) sockets[kind.ToString()] = n;
            connections = _tcp.ConnectionsByState();
        }
        return new NetstackStats
        {
            Timestamp = Scheduler.Now,
            FramesIn = c.FramesIn, BytesIn = c.BytesIn, FramesOut = c.FramesOut, BytesOut = c.BytesOut,
            Ipv4In = c.Ipv4In, Ipv6In = c.Ipv6In, UdpIn = c.UdpIn, UdpOut = c.UdpOut, TcpIn = c.TcpIn, TcpOut = c.TcpOut,
            IcmpIn = c.IcmpIn, IcmpOut = c.IcmpOut, FragmentsIn = c.FragmentsIn, DatagramsReassembled = c.DatagramsReassembled,
            FragmentsOut = c.FragmentsOut,
            TcpBytesIn = c.TcpBytesIn, TcpBytesOut = c.TcpBytesOut, UdpBytesIn = c.UdpBytesIn, UdpBytesOut = c.UdpBytesOut,
            IcmpBytesIn = c.IcmpBytesIn, IcmpBytesOut = c.IcmpBytesOut, RawIn = c.RawIn, RawOut = c.RawOut,
            TcpRetransmissions = _tcp.TcpCounters.SegmentsRetransmitted,
            SocketsByKind = sockets, ConnectionsByState = connections, Drops = drops,
            CommandsProcessed = c.CommandsProcessed, Passes = c.Passes, PassesOnCaller = c.PassesOnCaller, SegmentsCoalesced = _passes.SegmentsCoalesced, WakeupsArmed = c.WakeupsArmed, SubscriberFaults = c.SubscriberFaults, CommandsRefused = c.CommandsRefused,
            CommandsWaited = c.CommandsWaited, EngineFaults = c.EngineFaults, CommandQueueDepth = _passes.QueuedCommands,
            SynCookiesSent = c.SynCookiesSent, SynCookiesAccepted = c.SynCookiesAccepted,
            InterceptedSyns = c.InterceptedSyns, InterceptedSynRetransmits = c.InterceptedSynRetransmits,
            InterceptionsAccepted = c.InterceptionsAccepted, InterceptionsRefused = c.InterceptionsRefused,
            InterceptionsWithdrawn = c.InterceptionsWithdrawn, InterceptionsExpired = c.InterceptionsExpired,
            UdpFlowsOpened = c.UdpFlowsOpened, UdpFlowsExpired = c.UdpFlowsExpired,
            ArpIn = c.ArpIn, ArpOut = c.ArpOut, NdpIn = c.NdpIn, NdpOut = c.NdpOut, AddressConflicts = c.AddressConflicts,
            MembershipIn = c.MembershipIn, MembershipOut = c.MembershipOut,
            TcpFastRetransmits = t.FastRetransmits, TcpRecoveryEpisodes = t.RecoveryEpisodes, TcpTimeouts = t.Timeouts,
            TcpTailLossProbes = t.TailLossProbes, TcpReorderTimeouts = t.ReorderTimeouts, TcpDuplicateSacksReceived = t.DuplicateSacksReceived,
            TcpDuplicateSacksSent = t.DuplicateSacksSent, TcpSpuriousRetransmissionsUndone = t.SpuriousRetransmissionsUndone, TcpCongestionMarksReceived = t.CongestionMarksReceived,
            TcpCongestionEchoResponses = t.CongestionEchoResponses, TcpIcmpErrorsAccepted = t.IcmpErrorsAccepted, TcpPathMtuReductions = t.PathMtuReductions,
            TcpPathMtuBlackHoles = t.PathMtuBlackHoles, TcpPathMtuRaises = t.PathMtuRaises, TcpOutOfOrderDropped = t.OutOfOrderDropped, TcpPawsDrops = t.PawsDrops,
        };
    }

    /// <summary>Bytes held by incomplete IP datagrams (for tests of the reassembly limit and leaks).</summary>
    internal int ReassemblyMemoryInUse => _ip.ReassemblyMemoryInUse;

    /// <summary>How many sockets the table holds (for leak checks).</summary>
    internal int SocketCount => _sockets.Count;

    /// <summary>TCP connections by state, counted by walking every connection: for tests that check the tally.</summary>
    internal Dictionary<string, int> ConnectionsByStateCounted()
    {
        lock (_passes.EngineLock) return _tcp.ConnectionsByStateCounted();
    }

    /// <summary>The TCP counters (retransmissions, challenge ACKs, cookies …) for diagnostics and tests.</summary>
    internal TcpCounters TcpCounters => _tcp.TcpCounters;

    /// <summary>Destinations with a learned path MTU (for tests).</summary>
    internal int PathMtuEntries => _ip.PathMtuEntries;

    /// <summary>The TCP demultiplexer, for tests and benchmarks that reach a connection's control block.</summary>
    internal TcpDemux Tcp => _tcp;

    /// <summary>
    /// The live socket table as a change stream: each subscriber first gets one batch of <see cref="SocketTableChangeKind.Add"/>
    /// for every socket that exists, then a batch at the end of every engine pass in which sockets were added, removed or changed
    /// TCP state. Batches are delivered on the engine's scheduler (use <c>ObserveOn</c> for a UI thread). While nobody subscribes
    /// it costs nothing; while someone does, a pass costs only the sockets it touched. Completes when the stack is disposed.
    /// With several engines the first batch holds every engine's sockets and later batches come from each engine as they
    /// happen (docs/sharding.md).
    /// </summary>
    public IObservable<IReadOnlyList<SocketTableChange>> SocketTable => _shards?.SocketTable ?? EngineSocketTable;

    /// <summary>This engine's socket table (of a sharded stack, <see cref="SocketTable"/> merges every engine's).</summary>
    internal IObservable<IReadOnlyList<SocketTableChange>> EngineSocketTable => Observable.Create<IReadOnlyList<SocketTableChange>>(observer =>
    {
        var subscription = new SingleAssignmentDisposable();
        subscription.Disposable = Scheduler.Schedule((this, observer), static (_, state) =>
        {
            var (self, obs) = state;
            lock (self._passes.EngineLock)
            {
                if (self._passes.IsTornDown)
                {
                    obs.OnCompleted();
                    return Disposable.Empty;
                }
                if (self._sockets.Tracker is not { } tracker)
                {
                    tracker = self._sockets.Tracker = new SocketTableTracker(self.DescribeSocket);
                    tracker.Reset(self._sockets.All());
                }
                obs.OnNext(tracker.Snapshot());
                tracker.AddObserver(obs);
            }
            return Disposable.Empty;
        });
        return new CompositeDisposable(subscription, Disposable.Create((this, observer), static state =>
        {
            var (self, obs) = state;
            lock (self._passes.EngineLock)
            {
                if (self._sockets.Tracker is not { } tracker) return;
                tracker.RemoveObserver(obs);
                if (tracker.ObserverCount > 0) return;
                self._sockets.Tracker = null; // the last one left: stop tracking
            }
        }));
    });

    private SocketInfo DescribeSocket(SocketState socket) => socket switch
    {
        TcpStreamSocketState c => new SocketInfo(c.Handle, c.Tcb.Local, c.Tcb.Remote, c.Tcb.State, IpProtocol.Tcp, c.Tcb.Local.Address.Version),
        TcpListenerSocketState l => new SocketInfo(l.Handle, l.Local, null, TcpState.Listen, IpProtocol.Tcp, l.Local.Address.Version),
        UdpSocketState u => new SocketInfo(u.Handle, u.Local, u.Flow?.Remote, null, IpProtocol.Udp, u.Local.Address.Version),
        TcpInterceptorSocketState t => new SocketInfo(t.Handle, default, null, null, IpProtocol.Tcp, t.Prefixes[0].Address.Version),
        UdpInterceptorSocketState i => new SocketInfo(i.Handle, default, null, null, IpProtocol.Udp, i.Prefixes[0].Address.Version),
        RawSocketState r => new SocketInfo(r.Handle, default, null, null, r.Protocol, r.IpVersion),
        _ => new SocketInfo(socket.Handle, default, null, null, default, 0),
    };
}
