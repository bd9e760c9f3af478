using System.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    private static readonly TimeSpan OutOfWindowAckInterval = TimeSpan.FromMilliseconds(500);


    /// <summary>
    /// Processes one arriving segment for this connection (RFC 9293 §3.10.7.3 for SYN-SENT, §3.10.7.4 for the other states,
    /// with RFC 5961 hardening, RFC 7323 PAWS and RFC 2018 SACK). Never throws; replies become pending for
    /// <see cref="TryGetSegment"/>.
    /// </summary>
    /// <param name="now">The engine time.</param>
    /// <param name="header">The segment's header.</param>
    /// <param name="payload">Its payload.</param>
    /// <param name="frame">The handed-over transmit buffer <paramref name="payload"/> lies in (another stack's, over an
    /// in-memory pipe), if any: an in-order payload may then be held there instead of copied (<c>.HeldReceive</c>).</param>
    /// <param name="congestionExperienced">The IP header's ECN field was CE (RFC 3168 §5): a router on the way was congested.</param>
    /// <param name="coalesced">For a segment the round merged from a run of in-order segments: how many, and their size.</param>
    public void Process(Instant now, in TcpHeader header, ReadOnlySpan<byte> payload, TransmitBuffer? frame = null,
        bool congestionExperienced = false, CoalescedRun coalesced = default)
    {
        if (congestionExperienced) _ctx.Counters.CongestionMarksReceived++;
        _arrivalSegmentSize = coalesced.SegmentSize;
        _ctx.Counters.SegmentsReceived += coalesced.Count - 1; // ProcessSegment counts one
        ProcessSegment(now, header, payload, frame, congestionExperienced);
        _arrivalSegmentSize = 0;
        AssertInvariants();
    }

    private void ProcessSegment(Instant now, in TcpHeader header, ReadOnlySpan<byte> payload, TransmitBuffer? frame, bool congestionExperienced)
    {
        _ctx.Counters.SegmentsReceived++;
        switch (State)
        {
            case TcpState.Closed:
            case TcpState.Listen:
                return;
            case TcpState.SynSent:
                ProcessSynSent(now, header, payload);
                return;
        }

        TcpHeader h = header;
        if (State == TcpState.SynReceived && h.Has(TcpFlags.Syn) && h.Sequence == _rcv.Irs && !h.Has(TcpFlags.Rst))
        {
            if (!h.Has(TcpFlags.Ack))
            {
                _pending |= TcpPendingOutput.Syn; // the peer's SYN again: our SYN-ACK was lost
                return;
            }
            // Simultaneous open: a SYN-ACK whose SYN we already hold. Only the new part is processed (RFC 9293 §3.10.7.4).
            h.Flags &= ~TcpFlags.Syn;
            h.Sequence += 1;
        }

        // PAWS (RFC 7323 §5.3): a timestamp older than TS.Recent marks an old duplicate, unless TS.Recent went stale
        // after 24 days of idleness (§5.5).
        if (_opt.Timestamps && h.HasTimestamps && !h.Has(TcpFlags.Rst) && TcpAgreedOptions.TsBefore(h.TimestampValue, _opt.TsRecent))
        {
            if (now - _opt.TsRecentAt > PawsIdleLimit)
            {
                _opt.TsRecent = h.TimestampValue;
                _opt.TsRecentAt = now;
            }
            else
            {
                _ctx.Counters.PawsDrops++;
                RequestAck();
                return;
            }
        }

        // First: the sequence number (RFC 9293 §3.10.7.4).
        int segLen = h.SequenceLength(payload.Length);
        if (!IsAcceptable(h.Sequence, segLen))
        {
            _ctx.Counters.UnacceptableSegments++;
            // Data wholly below RCV.NXT arrived again: the ACK answering it reports it (RFC 2883 §4 case 1).
            if (!payload.IsEmpty && !h.Has(TcpFlags.Rst) && h.Sequence + payload.Length <= _rcv.Nxt && h.Sequence + payload.Length > _rcv.Nxt - _rcv.Buffer.Capacity)
                NoteDuplicate(h.Sequence, h.Sequence + payload.Length);
            // An unacceptable bare ACK is answered at most every 500 ms, so two ends that each find the other's ACKs
            // out of window cannot ping-pong for ever (as Linux's tcp_invalid_ratelimit does).
            bool pureAck = segLen == 0;
            if (!h.Has(TcpFlags.Rst) && (!pureAck || now - _rcv.LastOutOfWindowAckAt >= OutOfWindowAckInterval || _rcv.LastOutOfWindowAckAt == default))
            {
                if (pureAck) _rcv.LastOutOfWindowAckAt = now;
                RequestAck();
                // TIME-WAIT: the peer's FIN again means our last ACK was lost; ACK it and restart 2·MSL.
                if (State == TcpState.TimeWait && h.Has(TcpFlags.Fin)) _timers.TimeWait = now + _settings.TimeWaitDuration;
            }
            return;
        }

        // RFC 7323 §4.3: remember the peer's timestamp if this segment is not older than what we last acknowledged.
        if (_opt.Timestamps && h.HasTimestamps && !h.Has(TcpFlags.Rst) && !TcpAgreedOptions.TsBefore(h.TimestampValue, _opt.TsRecent) && h.Sequence <= _rcv.LastAckSent)
        {
            _opt.TsRecent = h.TimestampValue;
            _opt.TsRecentAt = now;
        }

        // Second: RST. RFC 5961 §3.2: only an exact match resets; any other in-window RST earns a challenge ACK.
        if (h.Has(TcpFlags.Rst))
        {
            if (h.Sequence == _rcv.Nxt) OnResetReceived();
            else SendChallengeAck(now);
            return;
        }

        _rcv.LastReceivedAt = now;
        ArmKeepalive(now);
        if (_ecn.Agreed) OnEcnInput(h, congestionExperienced);

        // Fourth: SYN in a synchronized state (or SYN-RECEIVED) → challenge ACK (RFC 5961 §4.2).
        if (h.Has(TcpFlags.Syn))
        {
            SendChallengeAck(now);
            return;
        }

        // Fifth: ACK.
        if (!h.Has(TcpFlags.Ack)) return;
        if (State == TcpState.SynReceived)
        {
            if (h.Acknowledgment > _snd.Una && h.Acknowledgment <= _snd.Max)
            {
                EnterEstablished(now, h);
            }
            else
            {
                QueueReset(h.Acknowledgment, default, TcpFlags.Rst); // RFC 9293 §3.10.7.4: <SEQ=SEG.ACK><CTL=RST>
                return;
            }
        }
        if (!ProcessAck(now, h, payload.Length)) return;

        // Seventh: segment text.
        bool wholeSegmentFits = true;
        if (!payload.IsEmpty)
        {
            if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                if (_appClosed)
                {
                    // RFC 1122 §4.2.2.13: data after CLOSE cannot be delivered; tell the peer with a RST.
                    QueueReset(_snd.Max, default, TcpFlags.Rst);
                    Terminate(TcpError.Aborted);
                    return;
                }
                wholeSegmentFits = ReceiveData(now, h.Sequence, payload, frame);
            }
            // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the FIN was already received; data cannot be new (RFC 9293).
        }

        // Eighth: FIN.
        if (h.Has(TcpFlags.Fin) && wholeSegmentFits && !_rcv.FinReceived
            && State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
        {
            SeqNumber finSeq = h.Sequence + payload.Length;
            if (finSeq == _rcv.Nxt) ConsumeFin(now);
            else if (finSeq > _rcv.Nxt)
            {
                _rcv.HasPendingFin = true;
                _rcv.PendingFinSequence = finSeq;
                _pending |= TcpPendingOutput.Ack;
            }
        }
    }

    /// <summary>RFC 9293 §3.10.7.3: a segment arriving in SYN-SENT.</summary>
    private void ProcessSynSent(Instant now, in TcpHeader h, ReadOnlySpan<byte> payload)
    {
        bool hasAck = h.Has(TcpFlags.Ack);
        if (hasAck && (h.Acknowledgment <= _snd.Iss || h.Acknowledgment > _snd.Max))
        {
            if (!h.Has(TcpFlags.Rst)) QueueReset(h.Acknowledgment, default, TcpFlags.Rst);
            return;
        }
        if (h.Has(TcpFlags.Rst))
        {
            // RFC 5961 §3.2: in SYN-SENT a RST is acceptable only if it acknowledges our SYN.
            if (hasAck)
            {
                _ctx.Counters.ResetsReceived++;
                Terminate(TcpError.ConnectionRefused);
            }
            return;
        }
        if (!h.Has(TcpFlags.Syn)) return;

        AcceptPeerSyn(h, now);
        if (hasAck)
        {
            // RFC 3168 §6.1.1: an ECN-setup SYN-ACK has ECE and not CWR (both would be a peer that reflects flags blindly).
            _ecn.Agreed = _settings.EnableEcn && h.Has(TcpFlags.Ece) && !h.Has(TcpFlags.Cwr);
            OnSynAcked(now, h);
            State = TcpState.Established;
            HasEstablished = true;
            _pending |= TcpPendingOutput.Ack;
            AfterEstablished(now);
        }
        else
        {
            // Simultaneous open (RFC 9293 §3.10.7.3, Figure 8): answer with SYN-ACK and wait in SYN-RECEIVED.
            State = TcpState.SynReceived;
            _pending |= TcpPendingOutput.Syn;
        }
        // RFC 9293 §3.10.7.3: text on the SYN is processed as at the sixth step — taken in order and acknowledged by the ACK
        // (or SYN-ACK) that goes out now; a FIN on it is not, so the peer sends that again.
        TakeSynData(now, h, payload);
    }

    /// <summary>
    /// Data that came on a SYN or SYN-ACK (RFC 9293 §3.10.7.2 and §3.10.7.3: "queued for processing later"): it follows the
    /// SYN in sequence space and waits in the receive buffer until the handshake completes and the application reads.
    /// </summary>
    private void TakeSynData(Instant now, in TcpHeader syn, ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty) return;
        Debug.Assert(_rcv.Nxt == syn.Sequence + 1);
        ReceiveData(now, syn.Sequence + 1, payload, frame: null);
        _pending |= TcpPendingOutput.Ack; // acknowledged at once: the peer's first flight should not wait for a delayed ACK
    }

    /// <summary>Takes the peer's ISN and options from its SYN (RFC 9293 §3.7.1, RFC 7323 §2.2 and §3.2, RFC 2018 §2).</summary>
    private void AcceptPeerSyn(in TcpHeader syn, Instant now, bool weOfferedEverything = true)
    {
        _ = weOfferedEverything;
        _rcv.Irs = syn.Sequence;
        _rcv.Nxt = syn.Sequence + 1;
        _rcv.LastAckSent = _rcv.Nxt;
        _rcv.AdvertisedEdge = _rcv.WindowEdge = _rcv.Nxt + Math.Min(_rcv.Buffer.Capacity, ushort.MaxValue); // our SYN's window, unscaled
        if (syn.MaxSegmentSize > 0) _opt.PeerMss = Math.Max(MinimumMss, (int)syn.MaxSegmentSize);
        _opt.WindowScaling = _settings.EnableWindowScale && syn.WindowScale >= 0;
        if (_opt.WindowScaling)
        {
            _snd.WindowScale = Math.Min(14, (int)syn.WindowScale); // RFC 7323 §2.3: larger shifts are read as 14
        }
        else
        {
            _snd.WindowScale = 0;
            _rcv.WindowScale = 0;
        }
        _opt.Sack = _settings.EnableSack && syn.SackPermitted;
        ChooseLossRecovery();
        // RFC 3168 §6.1.1: an ECN-setup SYN has both ECE and CWR; a listener that wants ECN answers with ECE.
        if (!syn.Has(TcpFlags.Ack)) _ecn.Agreed = _settings.EnableEcn && syn.Has(TcpFlags.Ece) && syn.Has(TcpFlags.Cwr);
        _opt.Timestamps = _settings.EnableTimestamps && syn.HasTimestamps;
        if (_opt.Timestamps)
        {
            _opt.TsRecent = syn.TimestampValue;
            _opt.TsRecentAt = now;
        }
        // RFC 7323 §2.2: the window field of a SYN is never scaled.
        _snd.Window = _snd.MaxWindow = syn.Window;
        _snd.Wl1 = syn.Sequence;
        _snd.Wl2 = syn.Acknowledgment;
        UpdateMss();
    }

    /// <summary>Our SYN was acknowledged (in SYN-SENT by the SYN-ACK, in SYN-RECEIVED by the final ACK).</summary>
    private void OnSynAcked(Instant now, in TcpHeader h)
    {
        _snd.Una = h.Acknowledgment;
        if (_snd.Nxt < _snd.Una) _snd.Nxt = _snd.Una;
        if (_snd.Max < _snd.Una) _snd.Max = _snd.Una;
        _snd.ProbeHigh = _snd.Max;
        if (!(_opt.Timestamps && h.HasTimestamps && AddTimestampSample(now, h.TimestampEcho)) && !_snd.SynRetransmitted)
            _rtt.AddSample(now - _snd.SynSentAt);
        if (_snd.SynRetransmitted && _rtt.SmoothedRtt is null)
        {
            // RFC 6298 §5.7: after a retransmitted SYN and no sample, data starts with RTO = 3 s.
            TimeSpan three = TimeSpan.FromSeconds(3);
            TimeSpan initial = three < _settings.MaxRto ? (three > _settings.InitialRto ? three : _settings.InitialRto) : _settings.MaxRto;
            _rtt = new RttEstimator(initial, _settings.MinRto, _settings.MaxRto, ClockGranularity);
        }
        _snd.SynRetries = 0;
        _snd.Retries = 0;
        _timers.Retransmit = _snd.Max > _snd.Una ? now + _rtt.Rto : Instant.Never;
    }

    /// <summary>SYN-RECEIVED → ESTABLISHED on an acceptable ACK (RFC 9293 §3.10.7.4, fifth check).</summary>
    private void EnterEstablished(Instant now, in TcpHeader h)
    {
        OnSynAcked(now, h);
        State = TcpState.Established;
        HasEstablished = true;
        _snd.Window = h.Window << _snd.WindowScale;
        _snd.MaxWindow = Math.Max(_snd.MaxWindow, _snd.Window);
        _snd.Wl1 = h.Sequence;
        _snd.Wl2 = h.Acknowledgment;
        AfterEstablished(now);
    }

    private void AfterEstablished(Instant now)
    {
        ArmKeepalive(now);
        if (_snd.FinAfterHandshake)
        {
            _snd.FinAfterHandshake = false;
            ShutdownWrite();
        }
    }

    /// <summary>
    /// RFC 9293 §3.10.7.4 first check, with the zero-window allowance for a segment exactly at RCV.NXT. It decides whether the
    /// segment's ACK, RST and FIN are looked at, and measures the window by the free buffer space, which is never less than
    /// the window we advertised: a pure ACK carries the sender's highest sequence number sent, which sits right at our
    /// advertised edge when the data before it was lost, and refusing it would hide the ACK from us for ever (Linux also
    /// accepts a segment starting at the right edge, tcp_sequence). Which bytes are taken is the advertised window's
    /// business alone (<see cref="ReceiveData"/>).
    /// </summary>
    private bool IsAcceptable(SeqNumber seq, int segLen)
    {
        int wnd = _rcv.Free;
        if (wnd == 0) return seq == _rcv.Nxt; // zero window: only the ACK/RST of a segment at RCV.NXT is processed
        SeqNumber windowEnd = _rcv.Nxt + wnd;
        if (segLen == 0) return seq >= _rcv.Nxt && seq < windowEnd;
        SeqNumber last = seq + (segLen - 1);
        return (seq >= _rcv.Nxt && seq < windowEnd) || (last >= _rcv.Nxt && last < windowEnd);
    }

    /// <summary>An acceptable RST (RFC 9293 §3.10.7.4 second check).</summary>
    private void OnResetReceived()
    {
        switch (State)
        {
            case TcpState.TimeWait:
                return; // RFC 1337: ignore RSTs in TIME-WAIT (no TIME-WAIT assassination)
            case TcpState.SynReceived:
                _ctx.Counters.ResetsReceived++;
                Terminate(_passive ? TcpError.ConnectionReset : TcpError.ConnectionRefused);
                return;
            case TcpState.Closing:
            case TcpState.LastAck:
                _ctx.Counters.ResetsReceived++;
                Terminate(TcpError.None); // we were closing anyway
                return;
            default:
                _ctx.Counters.ResetsReceived++;
                Terminate(TcpError.ConnectionReset);
                return;
        }
    }

    /// <summary>A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate-limited stack-wide (§7).</summary>
    private void SendChallengeAck(Instant now)
    {
        if (_ctx.ChallengeAcks.TryTake(now))
        {
            _ctx.Counters.ChallengeAcksSent++;
            RequestAck();
        }
        else
        {
            _ctx.Counters.ChallengeAcksSuppressed++;
        }
    }

    /// <summary>An ACK must go out at once (in SYN-RECEIVED that means the SYN-ACK again).</summary>
    private void RequestAck()
    {
        if (State == TcpState.SynReceived) _pending |= TcpPendingOutput.Syn;
        else _pending |= TcpPendingOutput.Ack;
    }

    /// <summary>The fifth check (RFC 9293 §3.10.7.4, RFC 5961 §5.2). Returns false when the segment is to be dropped.</summary>
    private bool ProcessAck(Instant now, in TcpHeader h, int payloadLength)
    {
        SeqNumber ack = h.Acknowledgment;
        SeqNumber highest = SeqNumber.Max(_snd.Max, _snd.ProbeHigh);
        if (ack > highest || ack < _snd.Una - _snd.MaxWindow)
        {
            // Acknowledges data never sent, or far too old (RFC 5961 §5.2): challenge ACK and drop.
            SendChallengeAck(now);
            return false;
        }

        long priorInFlight = BeginRateSample();
        bool sackNews = false;
        if (_opt.Sack && h.SackBlockCount > 0)
        {
            int first = 0;
            if (IsDuplicateSack(h))
            {
                first = 1; // RFC 2883 §4: a D-SACK reports a duplicate, never data held above the ACK
                _ctx.Counters.DuplicateSacksReceived++;
                Apply(now, _recovery.OnDuplicateSack(h.SackBlocks[0], SenderView));
            }
            if (_snd.Max > _snd.Una)
            {
                SeqNumber floor = SeqNumber.Max(ack, _snd.Una);
                for (int i = first; i < h.SackBlockCount && i < 4; i++)
                {
                    sackNews |= _recovery.OnSackBlock(h.SackBlocks[i], floor, _snd.Max);
                    _rate?.OnSackBlock(h.SackBlocks[i], now);
                }
            }
        }

        if (ack >= _snd.Una)
        {
            int scaledWindow = h.Window << _snd.WindowScale;
            bool advances = ack > _snd.Una;
            if (advances)
            {
                OnNewAck(now, h, ack);
            }
            else if (_snd.Max > _snd.Una)
            {
                // RFC 5681 §2 duplicate ACK; with SACK, RFC 6675 §2: an ACK bringing new SACK information (or, from a
                // peer that sent no SACK blocks at all on it, the classic definition).
                bool classic = payloadLength == 0 && (h.Flags & (TcpFlags.Syn | TcpFlags.Fin)) == 0 && scaledWindow == _snd.Window;
                bool duplicate = _opt.Sack ? sackNews || (h.SackBlockCount == 0 && classic) : classic;
                if (duplicate) OnDuplicateAck(now);
            }

            // Window update, guarded by SND.WL1/SND.WL2 against old segments (RFC 9293 §3.10.7.4) — and taken from every
            // segment whose ACK moves SND.UNA on, as Linux's tcp_may_update_window does. The window counts from that ACK:
            // skipped, SND.UNA would advance under the old SND.WND and carry our right edge (SND.UNA + SND.WND) past the one
            // the peer advertised, into data it must drop. The segment that does this is the peer's resend that fills a
            // hole in its own data: it carries the newest ACK, but a sequence number below SND.WL1, which the peer's
            // segments after the hole set.
            if (advances || _snd.Wl1 < h.Sequence || (_snd.Wl1 == h.Sequence && _snd.Wl2 <= ack))
            {
                _snd.Window = scaledWindow;
                _snd.Wl1 = h.Sequence;
                _snd.Wl2 = ack;
                if (_snd.Window > _snd.MaxWindow) _snd.MaxWindow = _snd.Window;
                if (_snd.Window > 0)
                {
                    _timers.Persist = Instant.Never;
                    _snd.PersistBackoff = 0;
                    _pending &= ~TcpPendingOutput.ZeroWindowProbe;
                }
            }
            _snd.PersistProbes = 0; // the peer answers: keep probing a closed window indefinitely (RFC 1122 §4.2.2.17)
            EndRateSample(now, priorInFlight);
        }

        if (_ecn.Agreed && h.Has(TcpFlags.Ece)) OnCongestionEcho(now);

        if (_snd.FinQueued && _snd.Una == _snd.FinSequence + 1)
        {
            switch (State)
            {
                case TcpState.FinWait1:
                    State = TcpState.FinWait2;
                    if (_appClosed) ArmOrphanTimeout(now);
                    break;
                case TcpState.Closing:
                    EnterTimeWait(now);
                    break;
                case TcpState.LastAck:
                    Terminate(TcpError.None);
                    return false;
            }
        }
        return true;
    }

    /// <summary>The ACK acknowledged new data (RFC 9293 §3.10.7.4, RFC 6298 §5.2–5.3, RFC 5681 §3.1).</summary>
    private void OnNewAck(Instant now, in TcpHeader h, SeqNumber ack)
    {
        int acked = ack - _snd.Una;
        int flightBefore = _snd.Max - _snd.Una;

        // RTT: from the echoed timestamp (RFC 7323 §4.1), else from the one timed segment (Karn's rule, RFC 6298 §3).
        TimeSpan? rttSample = null;
        if (_opt.Timestamps && h.HasTimestamps) rttSample = TimestampSample(now, h.TimestampEcho);
        else if (_snd.RttTiming && ack >= _snd.RttTimedEnd) rttSample = now - _snd.RttTimedAt;
        if (rttSample is { } sample) _rtt.AddSample(sample);
        if (_snd.RttTiming && ack >= _snd.RttTimedEnd) _snd.RttTiming = false;
        // HyStart++'s rounds and RTT samples (RFC 9406 §4.2): without timestamps, while it runs, one from each ACK by the send
        // times RACK keeps, since the one timed segment a round trip never makes the eight samples a round needs.
        if (rttSample is null && !_opt.Timestamps && _cc.WantsRttSamples) rttSample = _recovery.DeliveryRtt(now, ack);
        _cc.OnAckArrived(now, ack, _snd.Max, rttSample);

        _snd.DiscardAcknowledged(ack);
        _snd.Una = ack;
        _rate?.OnCumulativeAck(ack, now);
        if (_snd.Nxt < ack) _snd.Nxt = ack;
        if (_snd.Max < ack) _snd.Max = ack;
        if (_snd.ProbeHigh < ack) _snd.ProbeHigh = ack;
        _snd.Retries = 0;
        if (acked >= _opt.Smss) _path.Proven = true; // a full segment got through at this size: not a black hole (PathMtu.cs)
        uint? tsEcho = _opt.Timestamps && h.HasTimestamps ? h.TimestampEcho : null;
        bool keepTimer = Apply(now, _recovery.OnNewAck(now, SenderView, acked, flightBefore, _rtt.SmoothedRtt, tsEcho));

        OnPathProbeAcked(now, ack);
        if (!keepTimer || _snd.Max == _snd.Una) _timers.Retransmit = _snd.Max > _snd.Una ? now + _rtt.Rto : Instant.Never;
        ArmTailLossProbe(now); // RFC 8985 §7.2: restart the PTO on an ACK of new data
        if (_snd.Buffer.Count == 0) _snd.Buffer.Release();
    }

    /// <summary>Adds an RTT sample from an echoed TSval (RFC 7323 §4.1); false when the echo is not plausibly ours.</summary>
    private bool AddTimestampSample(Instant now, uint echo)
    {
        if (TimestampSample(now, echo) is not { } sample) return false;
        _rtt.AddSample(sample);
        return true;
    }

    /// <summary>The RTT an echoed TSval measures (RFC 7323 §4.1); null when the echo is not plausibly ours.</summary>
    private TimeSpan? TimestampSample(Instant now, uint echo)
    {
        int ms = unchecked((int)(_opt.TsNow(now) - echo));
        if (ms < 0 || TimeSpan.FromMilliseconds(ms) > _settings.MaxRto) return null;
        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>
    /// Stores in-window data at its place in the receive ring (RFC 9293 §3.10.7.4 seventh check). In-order data advances
    /// RCV.NXT, pulling in any out-of-order data it joins; out-of-order data is recorded for SACK (RFC 2018 §4).
    /// Returns false when part of the segment lay beyond the window and was cut off. <paramref name="frame"/> is the
    /// handed-over buffer the data lies in, if any (see <see cref="Process"/>).
    /// </summary>
    private bool ReceiveData(Instant now, SeqNumber seq, ReadOnlySpan<byte> data, TransmitBuffer? frame)
    {
        if (_settings.MaxReceiveBufferSize > _rcv.Buffer.Capacity) AutoTuneReceiveBuffer(now);
        if (seq < _rcv.Nxt)
        {
            int skip = _rcv.Nxt - seq;
            NoteDuplicate(seq, seq + Math.Min(skip, data.Length)); // the part already received (RFC 2883 §4)
            data = skip >= data.Length ? default : data[skip..];
            seq = _rcv.Nxt;
        }
        int offset = seq - _rcv.Nxt;
        // Only data inside the window we advertised is taken (RFC 9293 §3.10.7.4): with RCV.WND = 0 a zero-window probe's
        // byte is dropped and answered with an ACK of the unchanged RCV.NXT (Linux: tcp_data_queue, TCPZeroWindowDrop); the
        // peer sends it again once a window update opens the window. The free space can be larger than the window
        // (receiver SWS avoidance, or a scaled window rounded down), and taking bytes there would move RCV.NXT past the
        // right edge the peer was told.
        int room = Math.Min(_rcv.Window, _rcv.Free) - offset;
        if (room <= 0)
        {
            _pending |= TcpPendingOutput.Ack;
            return false;
        }
        bool fits = data.Length <= room;
        if (!fits) data = data[..room];
        if (data.IsEmpty) return fits;
        if (_rcv.OutOfOrder.Count > 0) NoteOutOfOrderDuplicates(seq, seq + data.Length);

        int placed = offset == 0 ? PlaceDirect(data, frame) : 0; // into a waiting reader's buffer
        if (placed > 0)
        {
            _rcv.Nxt += placed;
            _rcv.BytesReceived += placed;
            data = data[placed..];
            if (data.IsEmpty)
            {
                if (_rcv.HasPendingFin && _rcv.PendingFinSequence == _rcv.Nxt) ConsumeFin(now);
                ScheduleAck(now, placed);
                return fits;
            }
        }

        bool held = offset == 0 && TryHold(data, frame); // kept in the frame it came in, not copied
        if (!held)
        {
            if (_rcv.Held.Bytes > 0) _rcv.Held.SpillInto(_rcv.Buffer); // everything else goes through the ring, after the held bytes
            _rcv.Buffer.WriteAt(_rcv.Buffer.Count + offset, data);
        }
        if (offset == 0)
        {
            if (!held) _rcv.Buffer.Commit(data.Length);
            _rcv.Nxt += data.Length;
            _rcv.BytesReceived += data.Length;
            if (_rcv.OutOfOrder.Count > 0)
            {
                SeqNumber end = _rcv.OutOfOrder.ContiguousEnd(_rcv.Nxt);
                if (end > _rcv.Nxt)
                {
                    int joined = end - _rcv.Nxt;
                    _rcv.Buffer.Commit(joined);
                    _rcv.Nxt = end;
                    _rcv.BytesReceived += joined;
                }
                _rcv.OutOfOrder.RemoveBefore(_rcv.Nxt);
                _pending |= TcpPendingOutput.Ack; // RFC 5681 §4.2: ACK at once when a segment fills (part of) a gap
            }
            if (_rcv.HasPendingFin && _rcv.PendingFinSequence == _rcv.Nxt) ConsumeFin(now);
            ScheduleAck(now, placed + data.Length);
        }
        else
        {
            if (_rcv.OutOfOrder.Add(seq, seq + data.Length))
            {
                NoteSackAnchor(seq);
                _ctx.Counters.OutOfOrderSegments++;
            }
            else
            {
                // More holes than the buffer tracks: the bytes written stay unclaimed (no range says they are there) and the
                // segment counts as not received; the duplicate ACK below tells the peer nothing new, and it resends.
                _ctx.Counters.OutOfOrderDropped++;
            }
            _pending |= TcpPendingOutput.Ack; // RFC 5681 §4.2: an out-of-order segment is ACKed at once (a duplicate ACK)
        }
        return fits;
    }

    /// <summary>
    /// Receive buffer auto-tuning (<see cref="TcpSettings.MaxReceiveBufferSize"/>; Linux's dynamic right-sizing,
    /// <c>tcp_rcv_space_adjust</c>): once per round trip (SRTT, from the handshake or our own data), what the reader took in
    /// it sets the buffer to twice that plus room for 16 segments, and twice again its growth since the best round before, as a
    /// sender in slow start doubles per round trip. Measured on what the reader took, not what arrived, so a slow reader
    /// does not grow a buffer it cannot empty. The buffer grows in powers of two within the limit and what the window scale
    /// can advertise (RFC 7323 §2.3); the larger window goes out with the next ACK.
    /// </summary>
    private void AutoTuneReceiveBuffer(Instant now)
    {
        long taken = _rcv.BytesReceived - _rcv.Queued;
        if (_rcv.Tuning is not { } tuning)
        {
            _rcv.Tuning = new ReceiveBufferTuning(now, taken);
            return;
        }
        if (_rtt.SmoothedRtt is not { } srtt || now - tuning.StartAt < srtt) return;
        long perRoundTrip = taken - tuning.StartTaken;
        tuning.StartAt = now;
        tuning.StartTaken = taken;
        long best = Math.Max(tuning.BestPerRoundTrip, CongestionControl.InitialWindow(_opt.Mss)); // Linux starts from the initial window too
        if (perRoundTrip <= best) return;
        tuning.BestPerRoundTrip = perRoundTrip;
        long wanted = 2 * perRoundTrip + 16L * _opt.Mss;
        wanted += 2 * wanted * (perRoundTrip - best) / best;
        _rcv.Buffer.GrowToward(wanted, Math.Min(_settings.MaxReceiveBufferSize, _rcv.LargestWindow));
    }

    /// <summary>
    /// Delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2): at least every second full-sized segment, never later than the timeout;
    /// data we send meanwhile carries the ACK. There is deliberately no quick-ack phase: Linux ACKs the first segments of a
    /// connection at once (tcp_event_data_recv → tcp_incr_quickack, up to TCP_MAX_QUICKACKS = 16, net/ipv4/tcp_input.c)
    /// until its first reply within the ACK timeout marks the connection interactive (pingpong), so Linux sends a pure ACK
    /// before its first response. Here the first request coalesces with its response like every later one, and a bulk
    /// sender's slow start still gets an ACK for every second full segment (cwnd grows by bytes acked, RFC 5681 §3.1).
    /// </summary>
    private void ScheduleAck(Instant now, int length)
    {
        // A merged segment counts as the segments it stands for (as Linux measures rcv_mss from gso_size): their size, not
        // the merged length, is the sender's segment size, so two of them still call for an ACK at once.
        int segment = _arrivalSegmentSize > 0 ? Math.Min(_arrivalSegmentSize, length) : length;
        if (segment > _rcv.MssEstimate) _rcv.MssEstimate = Math.Min(segment, _opt.Mss);
        _rcv.UnackedBytes += length;
        if (_settings.DelayedAckTimeout == TimeSpan.Zero) _pending |= TcpPendingOutput.Ack;
        else if (_rcv.UnackedBytes >= 2 * _rcv.MssEstimate) _pending |= TcpPendingOutput.VolumeAck;
        else if (_timers.DelayedAck.IsNever) _timers.DelayedAck = now + _settings.DelayedAckTimeout;
    }

    /// <summary>
    /// True when all this connection owes after the segment just processed is the ACK that in-order data calls for by volume
    /// (<see cref="TcpPendingOutput.VolumeAck"/>), nothing is out of order, and less than a quarter of the window we can offer
    /// (the receive buffer, or 64 KiB without window scaling) is unacknowledged: the engine may then send that ACK at the end of its round, with whatever else the round brings, rather
    /// than after this segment. A receive burst (a device's reads of one wake-up, merged into runs of up to 64 KiB) then gets
    /// one ACK instead of one per run: a stretch ACK, as Linux sends for each GRO packet. RFC 1122 §4.2.3.2 asks for an ACK
    /// at least every second full-sized segment; like Linux with GRO, the segments that arrive together count as one
    /// arrival, and the ACK still goes within the round, microseconds later, never on the delayed-ACK timer. The bound keeps
    /// three quarters of the window open to the sender meanwhile. Anything else owed (an out-of-order segment, a segment that
    /// fills a gap, a CE mark, a FIN, a window update, data beyond the window) is <see cref="TcpPendingOutput.Ack"/> and goes
    /// at once (RFC 5681 §4.2). Senders count the bytes a stretch ACK covers (Linux's slow start does; RFC 3465 §2.3).
    /// </summary>
    internal bool MayStretchAck =>
        _pending == TcpPendingOutput.VolumeAck && _rcv.OutOfOrder.Count == 0 && !_rcv.HasDuplicateSack
        && _rcv.UnackedBytes < Math.Min(_rcv.Buffer.Capacity, _rcv.LargestWindow) / 4;

    /// <summary>The peer's FIN is next in sequence (RFC 9293 §3.10.7.4 eighth check).</summary>
    private void ConsumeFin(Instant now)
    {
        _rcv.Nxt += 1;
        _rcv.FinReceived = true;
        _rcv.HasPendingFin = false;
        _pending |= TcpPendingOutput.Ack;
        switch (State)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                State = TcpState.CloseWait;
                break;
            case TcpState.FinWait1:
                if (_snd.FinQueued && _snd.Una == _snd.FinSequence + 1) EnterTimeWait(now);
                else State = TcpState.Closing;
                break;
            case TcpState.FinWait2:
                EnterTimeWait(now);
                break;
        }
    }

    private void EnterTimeWait(Instant now)
    {
        State = TcpState.TimeWait;
        _timers.TimeWait = now + _settings.TimeWaitDuration;
        _timers.Retransmit = _timers.Persist = _timers.KeepAlive = _timers.TailLossProbe = _timers.Pace = Instant.Never;
        _snd.Buffer.Clear();
        _recovery.OnSendBufferDiscarded();
        _rate?.Clear();
        ReleaseIdleBuffers();
    }

    /// <summary>
    /// RFC 3168 §6.1.3: a CWR ends the echo (the sender reduced its window); a CE mark starts it — after the CWR, so a
    /// segment carrying both keeps the echo on. A marked segment is ACKed at once, so the sender hears of it a round trip
    /// sooner (Linux does the same).
    /// </summary>
    private void OnEcnInput(in TcpHeader h, bool congestionExperienced)
    {
        if (h.Has(TcpFlags.Cwr)) _ecn.EchoCongestion = false;
        if (!congestionExperienced) return;
        _ecn.EchoCongestion = true;
        _pending |= TcpPendingOutput.Ack;
    }

    /// <summary>
    /// The peer echoed a congestion mark (RFC 3168 §6.1.2): reduce the window as for a loss, but at most once per window of
    /// data — until SND.UNA passes what was in flight at the last response — and mark the next new segment with CWR. An ACK
    /// of exactly that window still echoes the old mark (the CWR segment, sent after it, has not arrived), so only an ACK
    /// beyond it starts a new response (as Linux leaves CWR only once SND.UNA is past high_seq).
    /// </summary>
    private void OnCongestionEcho(Instant now)
    {
        if (_ecn.Responded && _snd.Una <= _ecn.RespondedUntil) return;
        _ecn.Responded = true;
        _ecn.RespondedUntil = _snd.Max;
        _ecn.CwrPending = true;
        _recovery.OnCongestionEcho(now, SenderView);
        _ctx.Counters.CongestionEchoResponses++;
    }

    /// <summary>
    /// Data [<paramref name="left"/>, <paramref name="right"/>) arrived twice: with SACK, an ACK reports it in a D-SACK block
    /// (RFC 2883 §4) and goes out at once. Several duplicates in one receive burst each get an ACK (<see cref="TcpReceiver.NoteDuplicate"/>):
    /// a sender widens its reordering window on D-SACKs (RFC 8985 §6.2 step 4), so one report per burst would hide most of
    /// its needless retransmissions from it.
    /// </summary>
    private void NoteDuplicate(SeqNumber left, SeqNumber right)
    {
        if (!_opt.Sack || right <= left) return;
        _pending |= TcpPendingOutput.Ack;
        _rcv.NoteDuplicate(left, right);
    }

    /// <summary>
    /// Data [<paramref name="left"/>, <paramref name="right"/>) overlaps what is already held out of order above RCV.NXT: each
    /// overlap is a duplicate (RFC 2883 §4 case 2; Linux's TCPDSACKOfoSent), whether the segment itself lies out of order or
    /// starts at RCV.NXT and runs into held data. Receive coalescing makes both common: a run of back-to-back resends — a hole's
    /// repair followed by resends of data already held — reaches us as one segment, where the receiver of the separate segments
    /// would have reported each held one. Every separate overlap is noted (each gets an ACK of its own, as its own segment would
    /// have), not only the first; Linux's tcp_ofo_queue likewise reports held data that in-order data reaches again.
    /// </summary>
    private void NoteOutOfOrderDuplicates(SeqNumber left, SeqNumber right)
    {
        if (!_opt.Sack) return;
        for (int i = _rcv.OutOfOrder.FirstEndingAfter(left); i < _rcv.OutOfOrder.Count; i++)
        {
            SackBlock r = _rcv.OutOfOrder[i];
            if (r.Left >= right) return;
            NoteDuplicate(SeqNumber.Max(left, r.Left), SeqNumber.Min(right, r.Right));
        }
    }

    /// <summary>Remembers which out-of-order segment arrived last, so its block is reported first (RFC 2018 §4).</summary>
    private void NoteSackAnchor(SeqNumber seq)
    {
        _rcv.SackAnchors ??= new SeqNumber[4];
        int keep = Math.Min(_rcv.SackAnchorCount, _rcv.SackAnchors.Length - 1);
        for (int i = keep; i > 0; i--) _rcv.SackAnchors[i] = _rcv.SackAnchors[i - 1];
        _rcv.SackAnchors[0] = seq;
        _rcv.SackAnchorCount = keep + 1;
    }

}
