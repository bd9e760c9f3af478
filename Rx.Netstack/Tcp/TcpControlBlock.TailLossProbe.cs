using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>
    /// (Re)arms the probe timeout (RFC 8985 §7.2) after new data went out or an ACK acknowledged new data, when loss recovery
    /// wants one. Never after a timeout: then the retransmission timer alone runs until the peer answers.
    /// </summary>
    private void ArmTailLossProbe(Instant now) =>
        _timers.TailLossProbe = IsSynchronized && _snd.Retries == 0
            ? _recovery.ProbeTimeout(now, SenderView, _rtt.SmoothedRtt, _timers.Retransmit)
            : Instant.Never;

    /// <summary>The PTO fired (RFC 8985 §7.3): the next output is a probe, if the conditions still hold.</summary>
    private void OnTailLossProbeTimeout()
    {
        _timers.TailLossProbe = Instant.Never;
        if (IsSynchronized && _snd.Max > _snd.Una && _recovery.MayProbe) _pending |= TcpPendingOutput.TailLossProbe;
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
        bool retransmission = false;
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
            retransmission = true;
        }
        _recovery.OnProbeSent(_snd.Max, retransmission);
        _timers.TailLossProbe = Instant.Never; // after a probe only the retransmission timer runs (RFC 8985 §7.3)
        _timers.Retransmit = now + _rtt.Rto;
        _ctx.Counters.TailLossProbes++;
        return sent;
    }
}
