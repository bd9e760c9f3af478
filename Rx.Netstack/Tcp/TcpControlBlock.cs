using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// One TCP connection (RFC 9293) as a passive state machine, smoltcp style: <see cref="Process"/> takes a segment,
/// <see cref="TryGetSegment"/> hands out the segments to send now, <see cref="PollAt"/> is the next deadline and
/// <see cref="OnTimer"/> runs it. Time is always passed in; nothing here reads a clock, allocates per segment or throws on
/// the engine path. The engine owns demultiplexing, listeners, ports and the choice of ISN; this class owns everything
/// inside one connection.
/// <para>
/// Contract with the engine: after <see cref="Process"/>, <see cref="OnTimer"/> or any user call (<see cref="Send"/>,
/// <see cref="Receive"/>, <see cref="Close"/>, …) call <see cref="TryGetSegment"/> in a loop until it returns false, and
/// after each true result copy the payload with <see cref="CopyPayload"/> before the next call. Then re-arm the wake-up at
/// <see cref="PollAt"/>. A block in <see cref="TcpState.Closed"/> may be dropped (<see cref="IsFreeable"/>).
/// </para>
/// The file is split by concern: this part holds state, construction and the user side; <c>.Input</c> processes
/// segments, <c>.Output</c> builds them, <c>.Timers</c> runs deadlines and <c>.Recovery</c> holds loss recovery.
/// </summary>
internal sealed partial class TcpControlBlock
{
    /// <summary>RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: the MSS assumed when an IPv4 peer sends no MSS option.</summary>
    public const int DefaultMssV4 = 536;

    /// <summary>RFC 8200 §5 / RFC 9293 §3.7.1: the MSS assumed when an IPv6 peer sends no MSS option (1280 − 40 − 20).</summary>
    public const int DefaultMssV6 = 1220;

    /// <summary>The smallest MSS we go down to on "packet too big" (RFC 1191 §3 ignores MTUs below 68).</summary>
    public const int MinimumMss = 64;

    /// <summary>RFC 7323 §5.5: TS.Recent is invalid after 24 days idle (the PAWS rule).</summary>
    private static readonly TimeSpan PawsIdleLimit = TimeSpan.FromDays(24);

    /// <summary>Timer granularity G (RFC 6298 §2): the engine's timers are exact, 1 ms is the TSval unit.</summary>
    private static readonly TimeSpan ClockGranularity = TimeSpan.FromMilliseconds(1);

    private readonly TcpStackContext _ctx;
    private readonly TcpSettings _settings;
    private readonly ByteRing _sendRing;
    private readonly ByteRing _recvRing;
    private readonly SequenceRangeSet _recvOutOfOrder = new(32);
    private SeqNumber[]? _recentSackAnchors; // made at the first out-of-order segment: idle connections don't carry it
    private readonly SackScoreboard _scoreboard = new();
    private readonly bool _passive;
    private ICongestionControl _cc;
    private RttEstimator _rtt;

    // Send sequence space (RFC 9293 §3.3.1). _sndMax is the highest sequence number sent so far (SND.NXT is pulled back
    // to SND.UNA after a timeout for go-back-N retransmission, _sndMax is not).
    private SeqNumber _iss, _sndUna, _sndNxt, _sndMax, _sndWl1, _sndWl2;
    private SeqNumber _sendBase;      // sequence number of the first byte in _sendRing
    private int _sndWnd, _maxSndWnd;  // peer's window in bytes (scaled), and the largest seen
    private bool _finQueued;          // FIN follows the queued data
    private bool _closeAfterConnect;  // ShutdownWrite/Close in SYN-SENT: send the FIN once established
    private bool _appClosed;          // Close(): the application reads no more (RFC 1122 §4.2.2.13)
    private SeqNumber _probeHigh;     // the highest sequence number a zero-window probe reached

    // Receive sequence space.
    private SeqNumber _irs, _rcvNxt, _rcvAdvRight, _lastAckSent;
    private SeqNumber _rcvWndEdge;    // the furthest right edge we ever advertised: RCV.NXT + RCV.WND, where taking data stops
    private bool _finReceived, _hasPendingFin;
    private SeqNumber _pendingFinSeq;
    private int _recentSackCount;

    // Options (RFC 7323, RFC 2018).
    private int _sndScale, _rcvScale;
    private bool _sackEnabled, _tsEnabled;
    private uint _tsOffset, _tsRecent;
    private Instant _tsRecentAt;
    private int _mtuMss, _peerMss, _mss;
    private int _rcvMssEstimate;

    // Deadlines (Instant.Never when off).
    private Instant _rtoAt = Instant.Never, _delayedAckAt = Instant.Never, _persistAt = Instant.Never,
        _keepaliveAt = Instant.Never, _timeWaitAt = Instant.Never;
    private Instant _synDeadline = Instant.Never, _lastReceivedAt;

    // Pending output.
    private bool _synPending, _ackNow, _rstPending, _probePending, _keepalivePending, _swsOverride;
    private SeqNumber _rstSeq, _rstAck;
    private TcpFlags _rstFlags;

    // Retries.
    private int _synRetries, _retries, _persistBackoff, _persistProbes, _keepaliveProbes;
    private bool _synRetransmitted;
    private TcpError _softError;

    // RTT timing without timestamps (Karn's rule: one timed segment, never a retransmitted one).
    private bool _rttTiming;
    private SeqNumber _rttSeq;
    private Instant _rttStart;

    // Delayed ACK.
    private int _unackedReceivedBytes;

    // Statistics.
    private long _bytesSent, _bytesReceived, _segmentsRetransmitted;

    // The segment last returned by TryGetSegment, for CopyPayload.
    private int _lastPayloadOffset, _lastPayloadLength;

    private TcpControlBlock(TcpStackContext ctx, NetEndpoint local, NetEndpoint remote, TcpSettings settings, int maxSegmentSize,
        SeqNumber isn, Instant now, bool passive)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSegmentSize, MinimumMss);
        _ctx = ctx;
        _settings = settings;
        Local = local;
        Remote = remote;
        _passive = passive;
        _sendRing = new ByteRing(settings.SendBufferSize, ctx.BufferPool);
        _recvRing = new ByteRing(settings.ReceiveBufferSize, ctx.BufferPool);
        _mtuMss = Math.Min(maxSegmentSize, ushort.MaxValue);
        _peerMss = remote.Address.IsV6 ? DefaultMssV6 : DefaultMssV4;
        _mss = Math.Min(_mtuMss, _peerMss);
        _rcvMssEstimate = _mss;
        _iss = isn;
        _sndUna = _sndNxt = _sndMax = _probeHigh = isn;
        _sendBase = isn + 1;
        _recoverPoint = _highRxt = isn;
        // A per-connection TSval offset (RFC 7323 §5.4) taken from the ISN: ISNs (RFC 6528) grow with time for one 4-tuple, so
        // TSvals of a new incarnation are newer than the old one's and a SYN can take over a TIME-WAIT (RFC 6191).
        _tsOffset = isn.Value;
        _rtt = new RttEstimator(settings.InitialRto, settings.MinRto, settings.MaxRto, ClockGranularity);
        _cc = CongestionControl.Create(settings.CongestionControl, _mss);
        _lastReceivedAt = now;
        _rcvScale = 0;
        if (settings.EnableWindowScale)
            while (_rcvScale < 14 && (settings.ReceiveBufferSize >> _rcvScale) > ushort.MaxValue) _rcvScale++;
    }

    /// <summary>Active open (RFC 9293 §3.10.1): a block in SYN-SENT with its SYN ready to send.</summary>
    /// <param name="ctx">The stack's shared context.</param>
    /// <param name="local">Our endpoint.</param>
    /// <param name="remote">The peer's endpoint.</param>
    /// <param name="settings">Connection options.</param>
    /// <param name="maxSegmentSize">Our MSS from the route MTU: MTU − IP header − 20.</param>
    /// <param name="isn">Our initial sequence number (RFC 6528).</param>
    /// <param name="now">The engine time.</param>
    public static TcpControlBlock Connect(TcpStackContext ctx, NetEndpoint local, NetEndpoint remote, TcpSettings settings,
        int maxSegmentSize, SeqNumber isn, Instant now)
    {
        var tcb = new TcpControlBlock(ctx, local, remote, settings, maxSegmentSize, isn, now, passive: false)
        {
            State = TcpState.SynSent,
            _synPending = true,
        };
        tcb._synDeadline = SynGiveUpTime(settings, now);
        return tcb;
    }

    /// <summary>
    /// Passive open from a listener (RFC 9293 §3.10.7.2): a block in SYN-RECEIVED for <paramref name="syn"/> with the
    /// SYN-ACK ready to send. Options are agreed here: each one is used only if the SYN offered it and the settings allow it.
    /// </summary>
    public static TcpControlBlock AcceptSyn(TcpStackContext ctx, NetEndpoint local, NetEndpoint remote, in TcpHeader syn,
        TcpSettings settings, int maxSegmentSize, SeqNumber isn, Instant now)
    {
        var tcb = new TcpControlBlock(ctx, local, remote, settings, maxSegmentSize, isn, now, passive: true)
        {
            State = TcpState.SynReceived,
            _synPending = true,
        };
        tcb.AcceptPeerSyn(syn, now, weOfferedEverything: true);
        tcb._synDeadline = SynGiveUpTime(settings, now);
        return tcb;
    }

    /// <summary>
    /// A connection rebuilt from a valid SYN cookie (RFC 4987 §3.6) when the final ACK of the handshake arrives: straight to
    /// ESTABLISHED. Our ISN is <c>ack − 1</c>, the peer's <c>seq − 1</c>. A cookie keeps only the MSS, so the SYN-ACK the
    /// engine sent for it must carry no window-scale, SACK-permitted or timestamps option (see <see cref="MakeCookieSynAck"/>):
    /// then the peer uses none of them and neither do we. Any payload and FIN in <paramref name="finalAck"/> are processed.
    /// </summary>
    /// <param name="ctx">The stack's shared context.</param>
    /// <param name="local">Our endpoint.</param>
    /// <param name="remote">The peer's endpoint.</param>
    /// <param name="finalAck">The handshake's final ACK (already checked against the cookie by the engine).</param>
    /// <param name="payload">Its payload.</param>
    /// <param name="mss">The MSS the cookie recorded for the peer.</param>
    /// <param name="settings">Connection options.</param>
    /// <param name="maxSegmentSize">Our MSS from the route MTU.</param>
    /// <param name="now">The engine time.</param>
    public static TcpControlBlock FromCookie(TcpStackContext ctx, NetEndpoint local, NetEndpoint remote, in TcpHeader finalAck,
        ReadOnlySpan<byte> payload, int mss, TcpSettings settings, int maxSegmentSize, Instant now)
    {
        var tcb = new TcpControlBlock(ctx, local, remote, settings, maxSegmentSize, finalAck.Acknowledgment - 1, now, passive: true);
        tcb._rcvScale = 0;
        tcb._irs = finalAck.Sequence - 1;
        tcb._rcvNxt = finalAck.Sequence;
        tcb._rcvAdvRight = tcb._rcvWndEdge = tcb._rcvNxt + Math.Min(settings.ReceiveBufferSize, ushort.MaxValue);
        tcb._peerMss = Math.Max(MinimumMss, mss);
        tcb.UpdateMss();
        tcb._sndUna = tcb._sndNxt = tcb._sndMax = tcb._probeHigh = finalAck.Acknowledgment;
        tcb._sndWnd = tcb._maxSndWnd = finalAck.Window;
        tcb._sndWl1 = finalAck.Sequence;
        tcb._sndWl2 = finalAck.Acknowledgment;
        tcb.State = TcpState.Established;
        tcb.HasEstablished = true; // without it the engine never moves the connection to the accept queue
        tcb.ArmKeepalive(now);
        if (!payload.IsEmpty || finalAck.Has(TcpFlags.Fin))
        {
            TcpHeader rest = finalAck;
            rest.Flags &= ~TcpFlags.Syn;
            tcb.Process(now, rest, payload);
        }
        return tcb;
    }

    /// <summary>When a handshake gives up: InitialRto · (2^(MaxSynRetries+1) − 1) after the first SYN (127 s by default).</summary>
    private static Instant SynGiveUpTime(TcpSettings settings, Instant start)
    {
        Instant at = start;
        long span = settings.InitialRto.Ticks;
        for (int n = 0; n <= settings.MaxSynRetries; n++, span = Math.Min(span * 2, TimeSpan.FromDays(365).Ticks))
            at += TimeSpan.FromTicks(span);
        return at;
    }

    /// <summary>
    /// In TIME-WAIT, whether a new SYN for the same 4-tuple may start a new connection (RFC 9293 §3.10.7.4 note, RFC 6191):
    /// its sequence number is beyond what this connection received, or, with timestamps, its TSval is newer than the last
    /// one seen. If so the engine drops this block and accepts the SYN as new; otherwise the SYN gets a challenge ACK here.
    /// </summary>
    public bool CanReuseForSyn(in TcpHeader syn)
    {
        if (State != TcpState.TimeWait || !syn.Has(TcpFlags.Syn) || syn.Has(TcpFlags.Ack) || syn.Has(TcpFlags.Rst)) return false;
        if (_tsEnabled && syn.HasTimestamps) return TsBefore(_tsRecent, syn.TimestampValue);
        return syn.Sequence > _rcvNxt;
    }

    /// <summary>
    /// The SYN-ACK a listener sends for a SYN cookie (RFC 4987 §3.6): sequence number <paramref name="cookie"/>, only the
    /// MSS option, our window unscaled, so the connection <see cref="FromCookie"/> rebuilds agrees with the peer.
    /// </summary>
    public static TcpHeader MakeCookieSynAck(in TcpHeader syn, SeqNumber cookie, int mss, int receiveBufferSize) =>
        new(syn.DestinationPort, syn.SourcePort, TcpFlags.Syn | TcpFlags.Ack)
        {
            Sequence = cookie,
            Acknowledgment = syn.Sequence + 1,
            Window = (ushort)Math.Min(receiveBufferSize, ushort.MaxValue),
            MaxSegmentSize = (ushort)Math.Clamp(mss, MinimumMss, ushort.MaxValue),
        };

    /// <summary>The connection state.</summary>
    public TcpState State { get; private set; }

    /// <summary>Our endpoint.</summary>
    public NetEndpoint Local { get; }

    /// <summary>The peer's endpoint.</summary>
    public NetEndpoint Remote { get; }

    /// <summary>Why the connection closed; <see cref="TcpError.None"/> while open or after a graceful close.</summary>
    public TcpError Error { get; private set; }

    /// <summary>The connection's settings.</summary>
    public TcpSettings Settings => _settings;

    /// <summary>True once the handshake completed (any state after SYN-RECEIVED, or closed after being established).</summary>
    public bool HasEstablished { get; private set; }

    /// <summary>Bytes received in order and not yet read.</summary>
    public int ReceiveAvailable => ReceiveQueued;

    /// <summary>Bytes <see cref="Send"/> would accept now (0 when the connection cannot send).</summary>
    public int SendSpace => CanQueueData ? _sendRing.Free : 0;

    /// <summary>
    /// True when a sender with <paramref name="pending"/> bytes should be served now: the connection cannot take data any more
    /// (the sender learns why), or the free space holds all of it or a third of the buffer. Waking a blocked writer for every
    /// ACK that frees a segment's worth would cost a thread hop per 1,460 bytes; Linux waits for the same third
    /// (sk_stream_write_space) and the data still queued keeps the connection busy meanwhile.
    /// </summary>
    public bool SendSpaceWorthTaking(int pending) =>
        !CanQueueData || _sendRing.Free >= Math.Min(pending, Math.Max(1, _sendRing.Capacity / 3));

    /// <summary>True when the peer's FIN arrived and every byte before it was read (end of stream).</summary>
    public bool ReceiveFinished => _finReceived && ReceiveQueued == 0;

    /// <summary>True when a <see cref="Receive"/> call would return something other than 0 (data, EOF or error).</summary>
    public bool IsReadable => ReceiveQueued > 0 || _directCount > 0 || _finReceived || (State == TcpState.Closed && Error != TcpError.None);

    /// <summary>True when <see cref="Send"/> would accept at least one byte, or would fail (so a waiting sender wakes up).</summary>
    public bool IsWritable => SendSpace > 0 || !CanQueueData;

    /// <summary>True when the block is closed, its last RST (if any) was taken, and the engine may drop it.</summary>
    public bool IsFreeable => State == TcpState.Closed && !_rstPending;

    /// <summary>True while an array is rented for the send or receive ring or received frames are held (idle connections hold none).</summary>
    public bool HoldsBuffers => _sendRing.IsAllocated || _recvRing.IsAllocated || _held is not null;

    /// <summary>The earliest deadline: retransmission (or SYN retry), delayed ACK, persist, keepalive or TIME-WAIT end.</summary>
    public Instant PollAt =>
        Instant.Min(Instant.Min(Instant.Min(_rtoAt, _delayedAckAt), Instant.Min(_persistAt, _keepaliveAt)), Instant.Min(_timeWaitAt, _tlpAt));

    private bool CanQueueData => !_finQueued && !_closeAfterConnect && State is TcpState.SynSent or TcpState.SynReceived
        or TcpState.Established or TcpState.CloseWait;

    private bool IsSynchronized => State is not (TcpState.Closed or TcpState.Listen or TcpState.SynSent or TcpState.SynReceived);

    /// <summary>The largest payload of a segment without options (RFC 9293 §3.7.1); options come out of it (RFC 6691).</summary>
    private int MaxPayloadNoOptions => _mss;

    /// <summary>SMSS for congestion control: the payload of a full segment carrying the options every segment carries.</summary>
    private int Smss => Math.Max(1, _mss - (_tsEnabled ? 12 : 0));

    /// <summary>
    /// Queues bytes for sending (RFC 9293 §3.10.2). Returns how many were accepted (0 when the buffer is full), or −1 when
    /// the connection cannot send any more (closed, reset, or after <see cref="ShutdownWrite"/>/<see cref="Close"/>).
    /// </summary>
    public int Send(ReadOnlySpan<byte> data)
    {
        if (!CanQueueData) return -1;
        return _sendRing.Append(data);
    }

    /// <summary>
    /// Copies received bytes out (RFC 9293 §3.10.3). Returns the count, 0 when nothing is there (check
    /// <see cref="ReceiveFinished"/> for end of stream), or −1 once the connection was reset or aborted and nothing is left.
    /// Reading may make a window update pending (receiver-side SWS avoidance, RFC 9293 §3.8.6.2.2).
    /// </summary>
    public int Receive(Span<byte> destination)
    {
        int n = _recvRing.Read(destination);
        if (n < destination.Length && _heldCount > 0) n += ReadHeld(destination[n..]);
        if (n == 0)
            return State == TcpState.Closed && Error != TcpError.None ? -1 : 0;
        if (IsSynchronized && !_finReceived && State != TcpState.TimeWait && WindowUpdateWorthSending())
        {
            _ackNow = true;
            _ctx.Counters.WindowUpdates++;
        }
        ReleaseIdleBuffers();
        return n;
    }

    /// <summary>
    /// Half-close: send a FIN after the queued data (RFC 9293 §3.10.4); receiving goes on. In SYN-SENT the FIN waits for
    /// the handshake.
    /// </summary>
    public void ShutdownWrite()
    {
        switch (State)
        {
            case TcpState.SynSent:
            case TcpState.SynReceived:
                _closeAfterConnect = true; // the FIN follows the handshake
                break;
            case TcpState.Established:
                _finQueued = true;
                State = TcpState.FinWait1;
                break;
            case TcpState.CloseWait:
                _finQueued = true;
                State = TcpState.LastAck;
                break;
        }
    }

    /// <summary>
    /// Close (RFC 9293 §3.10.4): FIN after the pending data, and the application reads no more. In SYN-SENT the connection
    /// is simply dropped. If received data is still unread, or data arrives later, the peer gets a RST instead so it
    /// knows data was lost (RFC 1122 §4.2.2.13).
    /// </summary>
    public void Close()
    {
        _appClosed = true;
        switch (State)
        {
            case TcpState.Closed:
            case TcpState.Listen:
                Terminate(Error);
                return;
            case TcpState.SynSent:
                Terminate(TcpError.Aborted);
                return;
        }
        if (ReceiveQueued > 0 && IsSynchronizedOrSynReceived())
        {
            Abort();
            return;
        }
        ShutdownWrite();
        if (State == TcpState.FinWait2) ArmOrphanTimeout(_lastReceivedAt);
    }

    /// <summary>Abort (RFC 9293 §3.10.5): a RST now if the peer knows us, then CLOSED with <see cref="TcpError.Aborted"/>.</summary>
    public void Abort()
    {
        if (State is TcpState.SynReceived or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
            QueueReset(_sndMax, default, TcpFlags.Rst);
        Terminate(TcpError.Aborted);
    }

    /// <summary>
    /// An ICMP error for this connection (RFC 1122 §4.2.3.9, RFC 5461): soft errors are remembered and reported if the
    /// connection later times out; a hard error aborts only a connection still in SYN-SENT.
    /// </summary>
    public void OnIcmpError(bool isHard, TcpError error)
    {
        if (error == TcpError.None) return;
        _softError = error;
        if (isHard && State == TcpState.SynSent) Terminate(error);
    }

    /// <summary>Ends the connection at once with <paramref name="error"/> and without a RST (there is no way to send one).</summary>
    public void Fail(TcpError error) => Terminate(error);

    /// <summary>
    /// RFC 5927 §4.1: an ICMP error is believed only if the TCP sequence number it quotes is one we sent and is not yet
    /// acknowledged (SND.UNA ≤ SEG.SEQ &lt; SND.MAX); anything else is forged or stale and must not touch the connection.
    /// </summary>
    public bool IsQuotedSequenceInFlight(SeqNumber quoted) => quoted >= _sndUna && quoted < _sndMax;

    /// <summary>
    /// Path MTU discovery (RFC 1191 §6.3, RFC 8201 §5.4): the path takes at most <paramref name="mtu"/> bytes, so lower the
    /// MSS and resend what no longer fits (without treating it as congestion).
    /// </summary>
    public void OnPacketTooBig(int mtu)
    {
        int ipHeader = Remote.Address.IsV6 ? 40 : 20;
        if (mtu < (Remote.Address.IsV6 ? 1280 : 68)) return; // RFC 8201 §4 / RFC 1191 §3: bogus values
        int mss = Math.Max(MinimumMss, mtu - ipHeader - Wire.TcpHeader.MinHeaderLength);
        if (mss >= _mtuMss) return;
        _mtuMss = mss;
        UpdateMss();
        if (IsSynchronized && _sndMax > _sndUna)
        {
            _sndNxt = _sndUna; // resend in smaller segments
            _rttTiming = false;
        }
        else if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            _synPending = true;
        }
    }

    /// <summary>A snapshot for dashboards.</summary>
    public TcpConnectionInfo GetInfo(Instant now) => new(
        State,
        _rtt.SmoothedRtt,
        _rtt.RttVariance,
        _rtt.Rto,
        _cc.CongestionWindow,
        _cc.SlowStartThreshold,
        IsSynchronized ? _sndMax - _sndUna : 0,
        _sndWnd,
        IsSynchronized ? Math.Max(0, _rcvAdvRight - _rcvNxt) : 0,
        Smss,
        _bytesSent,
        _bytesReceived,
        _segmentsRetransmitted,
        Error,
        _inRecovery,
        _sackEnabled,
        _tsEnabled,
        _sndScale,
        _rcvScale,
        _sendRing.Count,
        ReceiveQueued);

    /// <summary>Returns the ring buffers' arrays to the pool if they are empty (also done automatically when drained and idle).</summary>
    public void ReleaseBuffers() => ReleaseIdleBuffers();

    private void ReleaseIdleBuffers()
    {
        if (_sendRing.Count == 0) _sendRing.Release();
        if (_recvRing.Count == 0 && _recvOutOfOrder.Count == 0) _recvRing.Release();
    }

    private bool IsSynchronizedOrSynReceived() => IsSynchronized || State == TcpState.SynReceived;

    private void UpdateMss()
    {
        _mss = Math.Max(MinimumMss, Math.Min(_mtuMss, _peerMss));
        _rcvMssEstimate = Math.Min(_rcvMssEstimate, _mss);
        _cc.SetMaxSegmentSize(Smss);
    }

    /// <summary>Ends the connection: CLOSED, every timer off; on an error the buffers are dropped (RFC 9293 §3.10.7.4).</summary>
    private void Terminate(TcpError error)
    {
        if (State == TcpState.Closed && Error != TcpError.None) error = Error;
        State = TcpState.Closed;
        Error = error;
        _rtoAt = _delayedAckAt = _persistAt = _keepaliveAt = _timeWaitAt = _tlpAt = Instant.Never;
        _synPending = _ackNow = _probePending = _keepalivePending = _tlpPending = false;
        _retransmitHead = false;
        _sendRing.Clear();
        _scoreboard.Clear();
        if (error != TcpError.None)
        {
            _recvRing.Clear();
            DiscardHeld();
            _recvOutOfOrder.Clear();
        }
        else
        {
            ReleaseIdleBuffers();
        }
    }

    private void QueueReset(SeqNumber seq, SeqNumber ack, TcpFlags flags)
    {
        _rstPending = true;
        _rstSeq = seq;
        _rstAck = ack;
        _rstFlags = flags;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.1: the reset answering a segment that matches no connection. Nothing answers a RST. A segment with
    /// an ACK gets <c>&lt;SEQ=SEG.ACK&gt;&lt;CTL=RST&gt;</c>; one without gets
    /// <c>&lt;SEQ=0&gt;&lt;ACK=SEG.SEQ+SEG.LEN&gt;&lt;CTL=RST,ACK&gt;</c>. Ports are swapped.
    /// </summary>
    public static bool TryMakeResetFor(in TcpHeader incoming, int payloadLength, out TcpHeader reset)
    {
        if (incoming.Has(TcpFlags.Rst))
        {
            reset = default;
            return false;
        }
        reset = new TcpHeader(incoming.DestinationPort, incoming.SourcePort, TcpFlags.Rst);
        if (incoming.Has(TcpFlags.Ack))
        {
            reset.Sequence = incoming.Acknowledgment;
        }
        else
        {
            reset.Sequence = new SeqNumber(0);
            reset.Acknowledgment = incoming.Sequence + incoming.SequenceLength(payloadLength);
            reset.Flags |= TcpFlags.Ack;
        }
        return true;
    }
}
