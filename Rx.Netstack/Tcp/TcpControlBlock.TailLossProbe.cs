using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time a probe allows for when one segment is in flight.</summary>
    private static readonly TimeSpan WorstCaseDelayedAck = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The shortest PTO. RFC 8985 §7.2 gives 2·SRTT, which on a link inside one host (SRTT of tens of microseconds) is shorter
    /// than a thread's scheduling delay: probes fired before the ACK had a chance to be processed, and every armed timer cost a
    /// wake-up. Linux adds two timer ticks (2–8 ms) for the same reason, QUIC clamps to its timer granularity.
    /// </summary>
    private static readonly TimeSpan MinProbeTimeout = TimeSpan.FromMilliseconds(10);

    private bool _tlpOutstanding;            // a probe was sent and its episode is not over (one at a time, RFC 8985 §7.3)
    private SeqNumber _tlpEnd;               // TLP.end_seq: SND.NXT when the probe went out

    /// <summary>
    /// (Re)arms the probe timeout (RFC 8985 §7.2) after new data went out or an ACK acknowledged new data: PTO = 2·SRTT (at least
    /// <see cref="MinProbeTimeout"/>), plus
    /// the worst-case delayed ACK when one segment is in flight, never later than the retransmission timer. Not armed without
    /// SACK or an RTT sample, in recovery, after a timeout, with SACKed data (loss detection already has what it needs) or
    /// while a probe is outstanding.
    /// </summary>
    private void ArmTailLossProbe(Instant now)
    {
        _timers.TailLossProbe = Instant.Never;
        if (!_settings.EnableTailLossProbe || !_opt.Sack || _rtt.SmoothedRtt is not { } srtt) return;
        if (!IsSynchronized || _snd.Max == _snd.Una || _inRecovery || _snd.Retries > 0 || _tlpOutstanding || !_scoreboard.IsEmpty) return;
        TimeSpan pto = srtt + srtt < MinProbeTimeout ? MinProbeTimeout : srtt + srtt;
        if (_snd.Max - _snd.Una <= _opt.Smss) pto += WorstCaseDelayedAck;
        Instant at = now + pto;
        _timers.TailLossProbe = _timers.Retransmit.IsNever || at < _timers.Retransmit ? at : _timers.Retransmit;
    }

    /// <summary>The PTO fired (RFC 8985 §7.3): the next output is a probe, if the conditions still hold.</summary>
    private void OnTailLossProbeTimeout()
    {
        _timers.TailLossProbe = Instant.Never;
        if (IsSynchronized && _snd.Max > _snd.Una && !_inRecovery && !_tlpOutstanding) _pending |= TcpPendingOutput.TailLossProbe;
    }

    /// <summary>
    /// The probe (RFC 8985 §7.3): one new full segment if there is unsent data the peer's window takes, otherwise the last
    /// segment sent again. Either way the retransmission timer is then re-armed from now (the probe has its own RTO).
    /// </summary>
    private bool TryBuildTailLossProbe(Instant now, int maxPayload, out TcpHeader header, out int payloadLength)
    {
        SeqNumber dataEnd = _snd.DataEnd;
        int unsent = Math.Max(0, dataEnd - _snd.Max);
        long windowRoom = (long)_snd.Window - (_snd.Max - _snd.Una);
        bool sent;
        if (unsent > 0 && windowRoom >= Math.Min(unsent, maxPayload) && _snd.Nxt == _snd.Max)
        {
            int length = Math.Min(unsent, maxPayload);
            sent = EmitData(now, out header, _snd.Max, length, out payloadLength, fin: _snd.FinQueued && length == unsent);
        }
        else
        {
            // The highest segment sent: its last data bytes (and the FIN with them, which EmitData adds back).
            SeqNumber dataHigh = SeqNumber.Min(_snd.Max, dataEnd);
            int length = Math.Min(maxPayload, Math.Max(0, dataHigh - _snd.Una));
            SeqNumber seq = dataHigh - length;
            if (length == 0 && !(_snd.FinQueued && _snd.Max == _snd.FinSequence + 1))
            {
                header = default;
                payloadLength = 0;
                return false;
            }
            sent = EmitData(now, out header, seq, length, out payloadLength, fin: _snd.FinQueued && _snd.Max == _snd.FinSequence + 1 && length == 0);
        }
        _tlpOutstanding = true;
        _timers.TailLossProbe = Instant.Never; // after a probe only the retransmission timer runs (RFC 8985 §7.3)
        _tlpEnd = _snd.Max;
        _timers.Retransmit = now + _rtt.Rto;
        _ctx.Counters.TailLossProbes++;
        return sent;
    }

    /// <summary>An ACK arrived: a probe's episode ends once everything up to TLP.end_seq is acknowledged (RFC 8985 §7.4).</summary>
    private void OnAckForTailLossProbe(SeqNumber ack)
    {
        if (_tlpOutstanding && ack >= _tlpEnd) _tlpOutstanding = false;
    }
}
