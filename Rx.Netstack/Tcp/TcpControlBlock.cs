using System.Diagnostics;
using Rx.Netstack.Engine;
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
/// <para>
/// Its state is in named parts, each a type with a comment per field, all declared below (gVisor's <c>sender</c> and
/// <c>receiver</c>, smoltcp's one <c>Timer</c>): <see cref="TcpSender"/>, <see cref="TcpReceiver"/>,
/// <see cref="TcpAgreedOptions"/>, <see cref="TcpTimers"/>, <see cref="TcpPendingOutput"/>, loss recovery behind
/// <see cref="ILossRecovery"/> and congestion control behind <see cref="ICongestionControl"/>. The partial files hold
/// behaviour only: this one construction and the user side, <c>.Input</c> segment processing, <c>.Output</c> segment
/// building, <c>.Timers</c> the deadlines, <c>.Recovery</c> and <c>.TailLossProbe</c> what loss recovery decides,
/// <c>.DirectRead</c> and <c>.HeldReceive</c> the two ways received data skips the ring.
/// </para>
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

    // What the stack shares and the user chose.
    private readonly TcpStackContext _ctx;    // counters, challenge-ACK limiter, buffer pool, segmentation offload
    private readonly TcpSettings _settings;   // buffer sizes, options offered, timeouts, retries

    // The connection itself (with State, Error, HasEstablished, Local and Remote below).
    private readonly bool _passive;           // opened by a listener: a RST in SYN-RECEIVED is a reset, not a refusal
    private bool _appClosed;                  // Close() was called: the application reads no more (RFC 1122 §4.2.2.13)
    private TcpError _softError;              // an ICMP soft error, reported if the connection times out (RFC 1122 §4.2.3.9)

    // The parts.
    private TcpSender _snd;                   // the sending half: send sequence space, peer's window, send buffer, retries
    private TcpReceiver _rcv;                 // the receiving half: receive sequence space, our window, receive buffer, FIN
    private TcpAgreedOptions _opt;            // what the handshake agreed: MSS, window scaling, SACK, timestamps
    private TcpTimers _timers = new();        // the deadlines, PollAt their earliest
    private TcpPendingOutput _pending;        // what the next segments owe the peer besides data
    private PendingReset _reset;              // the RST's numbers while TcpPendingOutput.Reset is pending
    private TcpEcn _ecn;                      // ECN (RFC 3168): agreed?, CE to echo, the once-per-window response
    private ILossRecovery _recovery;          // loss detection and recovery (RACK-TLP with SACK, duplicate ACKs without), chosen at the handshake
    private readonly ICongestionControl _cc;  // cwnd and ssthresh (NewReno or CUBIC), told of events by _recovery
    private RttEstimator _rtt;                // SRTT, RTTVAR and RTO (RFC 6298); replaced once after a retried SYN (§5.7)
    private TcpPathMtu _path;                 // path MTU discovery: the link's MSS, DF, when a lowered estimate is raised, black holes
    private readonly DeliveryRateSampler? _rate; // delivery rate samples, only for a controller that takes them (BBR)
    private TcpPacing _pacing;                // the next paced send time, and a timeout's loss state for a rate-based controller
    private int _arrivalSegmentSize;          // while Process runs on a merged segment: the size of the segments it merges, else 0

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
        _snd = new TcpSender(isn, new ByteRing(settings.SendBufferSize, ctx.BufferPool));
        _rcv = new TcpReceiver(new ByteRing(settings.ReceiveBufferSize, ctx.BufferPool), settings.ReceiveBufferLimit, now);
        // A per-connection TSval offset (RFC 7323 §5.4) taken from the ISN: ISNs (RFC 6528) grow with time for one 4-tuple, so
        // TSvals of a new incarnation are newer than the old one's and a SYN can take over a TIME-WAIT (RFC 6191).
        _opt = new TcpAgreedOptions(Math.Min(maxSegmentSize, ushort.MaxValue), remote.Address.IsV6 ? DefaultMssV6 : DefaultMssV4, isn.Value);
        _rcv.MssEstimate = _opt.Mss;
        _path = new TcpPathMtu { LinkMss = _opt.OurMss, DontFragment = !remote.Address.IsV6, RaiseAt = Instant.Never };
        _rtt = new RttEstimator(settings.InitialRto, settings.MinRto, settings.MaxRto, ClockGranularity);
        _cc = CongestionControl.Create(settings.CongestionControl, _opt.Mss, unchecked((int)isn.Value), settings.EnableHyStart);
        _rate = _cc.UsesRateSamples ? new DeliveryRateSampler() : null;
        _recovery = LossRecovery.Create(_cc, settings, isn, settings.EnableSack);
        if (settings.EnableWindowScale)
            while (_rcv.WindowScale < 14 && (settings.ReceiveBufferLimit >> _rcv.WindowScale) > ushort.MaxValue) _rcv.WindowScale++;
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
            _pending = TcpPendingOutput.Syn,
        };
        tcb._snd.SynGiveUpAt = SynGiveUpTime(settings, now);
        return tcb;
    }

    /// <summary>
    /// Passive open from a listener (RFC 9293 §3.10.7.2): a block in SYN-RECEIVED for <paramref name="syn"/> with the
    /// SYN-ACK ready to send. Options are agreed here: each one is used only if the SYN offered it and the settings allow it.
    /// Data on the SYN (<paramref name="synData"/>) is kept and acknowledged by the SYN-ACK.
    /// </summary>
    public static TcpControlBlock AcceptSyn(TcpStackContext ctx, NetEndpoint local, NetEndpoint remote, in TcpHeader syn,
        TcpSettings settings, int maxSegmentSize, SeqNumber isn, Instant now, ReadOnlySpan<byte> synData = default)
    {
        var tcb = new TcpControlBlock(ctx, local, remote, settings, maxSegmentSize, isn, now, passive: true)
        {
            State = TcpState.SynReceived,
            _pending = TcpPendingOutput.Syn,
        };
        tcb.AcceptPeerSyn(syn, now, weOfferedEverything: true);
        tcb.TakeSynData(now, syn, synData); // acknowledged by the SYN-ACK, read once the connection is accepted
        tcb._snd.SynGiveUpAt = SynGiveUpTime(settings, now);
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
    /// <param name="frame">The handed-over transmit buffer the payload lies in, if any (see <see cref="Process"/>).</param>
    public static TcpControlBlock FromCookie(TcpStackContext ctx, NetEndpoint local, NetEndpoint remote, in TcpHeader finalAck,
        ReadOnlySpan<byte> payload, int mss, TcpSettings settings, int maxSegmentSize, Instant now, TransmitBuffer? frame = null)
    {
        var tcb = new TcpControlBlock(ctx, local, remote, settings, maxSegmentSize, finalAck.Acknowledgment - 1, now, passive: true);
        tcb._rcv.WindowScale = 0;
        tcb._rcv.Irs = finalAck.Sequence - 1;
        tcb._rcv.Nxt = finalAck.Sequence;
        tcb._rcv.AdvertisedEdge = tcb._rcv.WindowEdge = tcb._rcv.Nxt + Math.Min(settings.ReceiveBufferSize, ushort.MaxValue);
        tcb._opt.PeerMss = Math.Max(MinimumMss, mss);
        tcb.UpdateMss();
        tcb.ChooseLossRecovery(); // a cookie agrees no SACK
        tcb._snd.Una = tcb._snd.Nxt = tcb._snd.Max = tcb._snd.ProbeHigh = finalAck.Acknowledgment;
        tcb._snd.Window = tcb._snd.MaxWindow = finalAck.Window;
        tcb._snd.Wl1 = finalAck.Sequence;
        tcb._snd.Wl2 = finalAck.Acknowledgment;
        tcb.State = TcpState.Established;
        tcb.HasEstablished = true; // without it the engine never moves the connection to the accept queue
        tcb.ArmKeepalive(now);
        if (!payload.IsEmpty || finalAck.Has(TcpFlags.Fin))
        {
            TcpHeader rest = finalAck;
            rest.Flags &= ~TcpFlags.Syn;
            tcb.Process(now, rest, payload, frame);
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
        if (_opt.Timestamps && syn.HasTimestamps) return TcpAgreedOptions.TsBefore(_opt.TsRecent, syn.TimestampValue);
        return syn.Sequence > _rcv.Nxt;
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
    public int ReceiveAvailable => _rcv.Queued;

    /// <summary>Bytes <see cref="Send"/> would accept now (0 when the connection cannot send).</summary>
    public int SendSpace => CanQueueData ? _snd.Buffer.Free : 0;

    /// <summary>
    /// True when a sender with <paramref name="pending"/> bytes should be served now: the connection cannot take data any more
    /// (the sender learns why), or the free space holds all of it or a third of the buffer. Waking a blocked writer for every
    /// ACK that frees a segment's worth would cost a thread hop per 1,460 bytes; Linux waits for the same third
    /// (sk_stream_write_space) and the data still queued keeps the connection busy meanwhile.
    /// </summary>
    public bool SendSpaceWorthTaking(int pending) =>
        !CanQueueData || _snd.Buffer.Free >= Math.Min(pending, Math.Max(1, _snd.Buffer.Capacity / 3));

    /// <summary>
    /// Send buffer auto-tuning (<see cref="TcpSettings.MaxSendBufferSize"/>), called when a writer waits for room: grows the
    /// buffer to twice the congestion window (rounded up to a power of two, at most the limit), so one window can be in flight
    /// while the next is already queued behind it and each ACK finds data to send (Linux's <c>tcp_sndbuf_expand</c>, gVisor's
    /// <c>computeTCPSendBufferSize</c>). A buffer already that large, or one with auto-tuning off, stays as it is; it does
    /// not shrink (an idle connection returns its array anyway).
    /// </summary>
    public void ExpandSendBuffer()
    {
        if (!CanQueueData) return;
        _snd.Buffer.GrowToward(2L * _cc.CongestionWindow, _settings.MaxSendBufferSize);
        AssertInvariants();
    }

    /// <summary>True when the peer's FIN arrived and every byte before it was read (end of stream).</summary>
    public bool ReceiveFinished => _rcv.FinReceived && _rcv.Queued == 0;

    /// <summary>True when a <see cref="Receive"/> call would return something other than 0 (data, EOF or error).</summary>
    public bool IsReadable => _rcv.Queued > 0 || _rcv.DirectCount > 0 || _rcv.FinReceived || (State == TcpState.Closed && Error != TcpError.None);

    /// <summary>True when <see cref="Send"/> would accept at least one byte, or would fail (so a waiting sender wakes up).</summary>
    public bool IsWritable => SendSpace > 0 || !CanQueueData;

    /// <summary>True when the block is closed, its last RST (if any) was taken, and the engine may drop it.</summary>
    public bool IsFreeable => State == TcpState.Closed && !IsPending(TcpPendingOutput.Reset);

    /// <summary>True while an array is rented for the send or receive ring or received frames are held (idle connections hold none).</summary>
    public bool HoldsBuffers => _snd.Buffer.IsAllocated || _rcv.Buffer.IsAllocated || _rcv.Held.IsAllocated;

    /// <summary>The segment <see cref="TryGetSegment"/> last returned is to go out ECN-capable, ECT(0) in its IP header
    /// (RFC 3168 §6.1.1: new data of a connection that agreed ECN).</summary>
    public bool SendEcnCapable => _ecn.LastSegmentCapable;

    /// <summary>The earliest deadline (<see cref="TcpTimers.Earliest"/>): when the engine must next call <see cref="OnTimer"/>.</summary>
    public Instant PollAt => _timers.Earliest;

    private bool CanQueueData => !_snd.FinQueued && !_snd.FinAfterHandshake && State is TcpState.SynSent or TcpState.SynReceived
        or TcpState.Established or TcpState.CloseWait;

    private bool IsSynchronized => State is not (TcpState.Closed or TcpState.Listen or TcpState.SynSent or TcpState.SynReceived);


    /// <summary>
    /// Queues bytes for sending (RFC 9293 §3.10.2). Returns how many were accepted (0 when the buffer is full), or −1 when
    /// the connection cannot send any more (closed, reset, or after <see cref="ShutdownWrite"/>/<see cref="Close"/>).
    /// </summary>
    public int Send(ReadOnlySpan<byte> data)
    {
        if (!CanQueueData) return -1;
        int n = _snd.Buffer.Append(data);
        AssertInvariants();
        return n;
    }

    /// <summary>
    /// Copies received bytes out (RFC 9293 §3.10.3). Returns the count, 0 when nothing is there (check
    /// <see cref="ReceiveFinished"/> for end of stream), or −1 once the connection was reset or aborted and nothing is left.
    /// Reading may make a window update pending (receiver-side SWS avoidance, RFC 9293 §3.8.6.2.2).
    /// </summary>
    public int Receive(Span<byte> destination)
    {
        int n = _rcv.Buffer.Read(destination);
        if (n < destination.Length && _rcv.Held.Count > 0) n += _rcv.Held.Read(destination[n..]);
        if (n == 0)
            return State == TcpState.Closed && Error != TcpError.None ? -1 : 0;
        if (IsSynchronized && !_rcv.FinReceived && State != TcpState.TimeWait && WindowUpdateWorthSending())
        {
            _pending |= TcpPendingOutput.Ack;
            _ctx.Counters.WindowUpdates++;
        }
        ReleaseIdleBuffers();
        AssertInvariants();
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
                _snd.FinAfterHandshake = true; // the FIN follows the handshake
                break;
            case TcpState.Established:
                _snd.FinQueued = true;
                State = TcpState.FinWait1;
                break;
            case TcpState.CloseWait:
                _snd.FinQueued = true;
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
        if (_rcv.Queued > 0 && IsSynchronizedOrSynReceived())
        {
            Abort();
            return;
        }
        ShutdownWrite();
        if (State == TcpState.FinWait2) ArmOrphanTimeout(_rcv.LastReceivedAt);
    }

    /// <summary>Abort (RFC 9293 §3.10.5): a RST now if the peer knows us, then CLOSED with <see cref="TcpError.Aborted"/>.</summary>
    public void Abort()
    {
        if (State is TcpState.SynReceived or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
            QueueReset(_snd.Max, default, TcpFlags.Rst);
        Terminate(TcpError.Aborted);
    }

    /// <summary>
    /// An ICMP destination unreachable for this connection (the engine checked its quoted sequence number, RFC 5927 §4.1).
    /// RFC 1122 §4.2.3.9 makes host, network and (RFC 5461 §4) port and protocol unreachable soft errors for a synchronized
    /// connection: remembered, and reported if it later times out. A connection still in SYN-SENT fails at once with the
    /// reason, as Linux's tcp_v4_err and tcp_v6_err do: the peer was never reached, and an application (curl's "no route to
    /// host") expects to hear so now rather than after two minutes of SYN retries.
    /// </summary>
    public void OnIcmpError(TcpError error)
    {
        if (error == TcpError.None) return;
        _softError = error;
        if (State == TcpState.SynSent) Terminate(error);
    }

    /// <summary>Ends the connection at once with <paramref name="error"/> and without a RST (there is no way to send one).</summary>
    public void Fail(TcpError error) => Terminate(error);

    /// <summary>
    /// RFC 5927 §4.1: an ICMP error is believed only if the TCP sequence number it quotes is one we sent and is not yet
    /// acknowledged (SND.UNA ≤ SEG.SEQ &lt; SND.MAX); anything else is forged or stale and must not touch the connection.
    /// </summary>
    public bool IsQuotedSequenceInFlight(SeqNumber quoted) => quoted >= _snd.Una && quoted < _snd.Max;

    /// <summary>A snapshot for dashboards.</summary>
    public TcpConnectionInfo GetInfo(Instant now) => new(
        State,
        _rtt.SmoothedRtt,
        _rtt.RttVariance,
        _rtt.Rto,
        _cc.CongestionWindow,
        _cc.SlowStartThreshold,
        IsSynchronized ? _snd.Max - _snd.Una : 0,
        _snd.Window,
        IsSynchronized ? Math.Max(0, _rcv.AdvertisedEdge - _rcv.Nxt) : 0,
        _opt.Smss,
        _snd.BytesSent,
        _rcv.BytesReceived,
        _snd.SegmentsRetransmitted,
        Error,
        _recovery.InRecovery,
        _opt.Sack,
        _opt.Timestamps,
        _snd.WindowScale,
        _rcv.WindowScale,
        _snd.Buffer.Count,
        _rcv.Queued,
        _snd.Buffer.Capacity,
        _rcv.Buffer.Capacity);

    /// <summary>Returns the ring buffers' arrays to the pool if they are empty (also done automatically when drained and idle).</summary>
    public void ReleaseBuffers() => ReleaseIdleBuffers();

    private void ReleaseIdleBuffers()
    {
        if (_snd.Buffer.Count == 0) _snd.Buffer.Release();
        if (_rcv.Buffer.Count == 0 && _rcv.OutOfOrder.Count == 0) _rcv.Buffer.Release();
    }

    private bool IsSynchronizedOrSynReceived() => IsSynchronized || State == TcpState.SynReceived;

    private void UpdateMss()
    {
        _opt.Mss = Math.Max(MinimumMss, Math.Min(_opt.OurMss, _opt.PeerMss));
        _rcv.MssEstimate = Math.Min(_rcv.MssEstimate, _opt.Mss);
        _cc.SetMaxSegmentSize(_opt.Smss);
    }

    /// <summary>Ends the connection: CLOSED, every timer off; on an error the buffers are dropped (RFC 9293 §3.10.7.4).</summary>
    private void Terminate(TcpError error)
    {
        if (State == TcpState.Closed && Error != TcpError.None) error = Error;
        State = TcpState.Closed;
        Error = error;
        _timers.CancelAll();
        _pending &= TcpPendingOutput.Reset; // the RST of an abort still goes out
        _snd.Buffer.Clear();
        _recovery.OnSendBufferDiscarded();
        _rate?.Clear();
        if (error != TcpError.None)
        {
            _rcv.Buffer.Clear();
            _rcv.Held.Discard();
            _rcv.OutOfOrder.Clear();
        }
        else
        {
            ReleaseIdleBuffers();
        }
    }

    /// <summary>True when <paramref name="output"/> is pending (not <see cref="Enum.HasFlag"/>: that boxes in unoptimised code).</summary>
    private bool IsPending(TcpPendingOutput output) => (_pending & output) != 0;

    /// <summary>
    /// Debug builds: every part's invariants hold (SND.UNA ≤ SND.NXT ≤ SND.MAX, buffer accounting, window edges, the SACK
    /// scoreboard within [SND.UNA, SND.MAX]), and a closed connection has no deadline and owes nothing but a RST. Called at
    /// the end of each entry point; Release builds compile the calls away.
    /// </summary>
    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        bool closed = State == TcpState.Closed;
        _snd.AssertValid(closed);
        _rcv.AssertValid();
        _recovery.AssertValid(SenderView);
        Debug.Assert(_rate is null || closed || _rate.LiesWithin(_snd.Una, _snd.Max), "the rate sampler's records lie within [SND.UNA, SND.MAX]");
        Debug.Assert(!closed || _timers.Earliest.IsNever, $"a closed connection has no deadline ({_timers.Earliest})");
        Debug.Assert(!closed || (_pending & ~TcpPendingOutput.Reset) == 0, $"a closed connection owes nothing but a RST ({_pending})");
    }

    /// <summary>True (and no longer pending) when <paramref name="output"/> was pending.</summary>
    private bool TakePending(TcpPendingOutput output)
    {
        bool pending = (_pending & output) != 0;
        _pending &= ~output;
        return pending;
    }

    private void QueueReset(SeqNumber seq, SeqNumber ack, TcpFlags flags)
    {
        _pending |= TcpPendingOutput.Reset;
        _reset = new PendingReset(seq, ack, flags);
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
