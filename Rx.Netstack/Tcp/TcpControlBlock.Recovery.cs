using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    // Loss recovery is the ILossRecovery part's (RackRecovery with SACK, DupAckRecovery without); this file turns what it decides into the block's own
    // state: pending output, timers, Karn's rule, counters.

    /// <summary>The sender as loss recovery sees it, copied now.</summary>
    private SenderView SenderView => new(_snd.Una, _snd.Nxt, _snd.Max, _opt.Smss, _opt.Sack);

    /// <summary>A duplicate ACK (RFC 5681 §2, RFC 6675 §2): loss recovery may start fast retransmit.</summary>
    private void OnDuplicateAck(Instant now) => Apply(now, _recovery.OnDuplicateAck(now, SenderView, _rtt.SmoothedRtt));

    /// <summary>
    /// Picks loss recovery once the handshake settled SACK: RACK-TLP needs the peer's SACK blocks (RFC 8985 §1), duplicate
    /// ACKs do without. Before any data went out, so nothing recorded is lost in the swap.
    /// </summary>
    private void ChooseLossRecovery()
    {
        bool rack = _opt.Sack && _settings.EnableRack;
        if ((_recovery is RackRecovery) != rack) _recovery = LossRecovery.Create(_cc, _settings, _snd.Iss, _opt.Sack);
    }

    /// <summary>RACK's reordering timer fired (RFC 8985 §6.2 step 5).</summary>
    private void OnReorderTimeout(Instant now)
    {
        _timers.Reorder = Instant.Never;
        _ctx.Counters.ReorderTimeouts++;
        Apply(now, _recovery.OnReorderTimeout(now, SenderView, _rtt.SmoothedRtt));
    }

    /// <summary>
    /// The first SACK block of an ACK is a D-SACK (RFC 2883 §4) when it lies below the cumulative ACK, or inside the second
    /// block.
    /// </summary>
    private static bool IsDuplicateSack(in TcpHeader h) =>
        h.SackBlockCount > 0 && h.SackBlocks[0].Right > h.SackBlocks[0].Left
        && (h.SackBlocks[0].Right <= h.Acknowledgment
            || (h.SackBlockCount > 1 && h.SackBlocks[0].Left >= h.SackBlocks[1].Left && h.SackBlocks[0].Right <= h.SackBlocks[1].Right));

    /// <summary>Carries out what loss recovery asked for; true when the retransmission timer is to keep running.</summary>
    private bool Apply(Instant now, LossRecoveryActions actions)
    {
        _timers.Reorder = _recovery.ReorderTimeout;
        if ((actions & LossRecoveryActions.Undone) != 0)
        {
            _ctx.Counters.SpuriousRetransmissionsUndone++;
            // RFC 4015 §2 (Eifel response): after a needless timeout go on with new data; what was sent is in the network.
            if (_snd.Nxt < _snd.Max) _snd.Nxt = _snd.Max;
            _pending &= ~TcpPendingOutput.FastRetransmit;
        }
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
        if ((actions & LossRecoveryActions.PathProbeLost) != 0) OnPathProbeLost(now);
        return (actions & LossRecoveryActions.KeepRetransmitTimer) != 0;
    }
}
