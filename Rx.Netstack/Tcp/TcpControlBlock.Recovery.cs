namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    // Loss recovery is the ILossRecovery part's (DupAckRecovery); this file turns what it decides into the block's own
    // state: pending output, timers, Karn's rule, counters.

    /// <summary>The sender as loss recovery sees it, copied now.</summary>
    private SenderView SenderView => new(_snd.Una, _snd.Nxt, _snd.Max, _opt.Smss, _opt.Sack);

    /// <summary>A duplicate ACK (RFC 5681 §2, RFC 6675 §2): loss recovery may start fast retransmit.</summary>
    private void OnDuplicateAck(Instant now) => Apply(_recovery.OnDuplicateAck(now, SenderView));

    /// <summary>Carries out what loss recovery asked for; true when the retransmission timer is to keep running.</summary>
    private bool Apply(LossRecoveryActions actions)
    {
        if ((actions & LossRecoveryActions.EnteredRecovery) != 0)
        {
            _timers.TailLossProbe = Instant.Never; // fast recovery repairs from here (RFC 8985 §7.2: no PTO in recovery)
            _pending &= ~TcpPendingOutput.TailLossProbe;
            _snd.RttTiming = false; // Karn: the timed segment may be the one retransmitted
            _ctx.Counters.FastRetransmits++;
            _ctx.Counters.RecoveryEpisodes++;
        }
        if ((actions & LossRecoveryActions.LeftRecovery) != 0) _pending &= ~TcpPendingOutput.FastRetransmit;
        if ((actions & LossRecoveryActions.RetransmitFirst) != 0) _pending |= TcpPendingOutput.FastRetransmit;
        return (actions & LossRecoveryActions.KeepRetransmitTimer) != 0;
    }
}
