namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>
    /// Runs every deadline that is due at <paramref name="now"/>: TIME-WAIT end, retransmission (or SYN retry), delayed
    /// ACK, persist (zero-window probe) and keepalive. The engine calls it when <c>now ≥ PollAt</c>; calling early is harmless.
    /// </summary>
    public void OnTimer(Instant now)
    {
        RunDueTimers(now);
        AssertInvariants();
    }

    private void RunDueTimers(Instant now)
    {
        if (State == TcpState.Closed) return;
        if (now >= _timers.TimeWait)
        {
            // TIME-WAIT over (RFC 9293 §3.10.8), or an orphaned FIN-WAIT-2 gave up waiting for the peer's FIN.
            _timers.TimeWait = Instant.Never;
            if (State is TcpState.TimeWait or TcpState.FinWait2)
            {
                Terminate(TcpError.None);
                return;
            }
        }
        if (now >= _timers.TailLossProbe)
        {
            OnTailLossProbeTimeout();
            if (IsPending(TcpPendingOutput.TailLossProbe) && now >= _timers.Retransmit) _timers.Retransmit = now + _rtt.Rto; // a PTO clamped to the RTO fires instead of it (RFC 8985 §7.2)
        }
        if (now >= _timers.Reorder) OnReorderTimeout(now);
        if (now >= _timers.Retransmit) OnRetransmissionTimeout(now);
        if (State == TcpState.Closed) return;
        if (now >= _timers.DelayedAck)
        {
            _timers.DelayedAck = Instant.Never;
            _pending |= TcpPendingOutput.Ack;
        }
        if (now >= _timers.Pace) _timers.Pace = Instant.Never; // the paced data goes out as the engine flushes
        if (now >= _timers.Persist) OnPersistTimeout(now);
        if (State == TcpState.Closed) return;
        if (now >= _timers.KeepAlive) OnKeepaliveTimeout(now);
    }

    /// <summary>
    /// The retransmission timer expired (RFC 6298 §5.4–5.6): back off, resend from SND.UNA (go-back-N, SACK scoreboard
    /// cleared per RFC 2018 §8; with RACK only what is marked lost, RFC 8985 §6.3), tell congestion control (RFC 5681 §3.1),
    /// and give up after the configured retries.
    /// </summary>
    private void OnRetransmissionTimeout(Instant now)
    {
        _timers.Retransmit = Instant.Never;
        if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            _ctx.Counters.Timeouts++;
            if (_snd.SynRetries >= _settings.MaxSynRetries)
            {
                GiveUp();
                return;
            }
            _snd.SynRetries++;
            _rtt.BackOff();
            _pending |= TcpPendingOutput.Syn;
            _timers.Retransmit = now + _rtt.Rto;
            // After the last retry wait as long as the unclamped back-off would (Linux counts the SYN timeout this way),
            // so the defaults give up at 127 s.
            if (_snd.SynRetries == _settings.MaxSynRetries && _snd.SynGiveUpAt > _timers.Retransmit) _timers.Retransmit = _snd.SynGiveUpAt;
            return;
        }
        if (!IsSynchronized || _snd.Max == _snd.Una) return;
        _ctx.Counters.Timeouts++;
        // A peer that closed its window and still answers is slow, not gone: the resends act as zero-window probes and do
        // not count toward giving up while it answered within the longest RTO (as Linux's tcp_retransmit_timer).
        bool closedButAnswering = _snd.Window == 0 && now - _rcv.LastReceivedAt <= _settings.MaxRto;
        if (_snd.Retries >= _settings.MaxRetries && !closedButAnswering)
        {
            GiveUp();
            return;
        }
        if (!closedButAnswering) _snd.Retries++;
        OnPathProbeResent(now);
        OnTimeoutForRate();
        _timers.TailLossProbe = _timers.Reorder = Instant.Never;
        _pending &= ~(TcpPendingOutput.TailLossProbe | TcpPendingOutput.FastRetransmit);
        // RFC 5681 §3.1, RFC 6582 §3.2 step 1; go-back-N (RFC 2018 §8), or with RACK the first segment now and the ones
        // marked lost after it (RFC 8985 §6.3).
        if (_recovery.OnRetransmissionTimeout(now, SenderView, _rtt.SmoothedRtt)) _snd.Nxt = _snd.Una;
        else _pending |= TcpPendingOutput.FastRetransmit;
        _rtt.BackOff();
        _snd.RttTiming = false;
        _timers.Retransmit = now + _rtt.Rto;
        DetectBlackHole(now);
    }

    /// <summary>
    /// The persist timer expired (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): probe a closed window, backing off. If the
    /// window is open but too small for sender SWS avoidance to send into, this is the override timeout of RFC 9293
    /// §3.8.6.2.1: send what fits anyway (otherwise a lost window update would leave both sides waiting for ever).
    /// </summary>
    private void OnPersistTimeout(Instant now)
    {
        _timers.Persist = Instant.Never;
        if (!IsSynchronized || _snd.DataEnd <= _snd.Nxt)
        {
            _snd.PersistBackoff = 0;
            return;
        }
        if (_snd.PersistProbes >= _settings.MaxRetries)
        {
            GiveUp(); // the peer stopped answering probes at all
            return;
        }
        _snd.PersistProbes++;
        _snd.PersistBackoff++;
        _pending |= _snd.Window > 0 ? TcpPendingOutput.SwsOverride : TcpPendingOutput.ZeroWindowProbe;
        _timers.Persist = now + PersistInterval();
    }

    /// <summary>Keepalive (RFC 1122 §4.2.3.6): after the idle time a probe every interval; after the count unanswered, give up.</summary>
    private void OnKeepaliveTimeout(Instant now)
    {
        _timers.KeepAlive = Instant.Never;
        if (_settings.KeepAliveIdle is not { } idle || State is not (TcpState.Established or TcpState.CloseWait)) return;
        if (_snd.Max != _snd.Una || _snd.Buffer.Count > 0 && _snd.Window == 0)
        {
            _timers.KeepAlive = now + idle; // data outstanding: the retransmission or persist timer watches the peer
            return;
        }
        if (_snd.KeepAliveProbes >= _settings.KeepAliveCount)
        {
            GiveUp();
            return;
        }
        _snd.KeepAliveProbes++;
        _pending |= TcpPendingOutput.KeepAliveProbe;
        _timers.KeepAlive = now + _settings.KeepAliveInterval;
    }

    /// <summary>Something arrived from the peer: the idle period starts again.</summary>
    private void ArmKeepalive(Instant now)
    {
        _snd.KeepAliveProbes = 0;
        _timers.KeepAlive = _settings.KeepAliveIdle is { } idle && State is TcpState.Established or TcpState.CloseWait
            ? now + idle
            : Instant.Never;
    }

    /// <summary>After Close, FIN-WAIT-2 does not wait forever for the peer's FIN (as Linux's tcp_fin_timeout).</summary>
    private void ArmOrphanTimeout(Instant now) => _timers.TimeWait = now + _settings.TimeWaitDuration;

    /// <summary>
    /// Starts the persist timer when data waits, nothing is in flight (so no ACK will come to open the window) and the
    /// window is closed or too small to send into.
    /// </summary>
    private void ArmIdleTimers(Instant now)
    {
        if (IsSynchronized && _snd.DataEnd > _snd.Nxt && _snd.Max == _snd.Una && _timers.Persist.IsNever && !IsPending(TcpPendingOutput.ZeroWindowProbe)
            && State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            _timers.Persist = now + PersistInterval();
    }

    private TimeSpan PersistInterval()
    {
        long ticks = _rtt.Rto.Ticks;
        for (int i = 0; i < _snd.PersistBackoff && ticks < _settings.MaxRto.Ticks; i++) ticks *= 2;
        return TimeSpan.FromTicks(Math.Min(ticks, _settings.MaxRto.Ticks));
    }

    private void GiveUp()
    {
        _ctx.Counters.ConnectionsTimedOut++;
        Terminate(_softError != TcpError.None ? _softError : TcpError.TimedOut);
    }
}
