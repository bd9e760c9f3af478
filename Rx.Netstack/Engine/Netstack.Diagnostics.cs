using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Tcp;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    private NetstackStats SnapshotStats()
    {
        NetstackCounters c = _counters;
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
            CommandsProcessed = c.CommandsProcessed, Passes = c.Passes, PassesOnCaller = c.PassesOnCaller, WakeupsArmed = c.WakeupsArmed, SubscriberFaults = c.SubscriberFaults, CommandsRefused = c.CommandsRefused,
            CommandsWaited = c.CommandsWaited, EngineFaults = c.EngineFaults, CommandQueueDepth = _passes.QueuedCommands,
            SynCookiesSent = c.SynCookiesSent, SynCookiesAccepted = c.SynCookiesAccepted,
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

    /// <summary>The TCP demultiplexer, for tests and benchmarks that reach a connection's control block.</summary>
    internal TcpDemux Tcp => _tcp;
}
