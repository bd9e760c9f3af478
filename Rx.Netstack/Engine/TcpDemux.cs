using System.Diagnostics;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// The TCP demultiplexer: connections by 4-tuple and listeners by local endpoint, what a segment does that no connection
/// takes (a SYN to a listener, a SYN cookie's ACK, a reset for a stray segment), ephemeral ports, SYN cookies and initial
/// sequence numbers, the flush of a connection (answer its requests, emit its segments, hand it to its listener, free it),
/// and the <see cref="Command.TcpListen"/> and <see cref="Command.TcpStream"/> commands. The protocol itself is the
/// connection's <see cref="TcpControlBlock"/>; this class never touches the device (it sends through the IP layer).
/// </summary>
/// <remarks>Commands are in <c>TcpDemux.Commands.cs</c>; all state is declared here.</remarks>
internal sealed partial class TcpDemux : TransportDemux
{
    /// <summary>A connection's key: its local and remote endpoints.</summary>
    private readonly record struct FourTuple(NetEndpoint Local, NetEndpoint Remote);

    /// <summary>Connections by 4-tuple, from the first SYN until CLOSED (or a new incarnation takes over a TIME-WAIT one).</summary>
    private readonly Dictionary<FourTuple, TcpStreamSocketState> _connections = [];

    /// <summary>The connection the last segment went to, while it is in <see cref="_connections"/>: a burst of one flow's
    /// segments skips the hash and the table (see <see cref="FindConnection"/>).</summary>
    private TcpStreamSocketState? _lastFound;

    /// <summary>Connections in the socket registry by <see cref="TcpState"/> (index); see <see cref="TallyState"/>.</summary>
    private readonly int[] _connectionsByState = new int[Enum.GetValues<TcpState>().Length];

    /// <summary>Listeners by local endpoint (a wildcard address for listeners on any).</summary>
    private readonly Dictionary<NetEndpoint, TcpListenerSocketState> _listeners = [];

    /// <summary>What all connections share: counters, the challenge-ACK limit, the ring pool, the segmentation offload.</summary>
    private readonly TcpStackContext _context;

    /// <summary>Initial sequence numbers (RFC 6528): a random secret, or one from <see cref="NetstackOptions.RandomSeed"/>.</summary>
    private readonly InitialSequenceNumbers _isn;

    /// <summary>SYN cookies for a full SYN queue (RFC 4987 §3.6): a random secret, or one from the seed.</summary>
    private readonly SynCookies _cookies;

    /// <summary>Hands out ephemeral ports (seeded per stack, so two stacks in one process pick different ones).</summary>
    private readonly PortAllocator _ports;

    /// <summary>This engine's place among the engines of a sharded stack: ephemeral ports of connects are picked so the
    /// flow hashes to this engine (docs/sharding.md). Unsharded by default.</summary>
    public FlowSharding Sharding { get; set; } = new(1, 0, 0);

    /// <summary>Connections counted in TIME-WAIT, held under <see cref="NetstackOptions.MaxTimeWaitConnections"/>.</summary>
    private int _timeWaitCount;

    /// <summary>TCP interceptors, in the order they were made (the longest matching prefix wins).</summary>
    private readonly List<TcpInterceptorSocketState> _interceptors = [];

    /// <summary>Undecided offers by 4-tuple, so a retransmitted SYN finds its offer (TcpDemux.Intercept.cs).</summary>
    private readonly Dictionary<FourTuple, TcpOffer> _offers = [];

    /// <summary>The last offer id handed out.</summary>
    private long _lastOfferId;

    public TcpDemux(IpLayer ip, PassScheduler passes, SocketRegistry sockets, NetstackOptions options, NetstackCounters counters, int seed)
        : base(ip, passes, sockets, options, counters)
    {
        _ports = new PortAllocator(seed * 104729);
        (_isn, _cookies) = CreateSecrets(options.RandomSeed);
        // A randomized challenge-ACK budget (CVE-2016-5696), repeatable with a RandomSeed.
        _context = new TcpStackContext(challengeAckJitter: options.RandomSeed is { } s ? new Random(s ^ 0x5961) : new Random());
    }

    /// <summary>Random secrets, or (with <see cref="NetstackOptions.RandomSeed"/>, for reproducible tests) secrets from the seed.</summary>
    private static (InitialSequenceNumbers, SynCookies) CreateSecrets(int? seed)
    {
        if (seed is not { } s) return (new InitialSequenceNumbers(), new SynCookies());
        var random = new Random(s);
        Span<byte> isnKey = stackalloc byte[16], cookieKey = stackalloc byte[16];
        random.NextBytes(isnKey);
        random.NextBytes(cookieKey);
        return (new InitialSequenceNumbers(isnKey), new SynCookies(cookieKey));
    }

    /// <summary>The TCP counters (retransmissions, challenge ACKs, cookies …) for diagnostics and tests.</summary>
    public TcpCounters TcpCounters => _context.Counters;

    /// <summary>The device's TCP segmentation offload changed: connections may send super-segments up to <paramref name="mtu"/> (0: none).</summary>
    public void SetSegmentationOffload(int mtu) => _context.SegmentationOffloadMtu = mtu;

    /// <summary>How many connections are in <paramref name="state"/> (from the tally).</summary>
    public int ConnectionsIn(TcpState state) => _connectionsByState[(int)state];

    /// <summary>Every connection in the 4-tuple table (for tests and benchmarks that reach a control block).</summary>
    public IEnumerable<TcpStreamSocketState> Connections => _connections.Values;

    // ---------------------------------------------------------------- input

    /// <summary>A segment for this stack (from the IP layer, via the stack).</summary>
    public void Receive(in IpInfo ip, ReadOnlySpan<byte> segment, Instant now)
    {
        if (TcpHeader.TryParse(segment, ip.Source, ip.Destination, out TcpHeader header, out ReadOnlySpan<byte> payload, verifyChecksum: !ip.ChecksumTrusted) != WireError.None)
        {
            Counters.Drop(DropReason.TcpMalformed);
            return;
        }
        Counters.TcpIn += ip.Coalesced.Count;
        var local = new NetEndpoint(ip.Destination, header.DestinationPort);
        var remote = new NetEndpoint(ip.Source, header.SourcePort);
        TcpStreamSocketState? connection = FindConnection(local, remote);
        if (connection is not null &&
            connection.Tcb.State == TcpState.TimeWait && header.Has(TcpFlags.Syn) && !header.Has(TcpFlags.Ack) &&
            connection.Tcb.CanReuseForSyn(header) && (ip.Intercepted ? FindInterceptor(local.Address) is not null : FindListener(local) is not null))
        {
            // RFC 6191 / RFC 9293 §3.10.7.4: a new incarnation may take over a 4-tuple in TIME-WAIT.
            RemoveFromTable(connection);
            if (!connection.Owned || connection.UserClosed) FreeConnection(connection);
            connection = null;
        }
        if (connection is not null)
        {
            // ip.Buffer: a connection may hold an in-order payload in the frame it came in (TcpControlBlock.TryHold).
            connection.Tcb.Process(now, header, payload, ip.Buffer, ip.Ecn == TcpEcn.CongestionExperienced, ip.Coalesced);
            // Emit what this segment calls for (an ACK every second full segment, RFC 5681 §4.2) now rather than once per
            // round: one ACK per round of frames would starve the sender's slow start of ACKs. A segment merged from a run
            // (a receive burst) that owes only that ACK leaves it to the round's flush while less than a quarter of the
            // window is unacknowledged (TcpControlBlock.MayStretchAck): one ACK per burst, not one per run.
            if (ip.Coalesced.Segments < 2 || !connection.Tcb.MayStretchAck) EmitSegments(connection, now);
            Passes.MarkDirty(connection);
            return;
        }
        if (ip.Intercepted)
        {
            InterceptInput(local, remote, header, payload.Length, now);
            return;
        }
        if (FindListener(local) is { } listener)
        {
            ListenerInput(listener, local, remote, header, payload, ip.Buffer, now);
            return;
        }
        Counters.Drop(DropReason.TcpNoConnection);
        SendResetFor(local, remote, header, payload.Length);
    }

    /// <summary>The connection of a 4-tuple, if any: the last one found when it matches, else from the table.</summary>
    private TcpStreamSocketState? FindConnection(NetEndpoint local, NetEndpoint remote)
    {
        if (_lastFound is { } last && last.Tcb.Local == local && last.Tcb.Remote == remote)
        {
            Debug.Assert(last.InTable, "the last connection found is in the table");
            return last;
        }
        if (!_connections.TryGetValue(new FourTuple(local, remote), out TcpStreamSocketState? connection)) return null;
        _lastFound = connection;
        return connection;
    }

    private TcpListenerSocketState? FindListener(NetEndpoint local)
    {
        if (_listeners.TryGetValue(local, out TcpListenerSocketState? listener)) return listener;
        return _listeners.TryGetValue(new NetEndpoint(local.Address.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, local.Port), out listener) ? listener : null;
    }

    /// <summary>RFC 9293 §3.10.7.2 (LISTEN): RST ignored, ACK answered with RST (unless it returns a SYN cookie), SYN opens a connection.</summary>
    private void ListenerInput(TcpListenerSocketState listener, NetEndpoint local, NetEndpoint remote, in TcpHeader header, ReadOnlySpan<byte> payload,
        TransmitBuffer? frame, Instant now)
    {
        if (header.Has(TcpFlags.Rst)) return;
        if (header.Has(TcpFlags.Ack) && !header.Has(TcpFlags.Syn))
        {
            if (Options.EnableSynCookies && TryAcceptCookie(listener, local, remote, header, payload, frame, now)) return;
            SendResetFor(local, remote, header, payload.Length); // RFC 9293 §3.10.7.2: an ACK to LISTEN is reset
            return;
        }
        if (!header.Has(TcpFlags.Syn) || header.Has(TcpFlags.Ack) || header.Has(TcpFlags.Fin)) return;
        if (remote.Address.IsMulticast || remote.Address.IsBroadcast || remote.Address.IsUnspecified || !Ip.IsLocalAddress(local.Address))
            return; // RFC 9293 §3.10.7.2: SYNs to or from broadcast/multicast are ignored

        int mss = MaxSegmentSizeFor(remote.Address);
        if (listener.AcceptQueue.Count >= listener.Backlog)
        {
            Counters.Drop(DropReason.TcpListenOverflow);
            return;
        }
        if (listener.HalfOpen >= listener.Backlog)
        {
            if (!Options.EnableSynCookies)
            {
                Counters.Drop(DropReason.TcpListenOverflow);
                return;
            }
            // SYN queue full: answer statelessly with a cookie (RFC 4987 §3.6).
            int peerMss = header.MaxSegmentSize != 0 ? header.MaxSegmentSize : (remote.Address.IsV6 ? TcpControlBlock.DefaultMssV6 : TcpControlBlock.DefaultMssV4);
            SeqNumber cookie = _cookies.Encode(local, remote, header.Sequence, Math.Min(peerMss, mss), now);
            TcpHeader synAck = TcpControlBlock.MakeCookieSynAck(header, cookie, mss, listener.Settings.ReceiveBufferSize);
            EmitSegment(local, remote, synAck, default);
            Counters.SynCookiesSent++;
            return;
        }
        SeqNumber isn = _isn.Next(local, remote, now);
        TcpControlBlock tcb = TcpControlBlock.AcceptSyn(_context, local, remote, header, listener.Settings, mss, isn, now, payload);
        if (AddConnection(tcb, listener, request: null) is not { } connection)
        {
            Counters.Drop(DropReason.SocketLimit);
            return;
        }
        listener.HalfOpen++;
        connection.CountedHalfOpen = true;
        Passes.MarkDirty(connection);
    }

    /// <summary>
    /// Admits the connection an ACK's valid SYN cookie stands for. True when the ACK was dealt with: admitted, or — with no
    /// room in the accept queue or the socket table — dropped and counted, as Linux does (the peer thinks it is connected and
    /// retransmits; a later copy of the ACK or its data admits it once there is room). A reset there would kill a
    /// connection that only had to wait. False when the cookie is not ours: the caller resets.
    /// </summary>
    private bool TryAcceptCookie(TcpListenerSocketState listener, NetEndpoint local, NetEndpoint remote, in TcpHeader header, ReadOnlySpan<byte> payload,
        TransmitBuffer? frame, Instant now)
    {
        if (!_cookies.TryDecode(local, remote, header.Acknowledgment - 1, header.Sequence - 1, now, out int mss)) return false;
        if (listener.AcceptQueue.Count >= listener.Backlog)
        {
            Counters.Drop(DropReason.TcpListenOverflow);
            return true;
        }
        TcpControlBlock tcb = TcpControlBlock.FromCookie(_context, local, remote, header, payload, mss, listener.Settings,
            MaxSegmentSizeFor(remote.Address), now, frame);
        if (AddConnection(tcb, listener, request: null) is not { } connection)
        {
            Counters.Drop(DropReason.SocketLimit);
            return true;
        }
        Counters.SynCookiesAccepted++;
        Passes.MarkDirty(connection);
        return true;
    }

    /// <summary>Adds a connection to the registry and the 4-tuple table; null when the registry is full (then
    /// <paramref name="request"/>, if any, is answered with <see cref="NetstackErrorKind.LimitReached"/>).</summary>
    private TcpStreamSocketState? AddConnection(TcpControlBlock tcb, TcpListenerSocketState? listener, PendingRequest? request)
    {
        var connection = new TcpStreamSocketState(this, Passes, tcb, listener);
        if (!TryAdd(connection, SocketKind.TcpStream, request)) return null;
        StartPathMtu(tcb);
        _connections.Add(new FourTuple(tcb.Local, tcb.Remote), connection);
        connection.InTable = true;
        TallyState(connection);
        AssertTallies();
        return connection;
    }

    /// <summary>
    /// Keeps <see cref="_connectionsByState"/> current for one connection. Every state change happens in a pass that flushes
    /// the connection (frames, timers and commands all mark it dirty), so calling this from the flush is enough.
    /// </summary>
    private void TallyState(TcpStreamSocketState c)
    {
        TcpState state = c.Tcb.State;
        if (c.TalliedState == state) return;
        if (c.TalliedState is { } old) _connectionsByState[(int)old]--;
        _connectionsByState[(int)state]++;
        c.TalliedState = state;
    }

    /// <summary>Takes a connection out of the per-state tally as it leaves the socket table.</summary>
    private void UntallyState(TcpStreamSocketState c)
    {
        if (c.TalliedState is not { } old) return;
        _connectionsByState[(int)old]--;
        c.TalliedState = null;
        Debug.Assert(_connectionsByState[(int)old] >= 0, "per-state tally went negative");
    }

    /// <summary>MSS for a peer: the path MTU to it (the link's, or what path MTU discovery learned) less the IP and TCP
    /// headers (RFC 9293 §3.7.1).</summary>
    private int MaxSegmentSizeFor(NetAddress remote) => MssOf(remote, Ip.PathMtuTo(remote, Passes.Now));

    private static int MssOf(NetAddress remote, int mtu) =>
        mtu - (remote.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength) - TcpHeader.MinHeaderLength;

    /// <summary>Tells a new connection what the IP layer knows of its path: the link's MSS, DF, and when a learned path MTU expires.</summary>
    private void StartPathMtu(TcpControlBlock tcb)
    {
        Instant now = Passes.Now;
        NetAddress remote = tcb.Remote.Address;
        int link = Ip.IsLocalAddress(remote) ? 65535 : Ip.Mtu;
        tcb.StartPathMtu(MssOf(remote, link), Ip.DontFragmentTo(remote, now), now + PathMtuCache.Lifetime);
    }

    private void SendResetFor(NetEndpoint local, NetEndpoint remote, in TcpHeader header, int payloadLength)
    {
        if (!Ip.IsLocalAddress(local.Address) || remote.Address.IsMulticast || remote.Address.IsBroadcast) return;
        if (!TcpControlBlock.TryMakeResetFor(header, payloadLength, out TcpHeader reset)) return;
        _context.Counters.ResetsSent++;
        EmitSegment(local, remote, reset, default);
    }

    /// <summary>Writes one segment (header + payload) after room for the IP header and sends it.</summary>
    private void EmitSegment(NetEndpoint local, NetEndpoint remote, in TcpHeader header, ReadOnlySpan<byte> payload)
    {
        Span<byte> segment = Ip.TransmitPayload;
        int headerLength = header.Length;
        payload.CopyTo(segment[headerLength..]);
        int length = TcpHeader.Emit(segment, header, payload.Length, local.Address, remote.Address, computeChecksum: !Ip.TransmitChecksumOffload);
        Counters.TcpOut++;
        Ip.Transmit(local.Address, remote.Address, IpProtocol.Tcp, length);
    }

    /// <summary>
    /// An ICMP error quoting a segment we sent (RFC 1122 §4.2.3.9, RFC 5927). It must name a connection by its 4-tuple and
    /// quote a sequence number in flight (SND.UNA ≤ SEG.SEQ &lt; SND.MAX, RFC 5927 §4.1: a blind attacker cannot guess one);
    /// a packet too big must also report an MTU below the connection's and not below the protocol's minimum (RFC 5927 §7,
    /// RFC 8201 §4). What passes lowers the path MTU (for this connection and, through the cache, later ones to the same
    /// destination) or is a soft error (<see cref="TcpControlBlock.OnIcmpError"/>); what does not is a counted drop.
    /// </summary>
    public void ReceiveIcmpError(in IcmpError error, ReadOnlySpan<byte> segment, Instant now)
    {
        if (!_connections.TryGetValue(new FourTuple(error.Local, error.Remote), out TcpStreamSocketState? connection))
        {
            Counters.Drop(DropReason.IcmpNoSocket);
            return;
        }
        TcpControlBlock tcb = connection.Tcb;
        if (!TcpHeader.TryReadQuoted(segment, out _, out _, out SeqNumber quoted) || !tcb.IsQuotedSequenceInFlight(quoted))
        {
            Counters.Drop(DropReason.IcmpOutOfWindow);
            return;
        }
        switch (error.Kind)
        {
            case IcmpErrorKind.PacketTooBig:
                int mtu = PathMtuCache.Plausible(error.IsV6, error.Mtu, error.QuotedTotalLength, tcb.PathMtu, out bool noDontFragment);
                if (mtu >= 0 && tcb.OnPacketTooBig(mtu, noDontFragment, now))
                {
                    Ip.LearnPathMtu(error.Remote.Address, mtu, noDontFragment, now);
                    break;
                }
                // Above the estimate: it may be about a path MTU probe, and narrows the search (RFC 8899 §4.6.2); not cached.
                int reported = PathMtuCache.Plausible(error.IsV6, error.Mtu, error.QuotedTotalLength, int.MaxValue, out _);
                if (reported < 0 || !tcb.OnProbePacketTooBig(reported, quoted, now))
                {
                    Counters.Drop(DropReason.IcmpBadMtu);
                    return;
                }
                break;
            case IcmpErrorKind.NetUnreachable:
                tcb.OnIcmpError(TcpError.NetworkUnreachable);
                break;
            case IcmpErrorKind.HostUnreachable or IcmpErrorKind.AdministrativelyProhibited:
                tcb.OnIcmpError(TcpError.HostUnreachable);
                break;
            case IcmpErrorKind.PortUnreachable or IcmpErrorKind.ProtocolUnreachable:
                tcb.OnIcmpError(TcpError.ConnectionRefused);
                break;
            default:
                Counters.Drop(DropReason.IcmpIgnored); // time exceeded, parameter problem: nothing for TCP to do (RFC 5461)
                return;
        }
        _context.Counters.IcmpErrorsAccepted++;
        Passes.MarkDirty(connection);
    }

    /// <summary>
    /// The device failed or completed: every connection that is not already closing quietly ends with
    /// <see cref="TcpError.DeviceLost"/> (its waiting requests fail with <see cref="NetstackErrorKind.Unreachable"/>),
    /// rather than retransmitting into nothing for minutes. Listeners and UDP sockets stay, ready for the next device.
    /// </summary>
    public void OnDeviceLost()
    {
        foreach (SocketState socket in Sockets.All().ToList())
        {
            if (socket is not TcpStreamSocketState c || c.Tcb.State is TcpState.Closed or TcpState.TimeWait) continue;
            c.Tcb.Fail(TcpError.DeviceLost);
            Passes.MarkDirty(c);
        }
    }

    // ---------------------------------------------------------------- flush

    /// <summary>
    /// After a connection changed: answer its waiting requests, emit its segments, hand it to its listener's accept queue when
    /// it became established, and free it once it is closed and nobody owns it.
    /// </summary>
    public void FlushConnection(TcpStreamSocketState c, Instant now)
    {
        TcpControlBlock tcb = c.Tcb;
        ServeReaders(c);
        ServeWriters(c);
        EmitSegments(c, now);
        TallyState(c);
        if (tcb.TakeConfirmedPathMtu() is > 0 and int confirmed) Ip.ConfirmPathMtu(tcb.Remote.Address, confirmed, now);

        if (!c.Connecting.IsEmpty)
        {
            if (tcb.HasEstablished)
            {
                c.Owned = true;
                Passes.Complete(c.Connecting.Dequeue()!, new Reply.Connected(c.Handle, tcb.Local, tcb.Remote));
            }
            else if (tcb.State == TcpState.Closed)
                Passes.Complete(c.Connecting.Dequeue()!, new Reply.Error(ErrorOf(tcb.Error, "connect")));
        }

        if (c.Listener is { } listener && !c.InAcceptQueue && tcb.HasEstablished)
        {
            if (tcb.State != TcpState.Closed || tcb.ReceiveAvailable > 0 || tcb.ReceiveFinished)
            {
                LeaveSynQueue(c, listener);
                c.InAcceptQueue = true;
                listener.AcceptQueue.Enqueue(c);
                Passes.MarkDirty(listener);
            }
        }

        if (tcb.State == TcpState.TimeWait && !c.CountedInTimeWait)
        {
            c.CountedInTimeWait = true;
            if (++_timeWaitCount > Options.MaxTimeWaitConnections)
            {
                // Over the cap: skip TIME-WAIT (as Linux does). Closing the block frees the socket below; merely leaving the
                // 4-tuple table kept it alive and re-counted it on every flush.
                Counters.Drop(DropReason.TcpTimeWaitOverflow);
                tcb.Fail(TcpError.None);
            }
        }

        if (tcb.State == TcpState.Closed)
        {
            RemoveFromTable(c);
            if (c.Listener is { } owner && !c.InAcceptQueue)
            {
                LeaveSynQueue(c, owner); // a half-open connection died before it was established
                c.Listener = null;
            }
            if (c.UserClosed || (!c.Owned && !c.InAcceptQueue && c.Connecting.IsEmpty)) FreeConnection(c);
            else tcb.ReleaseBuffers();
        }
        AssertTallies();
    }

    /// <summary>
    /// The demultiplexer's tallies agree with what they count: the per-state tally adds up to the connections in the registry
    /// (the walk behind <see cref="ConnectionsByStateCounted"/> is the test suite's check of each state), and the TIME-WAIT
    /// count is never negative.
    /// </summary>
    [Conditional("DEBUG")]
    private void AssertTallies()
    {
        int tallied = 0;
        foreach (int n in _connectionsByState)
        {
            Debug.Assert(n >= 0, "no state's tally is below zero");
            tallied += n;
        }
        Debug.Assert(tallied == Sockets.CountOf(SocketKind.TcpStream), "the per-state tally counts every connection in the registry once");
        Debug.Assert(_timeWaitCount >= 0, "the TIME-WAIT count is never negative");
    }

    /// <summary>Sends every segment the connection has ready (data, ACKs, FIN, RST, probes), straight from its send ring.</summary>
    private void EmitSegments(TcpStreamSocketState c, Instant now)
    {
        TcpControlBlock tcb = c.Tcb;
        while (tcb.TryGetSegment(now, out TcpHeader header, out int payloadLength))
        {
            Span<byte> segment = Ip.TransmitPayload;
            int headerLength = header.Length;
            if (payloadLength > 0 && Ip.CanGather(tcb.Remote.Address, headerLength + payloadLength))
            {
                // The device takes the payload where it is, in the send ring: only the headers are written here.
                TcpHeader.Emit(segment, header, payloadLength, tcb.Local.Address, tcb.Remote.Address, computeChecksum: false);
                tcb.GetPayloadSpans(out ReadOnlySpan<byte> first, out ReadOnlySpan<byte> second);
                Counters.TcpOut++;
                Ip.TransmitGathered(tcb.Local.Address, tcb.Remote.Address, headerLength, first, second, tcb.DontFragment,
                    ecn: tcb.SendEcnCapable ? TcpEcn.Ect0 : TcpEcn.NotEct);
                continue;
            }
            tcb.CopyPayload(segment.Slice(headerLength, payloadLength));
            int length = TcpHeader.Emit(segment, header, payloadLength, tcb.Local.Address, tcb.Remote.Address, computeChecksum: !Ip.TransmitChecksumOffload);
            Counters.TcpOut++;
            Ip.Transmit(tcb.Local.Address, tcb.Remote.Address, IpProtocol.Tcp, length, tcb.DontFragment,
                ecn: tcb.SendEcnCapable ? TcpEcn.Ect0 : TcpEcn.NotEct);
        }
    }

    private static void LeaveSynQueue(TcpStreamSocketState c, TcpListenerSocketState listener)
    {
        if (!c.CountedHalfOpen) return;
        c.CountedHalfOpen = false;
        listener.HalfOpen--;
        Debug.Assert(listener.HalfOpen >= 0, "a listener's SYN queue count is never negative");
    }

    private void RemoveFromTable(TcpStreamSocketState c)
    {
        if (c.CountedInTimeWait)
        {
            c.CountedInTimeWait = false;
            _timeWaitCount--;
        }
        if (!c.InTable) return;
        c.InTable = false;
        _connections.Remove(new FourTuple(c.Tcb.Local, c.Tcb.Remote));
        if (_lastFound == c) _lastFound = null;
    }

    private void FreeConnection(TcpStreamSocketState c)
    {
        RemoveFromTable(c);
        CloseSocket(c, NetstackError.Of(NetstackErrorKind.SocketClosed, "The connection was closed."));
        UntallyState(c);
    }

    private void ServeReaders(TcpStreamSocketState c)
    {
        TcpControlBlock tcb = c.Tcb;
        c.DeliverDirectRead();
        while (c.Readers.First is { } request)
        {
            if (tcb.ReceiveAvailable > 0)
            {
                if (request.CopiesOnOwnThread)
                {
                    Passes.Complete(request, Reply.Readable.Instance); // it asks again and copies on its own thread
                    continue;
                }
                // Claim before consuming: a reader cancelled meanwhile leaves the bytes in the ring for the next one.
                if (!request.TryClaim())
                {
                    c.Readers.Remove(request);
                    continue;
                }
                Reply reply;
                switch (request.Command)
                {
                    case Command.TcpStream.ReceiveInto into:
                        reply = new Reply.ReceivedInto(tcb.Receive(into.Destination.Span));
                        break;
                    default:
                        int max = request.Command is Command.TcpStream.Receive { MaxLength: int m } ? m : 64 * 1024;
                        byte[] data = new byte[Math.Min(max, tcb.ReceiveAvailable)];
                        int n = tcb.Receive(data);
                        reply = new Reply.Data(data.AsMemory(0, n));
                        break;
                }
                Passes.Deliver(request, reply);
                Passes.MarkDirty(c); // reading may open the window: the update goes out in this flush or the next
                continue;
            }
            if (tcb.ReceiveFinished)
            {
                Passes.Complete(request, request.Command is Command.TcpStream.ReceiveInto ? new Reply.ReceivedInto(0) : Reply.EndOfStream.Instance);
                continue;
            }
            if (tcb.State == TcpState.Closed)
            {
                Passes.Complete(request, new Reply.Error(ErrorOf(tcb.Error, "receive")));
                continue;
            }
            request.Waited = true;
            if (request.Command is Command.TcpStream.ReceiveInto) tcb.OfferReadBuffer(request); // in-order data goes straight in
            break;
        }
    }

    private void ServeWriters(TcpStreamSocketState c)
    {
        TcpControlBlock tcb = c.Tcb;
        while (c.Writers.First is { } request)
        {
            var send = (Command.TcpStream.Send)request.Command;
            if (tcb.SendSpace < send.Data.Length) tcb.ExpandSendBuffer(); // the buffer holds the writer back: auto-tune it
            if (!tcb.SendSpaceWorthTaking(send.Data.Length)) break;
            int n = tcb.Send(send.Data.Span);
            if (n > 0)
            {
                Passes.Complete(request, new Reply.Sent(n));
                continue;
            }
            if (n < 0)
            {
                Passes.Complete(request, new Reply.Error(tcb.Error != TcpError.None
                    ? ErrorOf(tcb.Error, "send")
                    : NetstackError.Bad(BadRequestReason.InvalidState, "The connection's sending side is shut down.")));
                continue;
            }
            break;
        }
    }

    private static NetstackError ErrorOf(TcpError error, string operation) => error switch
    {
        TcpError.ConnectionReset => NetstackError.Of(NetstackErrorKind.ConnectionReset, $"The peer reset the connection ({operation})."),
        TcpError.ConnectionRefused => NetstackError.Of(NetstackErrorKind.ConnectionRefused, $"The peer refused the connection ({operation})."),
        TcpError.TimedOut => NetstackError.Of(NetstackErrorKind.TimedOut, $"The connection timed out ({operation})."),
        TcpError.HostUnreachable => NetstackError.Of(NetstackErrorKind.Unreachable, $"The host is unreachable ({operation})."),
        TcpError.NetworkUnreachable => NetstackError.Of(NetstackErrorKind.Unreachable, $"The network is unreachable ({operation})."),
        TcpError.Aborted => NetstackError.Of(NetstackErrorKind.ConnectionAborted, $"The connection was aborted ({operation})."),
        TcpError.DeviceLost => NetstackError.Of(NetstackErrorKind.Unreachable, $"The stack's device failed or closed, so the connection ended ({operation})."),
        _ => NetstackError.Of(NetstackErrorKind.SocketClosed, $"The connection is closed ({operation})."),
    };
}
