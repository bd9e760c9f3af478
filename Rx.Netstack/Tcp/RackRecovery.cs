using System.Diagnostics;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// RACK-TLP (RFC 8985), for connections with SACK: a segment is lost when a segment sent after it was delivered and more than
/// the reordering window has passed since it was sent (§6), not when three duplicate ACKs arrived. The reordering window is
/// zero until reordering is seen, then a quarter of the minimum RTT, grown on each round that brings a D-SACK and shrunk
/// again after sixteen recoveries without one (§6.2 step 4). Losses are repaired from the marks (as RFC 6675's recovery, with
/// RACK's loss marks in place of IsLost), as many per ACK as Proportional Rate Reduction allows (RFC 9937,
/// <see cref="ProportionalRateReduction"/>; without it the pipe is held against ssthresh, RFC 6675 §5); tail loss probes
/// (§7) turn a lost tail into something RACK sees. Needless retransmissions found by D-SACK or timestamps are undone
/// (<see cref="RetransmissionUndo"/>).
/// </summary>
internal sealed class RackRecovery : ILossRecovery
{
    /// <summary>RFC 8985 §6.2 step 4: recoveries a grown reordering window lasts without a D-SACK (RACK.reo_wnd_persist).</summary>
    private const int ReorderWindowPersist = 16;

    /// <summary>
    /// How long an RTT sample stays RACK.min_RTT (RFC 8985 §6.2 step 4 suggests a windowed minimum; Linux keeps 5 minutes, its
    /// tcp_min_rtt_wlen): after a route change to a longer path the reordering window follows the new RTT.
    /// </summary>
    internal static readonly TimeSpan MinRttWindow = TimeSpan.FromMinutes(5);

    /// <summary>A cap on RACK.reo_wnd_mult; the window is bounded by SRTT anyway.</summary>
    private const int MaxReorderWindowMultiplier = 64;

    private readonly ICongestionControl _cc;       // told of every ACK, loss and timeout
    private readonly bool _tailLossProbes;         // TcpSettings.EnableTailLossProbe
    private readonly SackScoreboard _scoreboard; // which bytes above SND.UNA the peer SACKed
    private readonly SentSegmentLog _log = new();  // each segment in flight: when sent, SACKed, lost, retransmitted
    private readonly RetransmissionUndo _undo;     // needless retransmissions (D-SACK, timestamps) and the undo
    private bool _sackChanged;                     // SACK blocks since the log was last brought up to date
    private readonly ProportionalRateReduction? _prr; // the send budget in recovery (RFC 9937); null: RFC 6675's ssthresh − pipe
    private long _sackedBytes;                     // bytes SACKed above SND.UNA after the last ACK (for DeliveredData)
    private long _delivered;                       // DeliveredData of the ACK being handled (RFC 9937 §6.2)
    private bool _newLoss;                         // loss detection marked a segment lost on the event being handled
    private SeqNumber _pathProbeStart, _pathProbeEnd; // a path MTU probe in flight (empty: none): its loss is no congestion
    private bool _pathProbeReported;               // its loss was reported (PathProbeLost) once

    private bool _inRecovery;                      // in fast recovery (RACK found a loss)
    private bool _reducing;                        // drawing cwnd down for an ECE by PRR, until SND.UNA reaches _reduceEnd (RFC 9937 §1)
    private SeqNumber _reduceEnd;                  // SND.MAX at the ECE: the window of data the reduction answers for
    private bool _afterTimeout;                    // in the go-back-N after a timeout, until its recovery point is acknowledged
    private SeqNumber _recoverPoint;               // SND.MAX when recovery or the last timeout began

    private Instant _rackSentAt;                   // RACK.xmit_ts: latest send time of a delivered segment
    private SeqNumber _rackEnd;                    // RACK.end_seq: that segment's end
    private TimeSpan _rackRtt;                     // RACK.rtt: the RTT of that delivery
    private bool _rackAdvanced;                    // RACK.xmit_ts moved since losses were last looked for
    private SeqNumber _fack;                       // RACK.fack: the highest end of a delivered segment
    private WindowedMinimum _minRtt;               // RACK.min_RTT: the least RTT of a delivery of an original transmission, in the last MinRttWindow
    private bool _reorderingSeen;                  // RACK.reordering_seen: a segment was delivered below RACK.fack
    private int _reorderWindowMultiplier = 1;      // RACK.reo_wnd_mult: grown per round with a D-SACK
    private int _reorderWindowPersist;             // RACK.reo_wnd_persist: recoveries left before the multiplier resets
    private bool _dsackRoundActive;                // RACK.dsack_round is set: one growth per round trip
    private SeqNumber _dsackRound;                 // RACK.dsack_round: SND.MAX when the window last grew
    private Instant _reorderTimeout = Instant.Never; // the reordering timer (RFC 8985 §6.2 step 5)

    private int _smss = 1;                         // the SMSS at the last ACK, for the DupThresh rule of the reordering window
    private long _pipe;                            // cached pipe estimate (bytes in the network)
    private bool _pipeStale;                       // _pipe must be counted again

    private bool _probeOutstanding;                // a tail loss probe's episode is not over (RFC 8985 §7.3)
    private SeqNumber _probeEnd;                   // TLP.end_seq: SND.MAX when the probe went out
    private bool _probeRetransmission;             // TLP.is_retrans: the probe resent the last segment
    private bool _probeDuplicated;                 // a D-SACK reported the probe's data twice: nothing was lost (§7.4.2)

    /// <summary>Recovery for a connection whose initial sequence number is <paramref name="iss"/> and whose send buffer
    /// (how much can be in flight, so how many SACKed ranges to track) is <paramref name="sendBufferSize"/> bytes.</summary>
    public RackRecovery(ICongestionControl cc, bool tailLossProbes, SeqNumber iss, bool proportionalRateReduction,
        int sendBufferSize)
    {
        _cc = cc;
        _scoreboard = new SackScoreboard(sendBufferSize);
        // A model-based controller (BBR) sets its own window in recovery, as Linux skips PRR for one with cong_control.
        if (proportionalRateReduction && !cc.UsesRateSamples) _prr = new ProportionalRateReduction();
        _tailLossProbes = tailLossProbes;
        _recoverPoint = _fack = _rackEnd = iss;
        _undo = new RetransmissionUndo(cc);
    }

    /// <inheritdoc />
    public bool InRecovery => _inRecovery;

    /// <inheritdoc />
    public bool Repairing => _inRecovery || _afterTimeout;

    /// <summary>cwnd is being drawn down, by loss recovery or an ECE's reduction: PRR (if on) sets the send budget.</summary>
    private bool Reducing => _inRecovery || _reducing;

    /// <inheritdoc />
    public bool MayProbe => !_inRecovery && !_probeOutstanding;

    /// <inheritdoc />
    public Instant ReorderTimeout => _reorderTimeout;

    /// <summary>The reordering window in use now (RFC 8985 §6.2 step 4), for tests and diagnostics.</summary>
    internal TimeSpan ReorderWindow(TimeSpan? smoothedRtt) => ComputeReorderWindow(smoothedRtt, default);

    /// <summary>RACK.reo_wnd_mult.</summary>
    internal int ReorderWindowMultiplier => _reorderWindowMultiplier;

    /// <summary>True when the segment holding <paramref name="seq"/> is marked lost and <paramref name="seq"/> not resent since
    /// (tests).</summary>
    internal bool IsMarkedLost(SeqNumber seq)
    {
        int i = _log.IndexOf(seq);
        return i >= 0 && _log[i].Lost && seq >= _log[i].RepairedTo;
    }

    /// <summary>RACK.reordering_seen.</summary>
    internal bool ReorderingSeen => _reorderingSeen;

    /// <inheritdoc />
    public bool OnSackBlock(SackBlock block, SeqNumber floor, SeqNumber highData)
    {
        bool news = _scoreboard.Add(block, floor, highData);
        _sackChanged |= news;
        return news;
    }

    /// <summary>
    /// A D-SACK (RFC 2883): the data arrived twice, so a retransmission was needless — reordering, a delay longer than the
    /// reordering window, or a lost ACK that held the data's SACK. The same rule whatever the congestion controller:
    /// <list type="bullet">
    /// <item>It widens the reordering window by one step per round trip that brings one (RFC 8985 §6.2 step 4), which
    /// shrinks back after sixteen recoveries without one. Not for the tail loss probe's own duplicate: the probe went out on
    /// a timer, not because the window was too small (§7.4.2; Linux's FLAG_DSACK_TLP).</item>
    /// <item>It never sets RACK.reordering_seen: only an original transmission delivered below RACK.fack does (§6.2 step 3,
    /// Linux's tcp_check_sack_reordering). A lost ACK causes the same D-SACK without any reordering, and reordering seen
    /// makes every later repair wait the window, in recovery too.</item>
    /// </list>
    /// It also notes a duplicated probe (§7.4.2) and undoes the episode once all its retransmissions were duplicates (RFC 3708).
    /// </summary>
    public LossRecoveryActions OnDuplicateSack(SackBlock block, in SenderView snd)
    {
        bool probe = _probeOutstanding && block.Left < _probeEnd && block.Right >= _probeEnd;
        if (probe) _probeDuplicated = true;
        if (_dsackRoundActive && snd.Una >= _dsackRound) _dsackRoundActive = false;
        if (!_dsackRoundActive && !probe)
        {
            _dsackRoundActive = true;
            _dsackRound = snd.Max;
            _reorderWindowMultiplier = Math.Min(_reorderWindowMultiplier + 1, MaxReorderWindowMultiplier);
            _reorderWindowPersist = ReorderWindowPersist;
        }
        if (!_undo.OnDuplicateSack(block, snd.Smss)) return LossRecoveryActions.None;
        return EndEpisodeUndone(reordered: false);
    }

    /// <inheritdoc />
    public LossRecoveryActions OnDuplicateAck(Instant now, in SenderView snd, TimeSpan? smoothedRtt)
    {
        UpdateDelivered(now, snd.Una);
        CountDelivered(snd.Una, 0);
        LossRecoveryActions actions = DetectAndRecover(now, snd, smoothedRtt);
        StepProportionalRateReduction(snd, unaAdvanced: false);
        return actions;
    }

    /// <inheritdoc />
    public TimeSpan? DeliveryRtt(Instant now, SeqNumber ack)
    {
        TimeSpan? rtt = null;
        for (int i = 0; i < _log.Count && _log[i].End <= ack; i++)
        {
            // Karn's rule (RFC 6298 §3): a resent segment's delivery may be either transmission's.
            if (!_log[i].Retransmitted && !_log[i].Sacked) rtt = now - _log[i].SentAt;
        }
        return rtt;
    }

    /// <inheritdoc />
    public LossRecoveryActions OnNewAck(Instant now, in SenderView snd, int acked, int flightBefore, TimeSpan? smoothedRtt, uint? tsEcho)
    {
        SeqNumber ack = snd.Una;
        UpdateDelivered(now, ack);
        CountDelivered(ack, acked);
        LossRecoveryActions actions = LossRecoveryActions.None;
        if (_undo.OnAck(ack, tsEcho)) actions |= EndEpisodeUndone(reordered: _inRecovery);
        if (_dsackRoundActive && ack >= _dsackRound) _dsackRoundActive = false;

        if (_inRecovery && ack >= _recoverPoint)
        {
            _inRecovery = false;
            _cc.OnExitRecovery(now);
            OnRecoveryEnded();
            actions |= LossRecoveryActions.LeftRecovery;
        }
        else if (!_inRecovery && !EndEcnReduction(now, ack))
        {
            _cc.OnAck(now, acked, flightBefore, smoothedRtt);
        }
        if (_afterTimeout && ack >= _recoverPoint)
        {
            _afterTimeout = false;
            OnRecoveryEnded();
        }

        if (_probeOutstanding && ack >= _probeEnd)
        {
            // RFC 8985 §7.4.2: a probe that resent data and was not reported twice repaired a real loss: respond to it.
            _probeOutstanding = false;
            if (_probeRetransmission && !_probeDuplicated && !Reducing)
            {
                _undo.Begin(snd);
                _cc.OnEnterRecovery(now, flightBefore);
                _cc.OnExitRecovery(now);
            }
        }
        actions |= DetectAndRecover(now, snd, smoothedRtt);
        StepProportionalRateReduction(snd, unaAdvanced: true);
        return actions;
    }

    /// <inheritdoc />
    public LossRecoveryActions OnReorderTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt)
    {
        _reorderTimeout = Instant.Never;
        _rackAdvanced = true; // look again: time alone may have made segments lost
        _delivered = 0;
        LossRecoveryActions actions = DetectAndRecover(now, snd, smoothedRtt);
        StepProportionalRateReduction(snd, unaAdvanced: false); // delivers nothing: only a recovery it began may send (its first repair)
        return actions;
    }

    /// <summary>DeliveredData (RFC 9937 §6.2): the advance of SND.UNA plus the change in SACKed bytes above it.</summary>
    private void CountDelivered(SeqNumber una, int acked)
    {
        long sacked = _scoreboard.SackedBytes(una);
        _delivered = Math.Max(0, acked + sacked - _sackedBytes);
        _sackedBytes = sacked;
    }

    /// <summary>
    /// The PRR step for the event just handled, after loss detection (RFC 9937 §6.2): in recovery, the ACK's delivered data
    /// sets the window the sender holds against the pipe. Safe (PRR-SSRB) when it advanced SND.UNA and found no new loss.
    /// </summary>
    private void StepProportionalRateReduction(in SenderView snd, bool unaAdvanced)
    {
        if (_prr is null || !Reducing) return;
        _prr.OnAck(_delivered, Pipe(), _cc.SlowStartThreshold, unaAdvanced && !_newLoss, snd.Smss);
    }

    /// <summary>
    /// The retransmission timer expired (RFC 6298 §5.4–5.6): congestion control learns of it, recovery ends, and no new
    /// recovery starts for losses from before it (RFC 6675 §5.1). Then RFC 8985 §6.3 (RACK_mark_losses_on_RTO): the segment
    /// at SND.UNA is lost (it was sent an RTO ago), and of the others only those sent more than RACK.rtt + reo_wnd ago; a
    /// segment sent since may still be on its way. SACK information is kept (RFC 6675 §5.1 allows it where reneging is
    /// detected, and says to use it in the recovery after a timeout) unless the peer reneged: the segment at SND.UNA is
    /// SACKed, so the cumulative ACK stopped below data the peer had reported holding. Then the scoreboard is cleared (RFC
    /// 2018 §8) and everything is lost. No go-back-N: the sender resends the first segment now and the marked ones as cwnd
    /// allows (<see cref="Repairing"/>), never what the peer holds.
    /// </summary>
    public bool OnRetransmissionTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt)
    {
        _probeOutstanding = false;
        _undo.Begin(snd);
        _cc.OnRetransmissionTimeout(now, snd.InFlight);
        _recoverPoint = snd.Max;
        _inRecovery = false;
        _reducing = false;
        _afterTimeout = true;
        bool reneged = _log.Count > 0 && _log[0].Sacked;
        if (reneged)
        {
            _scoreboard.Clear();
            _sackedBytes = 0;
        }
        TimeSpan reorderWindow = ComputeReorderWindow(smoothedRtt, snd.Una); // zero unless reordering was seen (after a timeout)
        for (int i = 0; i < _log.Count; i++)
        {
            ref SentSegmentLog.Entry e = ref _log[i];
            if (reneged) e.Sacked = false;
            if (e.Sacked) continue;
            if (i == 0 || e.SentAt + _rackRtt + reorderWindow <= now)
            {
                e.Lost = true;
                e.RepairedTo = e.Start;
            }
        }
        _reorderTimeout = Instant.Never;
        _pipeStale = true;
        return false;
    }

    /// <inheritdoc />
    public void OnCongestionEcho(Instant now, in SenderView snd)
    {
        _undo.Forget();
        if (Reducing) return; // the loss response already reduced the window in this round trip
        _cc.OnEnterRecovery(now, snd.InFlight);
        if (_prr is null || _afterTimeout)
        {
            _cc.OnExitRecovery(now); // BBR, PRR off, or the repairs after a timeout: the window steps down at once
            return;
        }
        // RFC 9937 §1 (RFC 6937 §1): PRR paces any reduction, ECN's too: from this ACK (its delivered data counts, as Linux's
        // tcp_cwnd_reduction) until the window of data in flight now is acknowledged, sends follow ssthresh/RecoverFS of what
        // was delivered, and cwnd is ssthresh at the end (EndEcnReduction) instead of a step that stalls the sender.
        _reducing = true;
        _reduceEnd = snd.Max;
        _prr.Begin(snd.InFlight - _sackedBytes + _delivered, Pipe());
        StepProportionalRateReduction(snd, unaAdvanced: _delivered > 0);
    }

    /// <summary>An ACK at <paramref name="ack"/> outside loss recovery: true when it ends an ECE's reduction — everything in
    /// flight at the ECE is acknowledged, cwnd becomes ssthresh (and this ACK does not also grow it).</summary>
    private bool EndEcnReduction(Instant now, SeqNumber ack)
    {
        if (!_reducing) return false;
        if (ack < _reduceEnd) return true; // still reducing: cwnd does not grow meanwhile
        _reducing = false;
        _cc.OnExitRecovery(now);
        return true;
    }

    /// <inheritdoc />
    public void SetPathProbe(SeqNumber start, SeqNumber end)
    {
        _pathProbeStart = start;
        _pathProbeEnd = end;
        _pathProbeReported = false;
    }

    /// <inheritdoc />
    public void OnSendBufferDiscarded()
    {
        _scoreboard.Clear();
        _sackedBytes = 0;
        _log.Clear();
        _reorderTimeout = Instant.Never;
        _pipeStale = true;
    }

    /// <summary>
    /// How many bytes may go out now: the window less the pipe, the bytes still in the network — sent, not SACKed, not marked
    /// lost without being resent. In recovery the window is PRR's (RFC 9937), or ssthresh without it (RFC 6675 §5 step C);
    /// cwnd otherwise. During the go-back-N after a timeout everything between SND.UNA and SND.NXT counts.
    /// </summary>
    public long CongestionRoom(in SenderView snd)
    {
        long window = !Reducing ? _cc.CongestionWindow : _prr?.Window ?? _cc.SlowStartThreshold;
        if (snd.Nxt < snd.Max) return window - (snd.Nxt - snd.Una);
        return window - Pipe();
    }

    /// <inheritdoc />
    public long BytesInNetwork(in SenderView snd) => snd.Nxt < snd.Max ? snd.Nxt - snd.Una : Pipe();

    /// <inheritdoc />
    public int RetransmitLength(SeqNumber seq, int maxLength) => _scoreboard.UnsackedRun(seq, maxLength);

    /// <summary>The first hole of the oldest segment RACK marked lost that is not yet resent (RFC 8985 §6.2, repair).</summary>
    public bool TryNextRepair(in SenderView snd, int maxLength, out SeqNumber start, out int length)
    {
        for (int i = 0; i < _log.Count; i++)
        {
            ref SentSegmentLog.Entry e = ref _log[i];
            if (!e.Lost) continue;
            SeqNumber from = SeqNumber.Max(SeqNumber.Max(e.RepairedTo, e.Start), snd.Una);
            if (_scoreboard.TryNextLostHole(from, e.End, maxLength, out start, out length)) return true;
            e.Lost = false; // the rest of it was SACKed: nothing left to repair
            _pipeStale = true;
        }
        start = snd.Una;
        length = 0;
        return false;
    }

    /// <inheritdoc />
    public void OnSent(SeqNumber start, SeqNumber end, Instant now)
    {
        if (Reducing) _prr?.OnSent(end - start);
        _log.Append(start, end, now);
        if (!_pipeStale) _pipe += end - start;
    }

    /// <summary>
    /// Data was sent again: each segment it covers takes the new send time (RACK judges a retransmission by it, §6.2) and
    /// counts as retransmitted; a lost one's repair moves on.
    /// </summary>
    public void OnRetransmitted(SeqNumber start, SeqNumber end, Instant now, uint? tsVal)
    {
        _undo.OnRetransmitted(start, tsVal);
        if (Reducing) _prr?.OnSent(end - start);
        int i = _log.IndexOf(start);
        if (i < 0) return;
        for (; i < _log.Count; i++)
        {
            ref SentSegmentLog.Entry e = ref _log[i];
            if (e.Start >= end) break;
            e.Retransmitted = true;
            e.SentAt = now;
            if (e.Lost)
            {
                SeqNumber repaired = SeqNumber.Min(end, e.End);
                if (repaired > e.RepairedTo) e.RepairedTo = repaired;
                if (e.RepairedTo >= e.End) e.Lost = false;
            }
        }
        _pipeStale = true;
    }

    /// <summary>
    /// The probe timeout (RFC 8985 §7.2), as <see cref="DupAckRecovery"/> arms it, but never while the reordering timer runs
    /// or anything is SACKed: RACK already has what it needs to find the loss then.
    /// </summary>
    public Instant ProbeTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt, Instant retransmitAt)
    {
        if (!_tailLossProbes || _inRecovery || _probeOutstanding || !_scoreboard.IsEmpty || !_reorderTimeout.IsNever)
            return Instant.Never;
        return DupAckRecovery.ProbeDeadline(now, snd, smoothedRtt, retransmitAt);
    }

    /// <inheritdoc />
    public void OnProbeSent(SeqNumber end, bool retransmission)
    {
        _probeOutstanding = true;
        _probeEnd = end;
        _probeRetransmission = retransmission;
        _probeDuplicated = false;
    }

    /// <inheritdoc />
    public void AssertValid(in SenderView snd)
    {
        Debug.Assert(_scoreboard.LiesWithin(snd.Una, snd.Max), $"the SACK scoreboard lies within [SND.UNA {snd.Una}, SND.MAX {snd.Max}]");
        Debug.Assert(_log.LiesWithin(snd.Una, snd.Max), $"the sent-segment log lies within [SND.UNA {snd.Una}, SND.MAX {snd.Max}], in order");
        Debug.Assert(!_inRecovery || (snd.Una <= _recoverPoint && _recoverPoint <= snd.Max),
            $"in recovery SND.UNA {snd.Una} ≤ recover {_recoverPoint} ≤ SND.MAX {snd.Max}");
    }

    /// <summary>
    /// RFC 8985 §6.2 steps 2–3 for what this ACK delivered: segments wholly below the cumulative ACK or wholly SACKed
    /// advance RACK.xmit_ts (and RACK.rtt), raise RACK.fack, and show reordering when an original transmission arrives below
    /// it. Then the log forgets what is acknowledged.
    /// </summary>
    private void UpdateDelivered(Instant now, SeqNumber ack)
    {
        for (int i = 0; i < _log.Count; i++)
        {
            ref SentSegmentLog.Entry e = ref _log[i];
            if (e.End <= ack)
            {
                if (!e.Sacked) Deliver(ref e, now);
                continue;
            }
            if (!_sackChanged) break;
            if (!e.Sacked && _scoreboard.Covers(e.Start, e.End))
            {
                e.Sacked = true;
                e.Lost = false;
                Deliver(ref e, now);
            }
        }
        // The pipe follows a plain cumulative ACK without a recount (a recount walks the whole flight: O(flight) per ACK);
        // a changed SACK picture marks it for one.
        if (_sackChanged) _pipeStale = true;
        _sackChanged = false;
        long left = _log.AckedTo(ack);
        if (!_pipeStale) _pipe -= left;
        _scoreboard.AckedTo(ack);
        Debug.Assert(_pipeStale || _pipe == CountPipe(), "the pipe followed the ACK");
    }

    private void Deliver(ref SentSegmentLog.Entry e, Instant now)
    {
        TimeSpan rtt = now - e.SentAt;
        if (e.Retransmitted)
        {
            // §6.2 step 2: a delivery sooner than the least RTT after the resend was the original's; it says nothing of RACK.rtt.
            if (_minRtt.Value is { } min && rtt < min) return;
        }
        else
        {
            _minRtt.Update(now, rtt, MinRttWindow);
        }
        // §6.2 step 3: an original transmission delivered below the highest delivered end was reordered.
        if (e.End > _fack) _fack = e.End;
        else if (e.End < _fack && !e.Retransmitted) _reorderingSeen = true;
        if (SentAfter(e.SentAt, e.End, _rackSentAt, _rackEnd))
        {
            _rackSentAt = e.SentAt;
            _rackEnd = e.End;
            _rackRtt = rtt;
            _rackAdvanced = true;
        }
    }

    /// <summary>RFC 8985 §6.2: RACK_sent_after — later in time, or at the same time higher in sequence.</summary>
    private static bool SentAfter(Instant t1, SeqNumber end1, Instant t2, SeqNumber end2) => t1 > t2 || (t1 == t2 && end1 > end2);

    /// <summary>
    /// RFC 8985 §6.2 step 4: zero while no reordering was seen and recovery runs or DupThresh segments' worth are SACKed (the
    /// classic rule, quick where there is no reordering); otherwise min_RTT/4 per multiplier, at most SRTT.
    /// </summary>
    private TimeSpan ComputeReorderWindow(TimeSpan? smoothedRtt, SeqNumber una)
    {
        if (!_reorderingSeen)
        {
            if (_inRecovery || _afterTimeout) return TimeSpan.Zero;
            if (_scoreboard.SackedBytes(una) >= (long)SackScoreboard.DupThresh * _smss) return TimeSpan.Zero;
        }
        TimeSpan basis = _minRtt.Value ?? smoothedRtt ?? TimeSpan.Zero;
        TimeSpan window = TimeSpan.FromTicks(basis.Ticks / 4 * _reorderWindowMultiplier);
        return smoothedRtt is { } srtt && window > srtt ? srtt : window;
    }

    /// <summary>
    /// RFC 8985 §6.2 step 5 (RACK_detect_loss_and_arm_timer): every segment not delivered and sent before RACK.xmit_ts is lost
    /// once RACK.rtt + reo_wnd passed since it was sent; the others wait for the reordering timer. A first loss starts fast
    /// recovery (unless it is from before the last recovery or timeout, RFC 6582 §3.2 step 2).
    /// </summary>
    private LossRecoveryActions DetectAndRecover(Instant now, in SenderView snd, TimeSpan? smoothedRtt)
    {
        _smss = snd.Smss;
        _newLoss = false;
        if (!_rackAdvanced) return LossRecoveryActions.None;
        _rackAdvanced = false;
        TimeSpan reorderWindow = ComputeReorderWindow(smoothedRtt, snd.Una);
        bool lost = false, probeLost = false;
        TimeSpan wait = TimeSpan.Zero;
        for (int i = 0; i < _log.Count; i++)
        {
            ref SentSegmentLog.Entry e = ref _log[i];
            // The log is in sequence order, and first transmissions went out in sequence order: once one is not older than
            // RACK's segment, nothing after it is (a resent segment went out even later than its first send). Linux walks
            // its time-ordered queue the same way; it keeps the walk at O(1) per ACK without loss instead of O(flight).
            if (!e.Retransmitted && !SentAfter(_rackSentAt, _rackEnd, e.SentAt, e.End)) break;
            if (e.Sacked || (e.Lost && e.RepairedTo == e.Start)) continue;
            if (!SentAfter(_rackSentAt, _rackEnd, e.SentAt, e.End)) continue;
            TimeSpan remaining = e.SentAt + _rackRtt + reorderWindow - now;
            if (_pathProbeEnd > _pathProbeStart && e.Start >= _pathProbeStart && e.End <= _pathProbeEnd)
            {
                // RFC 4821 §7.6.2: the path MTU probe was too big, no congestion; the sender resends it at the MSS. Not marked
                // lost: its resend goes out in the same instant as new data sent before it, which RACK's tie-break would take
                // for later and so the resend for lost.
                probeLost |= remaining <= TimeSpan.Zero && !_pathProbeReported;
            }
            else if (remaining <= TimeSpan.Zero)
            {
                e.Lost = true;
                e.RepairedTo = e.Start;
                lost = true;
            }
            else if (remaining > wait)
            {
                wait = remaining;
            }
        }
        _reorderTimeout = wait > TimeSpan.Zero ? now + wait : Instant.Never;
        LossRecoveryActions probe = LossRecoveryActions.None;
        if (probeLost)
        {
            _pathProbeReported = true;
            probe = LossRecoveryActions.PathProbeLost;
        }
        if (!lost) return probe;
        _newLoss = true;
        _pipeStale = true;
        if (_inRecovery || snd.Una < _recoverPoint) return probe;

        _inRecovery = true;
        _recoverPoint = snd.Max;
        if (_reducing)
        {
            // RFC 3168 §6.1.2: one reduction for the drops and CE marks of one window. An ECE's reduction is under way: recovery
            // takes it over (its ssthresh and PRR state) without reducing again, as Linux's tcp_enter_recovery in CWR.
            _reducing = false;
        }
        else
        {
            _undo.Begin(snd);
            _cc.OnEnterRecovery(now, snd.InFlight);
            // RFC 9937 §6.1: RecoverFS is what may be delivered from here: in flight, lost, and what this ACK delivered.
            _prr?.Begin(snd.InFlight - _sackedBytes + _delivered, Pipe());
        }
        LossRecoveryActions actions = LossRecoveryActions.EnteredRecovery | probe;
        if (_log.Count > 0 && _log[0].Lost && _log[0].RepairedTo == _log[0].Start) actions |= LossRecoveryActions.RetransmitFirst;
        return actions;
    }

    /// <summary>RFC 8985 §6.2 step 4: after sixteen recoveries without a D-SACK the reordering window shrinks back.</summary>
    private void OnRecoveryEnded()
    {
        if (_reorderWindowPersist > 0 && --_reorderWindowPersist == 0) _reorderWindowMultiplier = 1;
    }

    /// <summary>
    /// The whole episode was needless (D-SACKs for all its retransmissions, or the Eifel test): nothing of it was lost.
    /// <paramref name="reordered"/>: in a fast recovery the timestamps showed the original arrived before its resend, so it
    /// was overtaken — reordering seen (as Linux's partial undo on tcp_packet_delayed; after a timeout it was a delay).
    /// A D-SACK undo does not say so: a lost ACK that hid a SACK makes the same needless resend (RFC 8985 §6.2 step 3 takes
    /// only an original delivered below RACK.fack).
    /// </summary>
    private LossRecoveryActions EndEpisodeUndone(bool reordered)
    {
        LossRecoveryActions actions = LossRecoveryActions.Undone;
        if (reordered) _reorderingSeen = true;
        if (_inRecovery) actions |= LossRecoveryActions.LeftRecovery;
        _inRecovery = false;
        _afterTimeout = false;
        // Nothing of the episode was lost: forget its marks (RACK finds a real loss again once later data is delivered).
        for (int i = 0; i < _log.Count; i++) _log[i].Lost = false;
        _pipeStale = true;
        return actions;
    }

    private long Pipe()
    {
        if (!_pipeStale) return _pipe;
        _pipe = CountPipe();
        _pipeStale = false;
        return _pipe;
    }

    /// <summary>The pipe counted entry by entry.</summary>
    private long CountPipe()
    {
        long pipe = 0;
        for (int i = 0; i < _log.Count; i++) pipe += _log[i].InNetwork;
        return pipe;
    }
}
