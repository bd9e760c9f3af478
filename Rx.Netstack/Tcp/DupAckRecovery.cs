using System.Diagnostics;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Loss recovery driven by duplicate ACKs: the third one (RFC 5681 §3.2), or the SACK scoreboard showing the first segment
/// lost (RFC 6675 §4 IsLost), starts fast retransmit and recovery. Without SACK, NewReno repairs one hole per partial ACK
/// (RFC 6582); with SACK, the scoreboard picks the holes (RFC 6675). What recovery sends per ACK is Proportional Rate
/// Reduction's budget (RFC 9937, <see cref="ProportionalRateReduction"/>); with it off, RFC 6675's ssthresh − pipe with SACK
/// and RFC 6582's inflated cwnd without. Tail loss probes (RFC 8985 §7) turn a lost tail into a loss these rules see, instead
/// of a timeout.
/// </summary>
internal sealed class DupAckRecovery : ILossRecovery
{
    /// <summary>RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time a probe allows for when one segment is in flight.</summary>
    private static readonly TimeSpan WorstCaseDelayedAck = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The shortest PTO. RFC 8985 §7.2 gives 2·SRTT, which on a link inside one host (SRTT of tens of microseconds) is shorter
    /// than a thread's scheduling delay: probes fired before the ACK had a chance to be processed, and every armed timer cost a
    /// wake-up. Linux adds two timer ticks (2–8 ms) for the same reason, QUIC clamps to its timer granularity.
    /// </summary>
    private static readonly TimeSpan MinProbeTimeout = TimeSpan.FromMilliseconds(10);

    private readonly ICongestionControl _cc;     // told of every ACK, loss and timeout
    private readonly bool _tailLossProbes;       // TcpSettings.EnableTailLossProbe
    private readonly SackScoreboard _scoreboard; // what the peer's SACK blocks say it holds above SND.UNA
    private int _dupAcks;                        // duplicate ACKs since the last ACK of new data (RFC 5681 §3.2)
    private bool _inRecovery;                    // in fast recovery
    private bool _reducing;                      // drawing cwnd down for an ECE by PRR, until SND.UNA reaches _reduceEnd (RFC 9937 §1)
    private SeqNumber _reduceEnd;                // SND.MAX at the ECE: the window of data the reduction answers for
    private SeqNumber _recoverPoint;             // RFC 6582 "recover" / RFC 6675 RecoveryPoint: SND.MAX at entry or at the last timeout
    private SeqNumber _highRxt;                  // RFC 6675 HighRxt: one past the highest byte resent in this recovery
    private bool _partialAckSeen;                // a partial ACK arrived in this recovery (RFC 6582 §3.2 step 5: timer reset once)
    private bool _probeOutstanding;              // a tail loss probe went out and its episode is not over (one at a time, RFC 8985 §7.3)
    private SeqNumber _probeEnd;                 // TLP.end_seq: SND.MAX when the probe went out
    private readonly RetransmissionUndo _undo;   // finds needless retransmissions (timestamps; D-SACK when SACK is on) and undoes
    private SeqNumber _pathProbeStart, _pathProbeEnd; // a path MTU probe in flight (empty: none)
    private readonly ProportionalRateReduction? _prr; // the send budget in recovery (RFC 9937); null: RFC 6675 / RFC 6582 rules
    private long _sackedBytes;                   // SACKed bytes above SND.UNA after the last ACK; without SACK, duplicate ACKs × SMSS
    private SeqNumber _lostBoundary;             // RFC 6675 IsLost boundary after the last ACK in recovery (a new loss moves it)
    private bool _headLost;                      // without SACK, in recovery: the segment at SND.UNA is lost and not yet resent
    private long _lastDelivered;                 // DeliveredData of the last ACK (an ECE on it starts PRR with it)

    /// <summary>cwnd is being drawn down, by fast recovery or an ECE's reduction: PRR (if on) sets the send budget.</summary>
    private bool Reducing => _inRecovery || _reducing;

    /// <summary>Recovery for a connection whose initial sequence number is <paramref name="iss"/>.</summary>
    /// <param name="cc">The connection's congestion controller.</param>
    /// <param name="tailLossProbes">Whether tail loss probes are sent (they also need SACK).</param>
    /// <param name="iss">ISS: no loss before it can start a recovery.</param>
    /// <param name="proportionalRateReduction">Whether PRR (RFC 9937) paces recovery.</param>
    /// <param name="sendBufferSize">The send buffer: how much can be in flight, so how many SACKed ranges to track.</param>
    public DupAckRecovery(ICongestionControl cc, bool tailLossProbes, SeqNumber iss, bool proportionalRateReduction,
        int sendBufferSize)
    {
        _cc = cc;
        _scoreboard = new SackScoreboard(sendBufferSize);
        // A model-based controller (BBR) sets its own window in recovery, as Linux skips PRR for one with cong_control.
        if (proportionalRateReduction && !cc.UsesRateSamples) _prr = new ProportionalRateReduction();
        _tailLossProbes = tailLossProbes;
        _recoverPoint = _highRxt = iss;
        _undo = new RetransmissionUndo(cc);
    }

    /// <inheritdoc />
    public bool InRecovery => _inRecovery;

    /// <inheritdoc />
    public bool MayProbe => !_inRecovery && !_probeOutstanding;

    /// <inheritdoc />
    public bool OnSackBlock(SackBlock block, SeqNumber floor, SeqNumber highData) => _scoreboard.Add(block, floor, highData);

    /// <summary>
    /// A duplicate ACK (RFC 5681 §3.2; with SACK, RFC 6675 §5). The third one, or SACK information showing the first
    /// segment lost, starts fast retransmit and recovery, unless the loss is from before the last recovery or timeout
    /// (RFC 6582 §3.2 step 2: SND.UNA must be past "recover").
    /// </summary>
    public LossRecoveryActions OnDuplicateAck(Instant now, in SenderView snd, TimeSpan? smoothedRtt)
    {
        _dupAcks++;
        long delivered = CountDelivered(snd, 0, newAck: false);
        _lastDelivered = delivered;
        if (_inRecovery)
        {
            // RFC 6582 §3.2 step 4: without PRR each further duplicate inflates cwnd by 1 SMSS.
            if (_prr is null && !snd.Sack) _cc.OnDuplicateAck();
            StepProportionalRateReduction(snd, delivered, safe: false);
            return LossRecoveryActions.None;
        }
        bool lossDetected = _dupAcks >= SackScoreboard.DupThresh
            || (snd.Sack && _scoreboard.LostBoundary(snd.Una, snd.Smss) > snd.Una);
        if (!lossDetected || snd.Una < _recoverPoint)
        {
            StepProportionalRateReduction(snd, delivered, safe: false); // an ECE's reduction counts what it delivered
            return LossRecoveryActions.None;
        }
        if (snd.Una >= _pathProbeStart && snd.Una < _pathProbeEnd)
        {
            // The path MTU probe at SND.UNA is what the peer misses: too big for the path, not congestion (RFC 4821 §7.6.2).
            // Reported once; the resend's duplicate ACKs then count from zero.
            _pathProbeEnd = _pathProbeStart;
            _dupAcks = 0;
            return LossRecoveryActions.PathProbeLost;
        }

        _inRecovery = true;
        _partialAckSeen = false;
        _recoverPoint = snd.Max;
        _highRxt = snd.Una;
        _headLost = true;
        if (_reducing)
        {
            // RFC 3168 §6.1.2: one reduction for the drops and CE marks of one window; recovery takes over the ECE's.
            _reducing = false;
        }
        else
        {
            _undo.Begin(snd);
            // The controller sets cwnd = ssthresh + 3·SMSS (RFC 6582 §3.2 step 3); RFC 6675 SACK recovery ignores that
            // inflation and uses ssthresh against the pipe instead, PRR its own budget.
            _cc.OnEnterRecovery(now, snd.InFlight);
            // RFC 9937 §6.1: RecoverFS is what may be delivered from here: in flight, lost, and what this ACK delivered.
            _prr?.Begin(snd.InFlight - _sackedBytes + delivered, Pipe(snd));
        }
        _lostBoundary = snd.Sack ? _scoreboard.LostBoundary(snd.Una, snd.Smss) : snd.Una;
        StepProportionalRateReduction(snd, delivered, safe: false);
        return LossRecoveryActions.EnteredRecovery | LossRecoveryActions.RetransmitFirst;
    }

    /// <summary>
    /// DeliveredData (RFC 9937 §6.2): the advance of SND.UNA plus the change in SACKed bytes. Without SACK each duplicate ACK
    /// stands for one SMSS that arrived, and the cumulative ACK that follows (<paramref name="newAck"/>) is credited less what
    /// they already counted.
    /// </summary>
    private long CountDelivered(in SenderView snd, int acked, bool newAck)
    {
        long sacked = snd.Sack ? _scoreboard.SackedBytes(snd.Una)
            : newAck ? 0
            : Math.Min((long)_dupAcks * snd.Smss, Math.Max(0, snd.InFlight - snd.Smss));
        long delivered = Math.Max(0, acked + sacked - _sackedBytes);
        _sackedBytes = sacked;
        return delivered;
    }

    /// <summary>
    /// The pipe (RFC 6675 §4 SetPipe) with SACK; without it, the flight less the segments duplicate ACKs reported delivered
    /// and less the lost segment at SND.UNA until it is resent (as Linux counts them for Reno).
    /// </summary>
    private long Pipe(in SenderView snd) =>
        snd.Sack ? _scoreboard.Pipe(snd.Una, snd.Max, _highRxt, snd.Smss)
            : Math.Max(0, snd.InFlight - _sackedBytes - (_headLost ? Math.Min(snd.Smss, snd.InFlight) : 0));

    /// <summary>The PRR step for an ACK in recovery (RFC 9937 §6.2), after loss detection.</summary>
    private void StepProportionalRateReduction(in SenderView snd, long delivered, bool safe)
    {
        if (_prr is null || !Reducing) return;
        _prr.OnAck(delivered, Pipe(snd), _cc.SlowStartThreshold, safe, snd.Smss);
    }

    /// <inheritdoc />
    public LossRecoveryActions OnNewAck(Instant now, in SenderView snd, int acked, int flightBefore, TimeSpan? smoothedRtt, uint? tsEcho)
    {
        SeqNumber ack = snd.Una;
        _scoreboard.AckedTo(ack);
        long delivered = CountDelivered(snd, acked, newAck: true);
        _lastDelivered = delivered;
        LossRecoveryActions actions = LossRecoveryActions.None;
        if (_undo.OnAck(ack, tsEcho))
        {
            // Eifel (RFC 3522): the original arrived; the controller is back where it was, recovery is over.
            _inRecovery = false;
            _dupAcks = 0;
            actions = LossRecoveryActions.Undone | LossRecoveryActions.LeftRecovery;
            _cc.OnAck(now, acked, flightBefore, smoothedRtt);
        }
        else if (!_inRecovery)
        {
            _dupAcks = 0;
            if (!_reducing) _cc.OnAck(now, acked, flightBefore, smoothedRtt);
            else if (ack >= _reduceEnd) EndEcnReduction(now); // everything in flight at the ECE is acknowledged
            else StepProportionalRateReduction(snd, delivered, safe: true);
        }
        else if (ack >= _recoverPoint)
        {
            // The recovery point was acknowledged: leave fast recovery, cwnd deflates to ssthresh (RFC 6582 §3.2 step 3).
            _inRecovery = false;
            _dupAcks = 0;
            _cc.OnExitRecovery(now);
            actions = LossRecoveryActions.LeftRecovery;
        }
        else
        {
            // RFC 6582 §3.2 step 5 and §4 (the "Impatient" variant): without SACK only the first partial ACK restarts the
            // retransmission timer, so a window with many holes, repaired one per round trip, ends in a timeout and
            // slow start instead of taking as many round trips as there are holes.
            if (!snd.Sack && _partialAckSeen) actions = LossRecoveryActions.KeepRetransmitTimer;
            _partialAckSeen = true;
            actions |= OnPartialAck(snd, acked);
            // Safe (PRR-SSRB) when no new loss shows: with SACK the IsLost boundary did not move past the old one; without
            // SACK a partial ACK always shows the next hole lost (RFC 6582 §3.2 step 5).
            bool safe = false;
            if (snd.Sack)
            {
                SeqNumber boundary = _scoreboard.LostBoundary(ack, snd.Smss);
                safe = boundary <= SeqNumber.Max(_lostBoundary, ack);
                _lostBoundary = boundary;
            }
            StepProportionalRateReduction(snd, delivered, safe);
        }
        // RFC 8985 §7.4: a probe's episode ends once everything up to TLP.end_seq is acknowledged.
        if (_probeOutstanding && ack >= _probeEnd) _probeOutstanding = false;
        return actions;
    }

    /// <summary>
    /// A partial ACK in recovery (RFC 6582 §3.2 step 5): the next hole is lost too. Without SACK: retransmit it, deflate
    /// cwnd by the newly acknowledged amount and add back one SMSS. With SACK the scoreboard drives repairs (RFC 6675), but
    /// a hole at SND.UNA not yet repaired is resent at once as well.
    /// </summary>
    private LossRecoveryActions OnPartialAck(in SenderView snd, int acked)
    {
        _dupAcks = 0;
        if (!snd.Sack)
        {
            _headLost = true; // RFC 6582 §3.2 step 5: the partial ACK shows the next segment lost
            if (_prr is null) _cc.OnPartialAck(acked);
            return LossRecoveryActions.RetransmitFirst;
        }
        return snd.Una >= _highRxt && !_scoreboard.IsSacked(snd.Una) ? LossRecoveryActions.RetransmitFirst : LossRecoveryActions.None;
    }

    /// <summary>
    /// The retransmission timer expired (RFC 6298 §5.4–5.6): congestion control learns of it (RFC 5681 §3.1), recovery ends
    /// and no fast recovery starts for losses from before the timeout (RFC 6582 §3.2 step 1, RFC 6675 §5.1); the scoreboard
    /// is cleared (RFC 2018 §8) and a probe's episode is over.
    /// </summary>
    public bool OnRetransmissionTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt)
    {
        _probeOutstanding = false;
        _undo.Begin(snd);
        _cc.OnRetransmissionTimeout(now, snd.InFlight);
        _recoverPoint = snd.Max;
        _inRecovery = false;
        _reducing = false;
        _dupAcks = 0;
        _scoreboard.Clear();
        _sackedBytes = 0;
        _highRxt = snd.Una;
        return true;
    }

    /// <inheritdoc />
    public void SetPathProbe(SeqNumber start, SeqNumber end)
    {
        _pathProbeStart = start;
        _pathProbeEnd = end;
    }

    /// <inheritdoc />
    public void OnSendBufferDiscarded()
    {
        _scoreboard.Clear();
        _sackedBytes = 0;
    }

    /// <summary>
    /// How many bytes cwnd lets us send now. In recovery with PRR it is PRR's window less the pipe; without, in SACK recovery it is ssthresh − pipe (RFC 6675 §5 step C: cwnd is ssthresh
    /// there); otherwise cwnd (inflated by the controller during NewReno recovery, extended by Limited Transmit) minus the bytes
    /// between SND.UNA and SND.NXT.
    /// </summary>
    public long CongestionRoom(in SenderView snd)
    {
        if (Reducing && _prr is not null) return _prr.Window - Pipe(snd); // RFC 9937
        if (_inRecovery && snd.Sack)
            return _cc.SlowStartThreshold - _scoreboard.Pipe(snd.Una, snd.Max, _highRxt, snd.Smss);
        // RFC 3042 §2 (Limited Transmit): on each of the first two duplicate ACKs one new segment may go past cwnd, so a
        // small window still draws the third duplicate ACK that fast retransmit needs instead of waiting for the RTO.
        long limitedTransmit = _inRecovery ? 0 : Math.Min(_dupAcks, 2) * (long)snd.Smss;
        return _cc.CongestionWindow + limitedTransmit - (long)(snd.Nxt - snd.Una);
    }

    /// <inheritdoc />
    public int RetransmitLength(SeqNumber seq, int maxLength) => _scoreboard.UnsackedRun(seq, maxLength);

    /// <summary>NextSeg rule 1 (RFC 6675 §4): the first lost, un-SACKed, not yet retransmitted hole.</summary>
    public bool TryNextRepair(in SenderView snd, int maxLength, out SeqNumber start, out int length)
    {
        SeqNumber lost = SeqNumber.Min(_scoreboard.LostBoundary(snd.Una, snd.Smss), snd.Max);
        SeqNumber from = SeqNumber.Max(_highRxt, snd.Una);
        return _scoreboard.TryNextLostHole(from, lost, maxLength, out start, out length);
    }

    /// <inheritdoc />
    public void OnSent(SeqNumber start, SeqNumber end, Instant now)
    {
        if (Reducing) _prr?.OnSent(end - start);
    }

    /// <inheritdoc />
    public void OnRetransmitted(SeqNumber start, SeqNumber end, Instant now, uint? tsVal)
    {
        if (_inRecovery && end > _highRxt) _highRxt = end;
        _headLost = false;
        if (Reducing) _prr?.OnSent(end - start);
        _undo.OnRetransmitted(start, tsVal);
    }

    /// <inheritdoc />
    public LossRecoveryActions OnDuplicateSack(SackBlock block, in SenderView snd)
    {
        if (!_undo.OnDuplicateSack(block, snd.Smss)) return LossRecoveryActions.None;
        _inRecovery = false; // RFC 3708: every retransmission was needless; the controller is restored
        _dupAcks = 0;
        return LossRecoveryActions.Undone | LossRecoveryActions.LeftRecovery;
    }

    /// <inheritdoc />
    public void OnCongestionEcho(Instant now, in SenderView snd)
    {
        _undo.Forget();
        if (Reducing) return; // the loss response already reduced the window for this one
        _cc.OnEnterRecovery(now, snd.InFlight);
        if (_prr is null)
        {
            _cc.OnExitRecovery(now); // BBR, or PRR off: the window steps down at once
            return;
        }
        // RFC 9937 §1 (RFC 6937 §1): PRR paces ECN's reduction too, over the window in flight now, from this ACK on (see
        // RackRecovery.OnCongestionEcho); cwnd is ssthresh once that window is acknowledged.
        _reducing = true;
        _reduceEnd = snd.Max;
        _prr.Begin(snd.InFlight - _sackedBytes + _lastDelivered, Pipe(snd));
        StepProportionalRateReduction(snd, _lastDelivered, safe: _lastDelivered > 0);
    }

    /// <summary>The ECE's reduction is over: cwnd becomes ssthresh.</summary>
    private void EndEcnReduction(Instant now)
    {
        _reducing = false;
        _cc.OnExitRecovery(now);
    }

    /// <inheritdoc />
    public Instant ReorderTimeout => Instant.Never;

    /// <inheritdoc />
    public LossRecoveryActions OnReorderTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt) => LossRecoveryActions.None;

    /// <summary>
    /// The probe timeout (RFC 8985 §7.2), after new data went out or an ACK acknowledged new data: PTO = 2·SRTT (at least
    /// <see cref="MinProbeTimeout"/>), plus the worst-case delayed ACK when one segment is in flight, never later than the
    /// retransmission timer. None without SACK or an RTT sample, in recovery, with SACKed data (loss detection already has
    /// what it needs) or while a probe is outstanding.
    /// </summary>
    public Instant ProbeTimeout(Instant now, in SenderView snd, TimeSpan? smoothedRtt, Instant retransmitAt)
    {
        if (!_tailLossProbes || _inRecovery || _probeOutstanding || !_scoreboard.IsEmpty) return Instant.Never;
        return ProbeDeadline(now, snd, smoothedRtt, retransmitAt);
    }

    /// <summary>
    /// RFC 8985 §7.2: PTO = 2·SRTT (at least <see cref="MinProbeTimeout"/>), plus the worst-case delayed ACK when one segment is
    /// in flight, never later than the retransmission timer; none without SACK, an RTT sample or data in flight.
    /// </summary>
    internal static Instant ProbeDeadline(Instant now, in SenderView snd, TimeSpan? smoothedRtt, Instant retransmitAt)
    {
        if (!snd.Sack || smoothedRtt is not { } srtt || snd.InFlight == 0) return Instant.Never;
        TimeSpan pto = srtt + srtt < MinProbeTimeout ? MinProbeTimeout : srtt + srtt;
        if (snd.InFlight <= snd.Smss) pto += WorstCaseDelayedAck;
        Instant at = now + pto;
        return retransmitAt.IsNever || at < retransmitAt ? at : retransmitAt;
    }

    /// <inheritdoc />
    public void OnProbeSent(SeqNumber end, bool retransmission)
    {
        _probeOutstanding = true;
        _probeEnd = end;
    }

    /// <inheritdoc />
    public void AssertValid(in SenderView snd)
    {
        Debug.Assert(_scoreboard.LiesWithin(snd.Una, snd.Max), $"the SACK scoreboard lies within [SND.UNA {snd.Una}, SND.MAX {snd.Max}]");
        Debug.Assert(!_inRecovery || (snd.Una <= _recoverPoint && _recoverPoint <= snd.Max),
            $"in recovery SND.UNA {snd.Una} ≤ recover {_recoverPoint} ≤ SND.MAX {snd.Max}");
    }
}
