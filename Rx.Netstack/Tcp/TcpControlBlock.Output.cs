using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>
    /// The next segment to send at <paramref name="now"/>, if any: a RST, the SYN or SYN-ACK, retransmissions and new data
    /// (within the peer's window and cwnd, Nagle and SWS rules applied), the FIN, a zero-window or keepalive probe, or a
    /// pure ACK. Call in a loop until false; after each true result copy the payload with <see cref="CopyPayload"/>.
    /// </summary>
    /// <param name="now">The engine time.</param>
    /// <param name="header">The header to emit (ports, sequence numbers, flags, window, options).</param>
    /// <param name="payloadLength">How many payload bytes follow it.</param>
    public bool TryGetSegment(Instant now, out TcpHeader header, out int payloadLength)
    {
        payloadLength = 0;
        _snd.LastPayloadLength = 0;
        _ecn.LastSegmentCapable = false;
        if (TakePending(TcpPendingOutput.Reset))
        {
            header = new TcpHeader(Local.Port, Remote.Port, _reset.Flags) { Sequence = _reset.Sequence, Acknowledgment = _reset.Acknowledgment };
            _ctx.Counters.ResetsSent++;
            _ctx.Counters.SegmentsSent++;
            AssertInvariants();
            return true;
        }

        if (IsSynchronized) RaisePathMtuIfDue(now);
        bool sent = State switch
        {
            TcpState.Closed or TcpState.Listen => Nothing(out header),
            TcpState.SynSent or TcpState.SynReceived => TryBuildSyn(now, out header),
            _ => TryBuildSynchronized(now, out header, out payloadLength),
        };
        if (sent) _ctx.Counters.SegmentsSent++;
        else
        {
            ArmIdleTimers(now);
            CheckApplicationLimited();
        }
        AssertInvariants();
        return sent;
    }

    /// <summary>Copies the payload of the segment last returned by <see cref="TryGetSegment"/> (from the send ring, no allocation).</summary>
    public void CopyPayload(Span<byte> destination)
    {
        if (_snd.LastPayloadLength == 0) return;
        _snd.Buffer.CopyTo(_snd.LastPayloadOffset, destination[.._snd.LastPayloadLength]);
    }

    /// <summary>
    /// The payload of the segment last returned by <see cref="TryGetSegment"/> in place in the send ring (two runs when it wraps),
    /// for a device that writes it out itself (<see cref="IGatherPacketDevice"/>). Valid until the ring changes: the engine hands
    /// them to the device within the same pass, before any ACK can discard the bytes or a write append to them.
    /// </summary>
    public void GetPayloadSpans(out ReadOnlySpan<byte> first, out ReadOnlySpan<byte> second) =>
        _snd.Buffer.GetSpans(_snd.LastPayloadOffset, _snd.LastPayloadLength, out first, out second);

    private static bool Nothing(out TcpHeader header)
    {
        header = default;
        return false;
    }

    private static bool Nothing(out TcpHeader header, out int payloadLength)
    {
        payloadLength = 0;
        return Nothing(out header);
    }

    /// <summary>The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options (RFC 9293 §3.5, RFC 7323, RFC 2018).</summary>
    private bool TryBuildSyn(Instant now, out TcpHeader header)
    {
        if (!TakePending(TcpPendingOutput.Syn)) return Nothing(out header);
        bool synAck = State == TcpState.SynReceived;
        header = new TcpHeader(Local.Port, Remote.Port, synAck ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn)
        {
            Sequence = _snd.Iss,
            Acknowledgment = synAck ? _rcv.Nxt : default,
            Window = (ushort)Math.Min(_rcv.Buffer.Capacity, ushort.MaxValue), // never scaled in a SYN (RFC 7323 §2.2)
            MaxSegmentSize = (ushort)_opt.OurMss,
        };
        if (synAck)
        {
            // It acknowledges RCV.NXT (data that came on the SYN too): no ACK is owed after it.
            _rcv.LastAckSent = _rcv.Nxt;
            _pending &= ~(TcpPendingOutput.Ack | TcpPendingOutput.VolumeAck);
            _timers.DelayedAck = Instant.Never;
            _rcv.UnackedBytes = 0;
            // Answer only what the peer offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
            if (_opt.WindowScaling) header.WindowScale = (sbyte)_rcv.WindowScale;
            header.SackPermitted = _opt.Sack;
            if (_opt.Timestamps)
            {
                header.HasTimestamps = true;
                header.TimestampValue = _opt.TsNow(now);
                header.TimestampEcho = _opt.TsRecent;
            }
            _rcv.LastAckSent = _rcv.Nxt;
            SetAdvertisedRight(_rcv.Nxt + header.Window);
        }
        else
        {
            if (_settings.EnableWindowScale) header.WindowScale = (sbyte)_rcv.WindowScale;
            header.SackPermitted = _settings.EnableSack;
            if (_settings.EnableTimestamps)
            {
                header.HasTimestamps = true;
                header.TimestampValue = _opt.TsNow(now);
            }
            if (_settings.EnableEcn) header.Flags |= TcpFlags.Ece | TcpFlags.Cwr; // an ECN-setup SYN (RFC 3168 §6.1.1)
        }
        if (synAck && _ecn.Agreed) header.Flags |= TcpFlags.Ece; // an ECN-setup SYN-ACK: ECE without CWR (RFC 3168 §6.1.1)
        if (_snd.Max == _snd.Iss)
        {
            _snd.Nxt = _snd.Max = _snd.ProbeHigh = _snd.Iss + 1;
            _snd.SynSentAt = now;
        }
        else
        {
            _snd.SynRetransmitted = true;
            _snd.SegmentsRetransmitted++;
            _ctx.Counters.SegmentsRetransmitted++;
        }
        if (_timers.Retransmit.IsNever) _timers.Retransmit = now + _rtt.Rto;
        return true;
    }

    private bool TryBuildSynchronized(Instant now, out TcpHeader header, out int payloadLength)
    {
        payloadLength = 0;
        // Nothing owed and nothing left to send (the receiving end of a bulk transfer after every other data segment):
        // none of the steps below could produce a segment, so skip them (they have no side effects on this path).
        if (_pending == TcpPendingOutput.None && _snd.Nxt >= _snd.SendLimit && !_recovery.Repairing && _path.ResendTo <= _path.ResendFrom)
            return Nothing(out header);
        if ((State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            && TryBuildData(now, out header, out payloadLength))
            return true;

        if (TakePending(TcpPendingOutput.ZeroWindowProbe))
        {
            if (_snd.DataEnd > _snd.Nxt)
            {
                // Zero-window probe (RFC 9293 §3.8.6.1): one byte of new data beyond the closed window. SND.NXT stays put;
                // if the peer takes the byte, its ACK (up to _snd.ProbeHigh) moves SND.NXT on.
                header = MakeHeader(now, TcpFlags.Ack, _snd.Nxt);
                payloadLength = 1;
                _snd.LastPayloadOffset = _snd.Nxt - _snd.BufferStart;
                _snd.LastPayloadLength = 1;
                if (_snd.ProbeHigh < _snd.Nxt + 1) _snd.ProbeHigh = _snd.Nxt + 1;
                _ctx.Counters.ZeroWindowProbes++;
                return true;
            }
        }

        if (TakePending(TcpPendingOutput.KeepAliveProbe))
        {
            // Keepalive probe (RFC 1122 §4.2.3.6): SEG.SEQ = SND.NXT − 1 with no data, so the peer must answer with an ACK.
            header = MakeHeader(now, TcpFlags.Ack, _snd.Una - 1);
            _ctx.Counters.KeepAliveProbes++;
            return true;
        }

        if (IsPending(TcpPendingOutput.Ack | TcpPendingOutput.VolumeAck))
        {
            // A pure ACK carries the highest sequence number sent, not SND.NXT: after a timeout SND.NXT is pulled back for
            // go-back-N, and a sequence number below what the peer already received would make it unacceptable there, so
            // its ACK field would be ignored (and each side would answer the other's "old" ACKs for ever).
            // A zero-window probe byte the peer took counts too (_snd.ProbeHigh).
            header = MakeHeader(now, TcpFlags.Ack, SeqNumber.Max(_snd.Max, _snd.ProbeHigh));
            return true;
        }
        return Nothing(out header);
    }

    /// <summary>
    /// Data and FIN, in order of precedence: a retransmission loss recovery asks for, a tail loss probe, then what the
    /// windows let go from SND.NXT (new data, or go-back-N resends after a timeout). Every segment's payload is the MSS less
    /// the options it carries (RFC 6691), as the wire layer counts them.
    /// </summary>
    private bool TryBuildData(Instant now, out TcpHeader header, out int payloadLength)
    {
        int headerLength = NextHeaderLength();
        int maxPayload = Math.Max(1, _opt.Mss - (headerLength - TcpHeader.MinHeaderLength));

        // 1. Retransmission: fast retransmit needs no room in cwnd.
        if (TryFastRetransmit(now, maxPayload, out header, out payloadLength)) return true;

        // 1b. A lost path MTU probe's bytes, at the MSS (no room in cwnd needed either: they were in flight).
        if (_path.ResendTo > _path.ResendFrom && TryResendPathProbe(now, maxPayload, out header, out payloadLength)) return true;

        // 2. Probe: a tail loss probe needs none either.
        if (TakePending(TcpPendingOutput.TailLossProbe)) return TryBuildTailLossProbe(now, maxPayload, out header, out payloadLength);

        // 3. What may be sent from here on: the pacing rate, the congestion room, then (step 4) the peer's window, Nagle and
        // SWS avoidance.
        if (PacingDefers(now)) return Nothing(out header, out payloadLength);
        long congestionRoom = _recovery.CongestionRoom(SenderView);
        if (_recovery.Repairing && _opt.Sack && _snd.Nxt >= _snd.Max) // not while a smaller path MTU resends everything
        {
            if (congestionRoom < _opt.Smss) return false; // RFC 6675 §5 (C): send only while cwnd − pipe ≥ 1 SMSS
            if (TrySackRepair(now, maxPayload, out header, out payloadLength)) return true;
        }

        // 4. New data (or go-back-N resends) from SND.NXT.
        return TrySendFromNext(now, maxPayload, headerLength, congestionRoom, out header, out payloadLength);
    }

    /// <summary>
    /// Fast retransmit (RFC 5681 §3.2 step 2; RFC 6582 §3.2 step 5 for a partial ACK): the segment at SND.UNA, whatever cwnd
    /// says, up to the first byte the peer reported holding (RFC 6675 §5).
    /// </summary>
    private bool TryFastRetransmit(Instant now, int maxPayload, out TcpHeader header, out int payloadLength)
    {
        if (!TakePending(TcpPendingOutput.FastRetransmit) || _snd.Una >= _snd.Max || _snd.Una >= _snd.SendLimit)
            return Nothing(out header, out payloadLength);
        // Only what was sent: data beyond SND.MAX is new and waits for the peer's window and cwnd.
        int length = Math.Min(Math.Min(maxPayload, _snd.Max - _snd.Una), Math.Max(0, _snd.DataEnd - _snd.Una));
        if (_opt.Sack) length = _recovery.RetransmitLength(_snd.Una, length);
        return EmitData(now, out header, _snd.Una, length, out payloadLength);
    }

    /// <summary>SACK-based repair (RFC 6675 §5 (C), NextSeg rule 1): the next lost hole the scoreboard shows.</summary>
    private bool TrySackRepair(Instant now, int maxPayload, out TcpHeader header, out int payloadLength)
    {
        if (!_recovery.TryNextRepair(SenderView, maxPayload, out SeqNumber start, out int length))
            return Nothing(out header, out payloadLength);
        // A hole may reach the FIN's sequence number: the data stops before it, and EmitData adds the FIN back.
        length = Math.Min(length, Math.Max(0, _snd.DataEnd - start));
        if (length == 0 && !(_snd.FinQueued && start == _snd.FinSequence)) return Nothing(out header, out payloadLength);
        return EmitData(now, out header, start, length, out payloadLength);
    }

    /// <summary>
    /// The segment at SND.NXT (RFC 6675 NextSeg rule 2): as much as may be sent (<see cref="AllowedLength"/>), the FIN with
    /// the last of the data, and a short segment only when sender SWS avoidance and Nagle allow (<see cref="ShortSegmentAllowed"/>).
    /// Below SND.MAX it is a go-back-N resend after a timeout or a smaller path MTU, which is never held back.
    /// </summary>
    private bool TrySendFromNext(Instant now, int maxPayload, int headerLength, long congestionRoom, out TcpHeader header, out int payloadLength)
    {
        SeqNumber seq = _snd.Nxt;
        if (seq >= _snd.SendLimit) return Nothing(out header, out payloadLength);
        bool resend = seq < _snd.Max;
        int unsent = Math.Max(0, _snd.DataEnd - seq);
        int probe = PathProbeLength(seq, maxPayload, unsent, congestionRoom);
        if (probe > 0)
        {
            OnPathProbeSent(seq, probe);
            return EmitData(now, out header, seq, probe, out payloadLength);
        }
        int length = AllowedLength(seq, unsent, maxPayload, headerLength, resend, congestionRoom);
        bool fin = _snd.FinQueued && length == unsent;
        if (length == 0 && !(fin && BareFinAllowed(resend, congestionRoom))) return Nothing(out header, out payloadLength);
        if (!resend && !fin && length < maxPayload && !ShortSegmentAllowed(length, unsent)) return Nothing(out header, out payloadLength);
        _pending &= ~TcpPendingOutput.SwsOverride;
        if (!resend && length > 0 && length < maxPayload) _snd.ShortEnd = seq + length + (fin ? 1 : 0);
        return EmitData(now, out header, seq, length, out payloadLength, fin);
    }

    /// <summary>
    /// What may be sent at <paramref name="seq"/>: the data waiting, within the peer's window (RFC 9293 §3.8.6: SND.UNA +
    /// SND.WND bounds it) and the congestion room (RFC 5681 §3.1), in one segment — or for new data with segmentation offload
    /// in a super-segment of whole segments (<see cref="SegmentLimit"/>); a short tail is left for the next call, where Nagle
    /// and SWS judge it exactly as they would after as many ordinary full segments.
    /// </summary>
    private int AllowedLength(SeqNumber seq, int unsent, int maxPayload, int headerLength, bool resend, long congestionRoom)
    {
        long windowRoom = (long)_snd.Window - (seq - _snd.Una);
        int segmentLimit = resend ? maxPayload : PacedSegmentLimit(maxPayload, SegmentLimit(maxPayload, headerLength));
        int length = (int)Math.Min(Math.Min(unsent, segmentLimit), Math.Min(Math.Max(0, windowRoom), Math.Max(0, congestionRoom)));
        if (length > maxPayload) length -= length % maxPayload;
        return length;
    }

    /// <summary>A FIN with no data takes sequence space like a byte of new data: it waits for room in cwnd while data is in
    /// flight (a resent one does not wait).</summary>
    private bool BareFinAllowed(bool resend, long congestionRoom) => resend || congestionRoom > 0 || _snd.Max == _snd.Una;

    /// <summary>
    /// Sender SWS avoidance (RFC 9293 §3.8.6.2.1) with Nagle's algorithm (RFC 896, RFC 1122 §4.2.3.4) for a segment shorter
    /// than a full one: it goes when no short segment is unacknowledged (or <see cref="TcpSettings.NoDelay"/>) and it either
    /// empties the queue or fills half the largest window the peer offered — or when the persist timer's override fired.
    /// Nagle is Minshall's variant (draft-minshall-nagle, as Linux's tcp_minshall_check): full segments in flight do not hold
    /// back the short tail of a write. The classic rule ("nothing unacknowledged") held a response of MSS + a few bytes until
    /// the peer's delayed ACK: 40 ms per request on an HTTP keep-alive connection (wrk: 20 requests/s per connection).
    /// </summary>
    private bool ShortSegmentAllowed(int length, int unsent)
    {
        if (IsPending(TcpPendingOutput.SwsOverride)) return true;
        // ShortEnd outside (SND.UNA, SND.MAX] is acknowledged (or from before a sequence wrap): no short segment in flight.
        bool shortInFlight = _snd.ShortEnd > _snd.Una && _snd.ShortEnd <= _snd.Max;
        bool nagleAllows = _settings.NoDelay || !shortInFlight;
        return nagleAllows && (length == unsent || length >= _snd.MaxWindow / 2);
    }

    /// <summary>
    /// The most new-data payload one segment may carry when each ordinary segment carries <paramref name="perSegment"/> bytes
    /// behind a TCP header of <paramref name="headerLength"/>: that, or with TCP segmentation offload
    /// (<see cref="TcpStackContext.SegmentationOffloadMtu"/>) as many whole such segments as fit in an IP packet of 65535
    /// bytes. The device cuts a super-segment after every MTU − IP header − TCP header (with options) bytes; that equals
    /// <paramref name="perSegment"/> (our MSS minus the same options) only when our MSS is the one the device MTU gives. So a
    /// connection whose MSS is smaller (the peer announced less, or path MTU discovery lowered it) never uses offload: the
    /// device would cut pieces larger than the peer or the path takes.
    /// </summary>
    private int SegmentLimit(int perSegment, int headerLength)
    {
        int mtu = _ctx.SegmentationOffloadMtu;
        if (mtu == 0) return perSegment;
        int ipHeader = Remote.Address.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        if (_opt.Mss != mtu - ipHeader - TcpHeader.MinHeaderLength) return perSegment;
        return Math.Max(1, (MaxIpPacket - ipHeader - headerLength) / perSegment) * perSegment;
    }

    /// <summary>The largest IP packet a super-segment may make (the IPv4 total length field; IPv6 is held to the same).</summary>
    private const int MaxIpPacket = 65535;

    /// <summary>Fills in a data segment, moves SND.NXT/SND.MAX, starts RTT timing and the retransmission timer.</summary>
    private bool EmitData(Instant now, out TcpHeader header, SeqNumber seq, int length, out int payloadLength, bool fin = false)
    {
        if (!fin && _snd.FinQueued && seq + length == _snd.FinSequence && seq + length < _snd.Max) fin = true; // resend the FIN with its data
        header = MakeHeader(now, TcpFlags.Ack, seq);
        if (fin) header.Flags |= TcpFlags.Fin;
        if (length > 0 && seq + length == _snd.DataEnd) header.Flags |= TcpFlags.Psh;
        payloadLength = length;
        _snd.LastPayloadOffset = seq - _snd.BufferStart;
        _snd.LastPayloadLength = length;

        SeqNumber end = seq + length + (fin ? 1 : 0);
        bool newData = end > _snd.Max;
        OnSentForRate(now, seq, end, length, _snd.Max - _snd.Una);
        if (seq < _snd.Max)
        {
            _snd.SegmentsRetransmitted++;
            _ctx.Counters.SegmentsRetransmitted++;
            if (_snd.RttTiming && seq < _snd.RttTimedEnd) _snd.RttTiming = false; // Karn's rule
            if (seq < _path.ProbeEnd && end > _path.ProbeStart && !_path.ProbeLost) OnPathProbeResent(now);
            _recovery.OnRetransmitted(seq, SeqNumber.Min(end, _snd.Max), now, header.HasTimestamps ? header.TimestampValue : null);
        }
        if (newData)
        {
            _recovery.OnSent(SeqNumber.Max(seq, _snd.Max), end, now);
            if (_ecn.Agreed && length > 0 && seq >= _snd.Max)
            {
                _ecn.LastSegmentCapable = true; // new data only (RFC 3168 §6.1.5: a retransmission is not ECN-capable)
                if (_ecn.CwrPending)
                {
                    header.Flags |= TcpFlags.Cwr; // the first new data after a reduction (RFC 3168 §6.1.2)
                    _ecn.CwrPending = false;
                }
            }
        }
        if (end > _snd.Max)
        {
            int fresh = Math.Min(length, end - _snd.Max);
            _snd.BytesSent += Math.Max(0, fresh);
            if (!_snd.RttTiming && !_opt.Timestamps)
            {
                _snd.RttTiming = true;
                _snd.RttTimedEnd = end;
                _snd.RttTimedAt = now;
            }
        }
        if (end > _snd.Nxt) _snd.Nxt = end;
        if (end > _snd.Max) _snd.Max = end;
        if (end > _snd.ProbeHigh) _snd.ProbeHigh = end;
        if (_timers.Retransmit.IsNever) _timers.Retransmit = now + _rtt.Rto; // RFC 6298 §5.1
        if (newData) ArmTailLossProbe(now); // RFC 8985 §7.2: (re)start the PTO after new data
        return true;
    }

    /// <summary>
    /// The TCP header length of the next segment that carries an ACK, asked of the wire layer for a header with the same
    /// options: timestamps when agreed, a SACK block per out-of-order range (as many as fit, RFC 2018 §3).
    /// </summary>
    private int NextHeaderLength()
    {
        var next = new TcpHeader(Local.Port, Remote.Port, TcpFlags.Ack)
        {
            HasTimestamps = _opt.Timestamps,
            SackBlockCount = (byte)(_opt.Sack ? Math.Min(_rcv.OutOfOrder.Count + (_rcv.HasDuplicateSack ? 1 : 0), 4) : 0),
        };
        return next.Length;
    }

    /// <summary>A header carrying ACK, our window, timestamps and SACK blocks; marks the ACK as sent.</summary>
    private TcpHeader MakeHeader(Instant now, TcpFlags flags, SeqNumber seq)
    {
        var h = new TcpHeader(Local.Port, Remote.Port, flags)
        {
            Sequence = seq,
            Acknowledgment = _rcv.Nxt,
            Window = WindowField(),
        };
        if (_opt.Timestamps)
        {
            h.HasTimestamps = true;
            h.TimestampValue = _opt.TsNow(now);
            h.TimestampEcho = _opt.TsRecent;
        }
        if (_opt.Sack && (_rcv.OutOfOrder.Count > 0 || _rcv.HasDuplicateSack)) AddSackBlocks(ref h);
        if (_ecn.EchoCongestion) h.Flags |= TcpFlags.Ece; // until the peer's CWR (RFC 3168 §6.1.3)
        _rcv.LastAckSent = _rcv.Nxt;
        _pending &= ~(TcpPendingOutput.Ack | TcpPendingOutput.VolumeAck);
        if (_rcv.HasDuplicateSack) _pending |= TcpPendingOutput.Ack; // the next duplicate waiting gets an ACK of its own
        _timers.DelayedAck = Instant.Never;
        _rcv.UnackedBytes = 0;
        return h;
    }

    /// <summary>
    /// The window to advertise (RFC 9293 §3.8.6.2.2 receiver SWS avoidance): the right edge moves only by at least
    /// min(buffer/2, MSS), and never back. Scaled by our shift (RFC 7323 §2.3).
    /// </summary>
    private ushort WindowField()
    {
        SeqNumber right = _rcv.Nxt + _rcv.Free;
        int threshold = Math.Max(1, Math.Min(_rcv.Buffer.Capacity / 2, _opt.Mss));
        SeqNumber newRight = right - _rcv.AdvertisedEdge >= threshold || right < _rcv.AdvertisedEdge ? right : _rcv.AdvertisedEdge;
        int window = Math.Max(0, newRight - _rcv.Nxt);
        int field = Math.Min(window >> _rcv.WindowScale, ushort.MaxValue);
        SetAdvertisedRight(_rcv.Nxt + (field << _rcv.WindowScale));
        return (ushort)field;
    }

    /// <summary>
    /// Records the right edge a segment advertises. A scaled window is rounded down, so the edge can fall back by up to
    /// 2^scale − 1 bytes; RCV.WND for accepting data keeps the furthest edge the peer was ever told (RFC 7323 §2.4, window
    /// retraction: the peer may already have sent into the larger window).
    /// </summary>
    private void SetAdvertisedRight(SeqNumber right)
    {
        _rcv.AdvertisedEdge = right;
        if (right > _rcv.WindowEdge) _rcv.WindowEdge = right;
    }

    /// <summary>
    /// True when reading opened the window enough that the peer must hear of it at once, in a pure ACK: the right edge we
    /// could advertise moved by at least min(buffer/2, 2·MSS) (receiver SWS avoidance, RFC 9293 §3.8.6.2.2), and the window
    /// the peer knows is too small to keep it sending. While that window still takes two full segments (which we ACK at
    /// once, RFC 5681 §4.2) and one more, the peer is not waiting for us: the new window rides on the next ACK we send
    /// anyway — the delayed ACK of a request, or the response that carries it (RFC 1122 §4.2.3.2). Linux sends no update
    /// after a request is read either: tcp_cleanup_rbuf wants the window to double, and the window it offers grows with
    /// rcv_ssthresh as data arrives, not with the buffer. Before this rule a buffer over 64 KiB sent a pure ACK ahead of the
    /// response to the first request (the peer knew only the unscaled SYN window), and without window scaling to every one.
    /// </summary>
    private bool WindowUpdateWorthSending()
    {
        // The edge a segment could advertise: the 16-bit field caps it (65535 bytes without window scaling, RFC 7323 §2.2).
        SeqNumber right = _rcv.Nxt + Math.Min(_rcv.Free, _rcv.LargestWindow);
        int increase = right - _rcv.AdvertisedEdge;
        if (increase < Math.Max(1, Math.Min(_rcv.Buffer.Capacity / 2, 2 * _opt.Mss))) return false;
        int known = _rcv.AdvertisedEdge - _rcv.Nxt; // what the peer may still send; ≤ 0 when it filled our window
        return known < 2 * _rcv.MssEstimate + _opt.Mss;
    }

    /// <summary>
    /// SACK blocks (RFC 2018 §4): a D-SACK first if data arrived twice (RFC 2883 §4: reported once, followed by the block
    /// holding it when it lies above RCV.NXT), then the block holding the latest out-of-order segment, then the others.
    /// </summary>
    private void AddSackBlocks(ref TcpHeader h)
    {
        int max = TcpOptions.SackBlockRoom(h); // beside the header's other options (4, or 3 with timestamps)
        if (_rcv.HasDuplicateSack)
        {
            SackBlock duplicate = _rcv.DuplicateSack;
            _rcv.DuplicateSackSent();
            h.AddSackBlock(duplicate);
            _ctx.Counters.DuplicateSacksSent++;
            for (int i = 0; i < _rcv.OutOfOrder.Count; i++)
            {
                SackBlock block = _rcv.OutOfOrder[i];
                if (duplicate.Left >= block.Left && duplicate.Right <= block.Right)
                {
                    h.AddSackBlock(block); // RFC 2883 §4 (2): the block that contains the duplicate follows it
                    break;
                }
            }
        }
        for (int a = 0; a < _rcv.SackAnchorCount && h.SackBlockCount < max; a++)
        {
            SeqNumber anchor = _rcv.SackAnchors![a]; // non-null once _rcv.SackAnchorCount > 0
            for (int i = 0; i < _rcv.OutOfOrder.Count; i++)
            {
                SackBlock block = _rcv.OutOfOrder[i];
                if (anchor >= block.Left && anchor < block.Right)
                {
                    AddSackBlockOnce(ref h, block);
                    break;
                }
            }
        }
        for (int i = _rcv.OutOfOrder.Count - 1; i >= 0 && h.SackBlockCount < max; i--)
            AddSackBlockOnce(ref h, _rcv.OutOfOrder[i]);
    }

    private static void AddSackBlockOnce(ref TcpHeader h, SackBlock block)
    {
        for (int i = 0; i < h.SackBlockCount; i++)
            if (h.SackBlocks[i] == block) return;
        h.AddSackBlock(block);
    }
}
