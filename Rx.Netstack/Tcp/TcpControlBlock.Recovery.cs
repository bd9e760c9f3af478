using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    private int _dupAcks;
    private bool _inRecovery;
    private SeqNumber _recoverPoint;  // RFC 6582 "recover" / RFC 6675 RecoveryPoint: one past the highest byte sent at entry
    private SeqNumber _highRxt;       // RFC 6675 HighRxt: one past the highest byte retransmitted in this recovery
    private bool _partialAckSeen;     // a partial ACK arrived in this recovery (RFC 6582 §3.2 step 5: timer reset once)

    /// <summary>
    /// A duplicate ACK (RFC 5681 §3.2; with SACK, RFC 6675 §5). The third one, or SACK information showing the first
    /// segment lost, starts fast retransmit and recovery, unless the loss is from before the last recovery or timeout
    /// (RFC 6582 §3.2 step 2: SND.UNA must be past "recover").
    /// </summary>
    private void OnDuplicateAck(Instant now)
    {
        _dupAcks++;
        if (_inRecovery)
        {
            if (!_opt.Sack) _cc.OnDuplicateAck(); // RFC 6582 §3.2 step 4: each further duplicate inflates cwnd by 1 SMSS
            return;
        }
        bool lossDetected = _dupAcks >= SackScoreboard.DupThresh
            || (_opt.Sack && _scoreboard.LostBoundary(_snd.Una, _opt.Smss) > _snd.Una);
        if (!lossDetected || _snd.Una < _recoverPoint) return;
        EnterRecovery(now);
    }

    private void EnterRecovery(Instant now)
    {
        _inRecovery = true;
        _partialAckSeen = false;
        _timers.TailLossProbe = Instant.Never; // fast recovery repairs from here (RFC 8985 §7.2: no PTO in recovery)
        _pending &= ~TcpPendingOutput.TailLossProbe;
        _recoverPoint = _snd.Max;
        _highRxt = _snd.Una;
        // The controller sets cwnd = ssthresh + 3·SMSS (RFC 6582 §3.2 step 3); RFC 6675 SACK recovery ignores that
        // inflation and uses ssthresh against the pipe instead.
        _cc.OnEnterRecovery(now, _snd.Max - _snd.Una);
        _pending |= TcpPendingOutput.FastRetransmit;
        _snd.RttTiming = false; // Karn: the timed segment may be the one retransmitted
        _ctx.Counters.FastRetransmits++;
        _ctx.Counters.RecoveryEpisodes++;
    }

    /// <summary>The recovery point was acknowledged: leave fast recovery, cwnd deflates to ssthresh (RFC 6582 §3.2 step 3).</summary>
    private void ExitRecovery(Instant now)
    {
        _inRecovery = false;
        _dupAcks = 0;
        _pending &= ~TcpPendingOutput.FastRetransmit;
        _cc.OnExitRecovery(now);
    }

    /// <summary>
    /// A partial ACK in recovery (RFC 6582 §3.2 step 5): the next hole is lost too. Without SACK: retransmit it, deflate
    /// cwnd by the newly acknowledged amount and add back one SMSS. With SACK the scoreboard drives repairs (RFC 6675), but
    /// a hole at SND.UNA not yet repaired is resent at once as well.
    /// </summary>
    private void OnPartialAck(Instant now, int acked)
    {
        _ = now;
        _dupAcks = 0;
        if (!_opt.Sack)
        {
            _cc.OnPartialAck(acked);
            _pending |= TcpPendingOutput.FastRetransmit;
        }
        else if (_snd.Una >= _highRxt && !_scoreboard.IsSacked(_snd.Una))
        {
            _pending |= TcpPendingOutput.FastRetransmit;
        }
    }

    /// <summary>
    /// How many bytes cwnd lets us send now. In SACK recovery it is ssthresh − pipe (RFC 6675 §5 step C: cwnd is ssthresh
    /// there); otherwise cwnd (inflated by the controller during NewReno recovery, extended by Limited Transmit) minus the bytes
    /// between SND.UNA and SND.NXT.
    /// </summary>
    private long CongestionRoom()
    {
        if (_inRecovery && _opt.Sack)
            return _cc.SlowStartThreshold - _scoreboard.Pipe(_snd.Una, _snd.Max, _highRxt, _opt.Smss);
        // RFC 3042 §2 (Limited Transmit): on each of the first two duplicate ACKs one new segment may go past cwnd, so a
        // small window still draws the third duplicate ACK that fast retransmit needs instead of waiting for the RTO.
        long limitedTransmit = _inRecovery ? 0 : Math.Min(_dupAcks, 2) * (long)_opt.Smss;
        return _cc.CongestionWindow + limitedTransmit - (long)(_snd.Nxt - _snd.Una);
    }

    /// <summary>NextSeg rule 1 (RFC 6675 §4): the first lost, un-SACKed, not yet retransmitted hole.</summary>
    private bool TryNextSackRepair(int maxLength, out SeqNumber start, out int length)
    {
        SeqNumber lost = SeqNumber.Min(_scoreboard.LostBoundary(_snd.Una, _opt.Smss), _snd.Max);
        SeqNumber from = SeqNumber.Max(_highRxt, _snd.Una);
        return _scoreboard.TryNextLostHole(from, lost, maxLength, out start, out length);
    }
}
