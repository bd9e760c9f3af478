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
        _lastPayloadLength = 0;
        if (_rstPending)
        {
            _rstPending = false;
            header = new TcpHeader(Local.Port, Remote.Port, _rstFlags) { Sequence = _rstSeq, Acknowledgment = _rstAck };
            _ctx.Counters.ResetsSent++;
            _ctx.Counters.SegmentsSent++;
            return true;
        }

        bool sent = State switch
        {
            TcpState.Closed or TcpState.Listen => Nothing(out header),
            TcpState.SynSent or TcpState.SynReceived => TryBuildSyn(now, out header),
            _ => TryBuildSynchronized(now, out header, out payloadLength),
        };
        if (sent) _ctx.Counters.SegmentsSent++;
        else ArmIdleTimers(now);
        return sent;
    }

    /// <summary>Copies the payload of the segment last returned by <see cref="TryGetSegment"/> (from the send ring, no allocation).</summary>
    public void CopyPayload(Span<byte> destination)
    {
        if (_lastPayloadLength == 0) return;
        _sendRing.CopyTo(_lastPayloadOffset, destination[.._lastPayloadLength]);
    }

    private static bool Nothing(out TcpHeader header)
    {
        header = default;
        return false;
    }

    /// <summary>The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with our options (RFC 9293 §3.5, RFC 7323, RFC 2018).</summary>
    private bool TryBuildSyn(Instant now, out TcpHeader header)
    {
        if (!_synPending) return Nothing(out header);
        _synPending = false;
        bool synAck = State == TcpState.SynReceived;
        header = new TcpHeader(Local.Port, Remote.Port, synAck ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn)
        {
            Sequence = _iss,
            Acknowledgment = synAck ? _rcvNxt : default,
            Window = (ushort)Math.Min(_recvRing.Capacity, ushort.MaxValue), // never scaled in a SYN (RFC 7323 §2.2)
            MaxSegmentSize = (ushort)_mtuMss,
        };
        if (synAck)
        {
            // Answer only what the peer offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
            if (_wsAgreed) header.WindowScale = (sbyte)_rcvScale;
            header.SackPermitted = _sackEnabled;
            if (_tsEnabled)
            {
                header.HasTimestamps = true;
                header.TimestampValue = TsNow(now);
                header.TimestampEcho = _tsRecent;
            }
            _lastAckSent = _rcvNxt;
            SetAdvertisedRight(_rcvNxt + header.Window);
        }
        else
        {
            if (_settings.EnableWindowScale) header.WindowScale = (sbyte)_rcvScale;
            header.SackPermitted = _settings.EnableSack;
            if (_settings.EnableTimestamps)
            {
                header.HasTimestamps = true;
                header.TimestampValue = TsNow(now);
            }
        }
        if (_sndMax == _iss)
        {
            _sndNxt = _sndMax = _probeHigh = _iss + 1;
            _synSentAt = now;
        }
        else
        {
            _synRetransmitted = true;
            _segmentsRetransmitted++;
            _ctx.Counters.SegmentsRetransmitted++;
        }
        if (_rtoAt.IsNever) _rtoAt = now + _rtt.Rto;
        return true;
    }

    private bool TryBuildSynchronized(Instant now, out TcpHeader header, out int payloadLength)
    {
        payloadLength = 0;
        if ((State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            && TryBuildData(now, out header, out payloadLength))
            return true;

        if (_probePending)
        {
            _probePending = false;
            if (DataEnd > _sndNxt)
            {
                // Zero-window probe (RFC 9293 §3.8.6.1): one byte of new data beyond the closed window. SND.NXT stays put;
                // if the peer takes the byte, its ACK (up to _probeHigh) moves SND.NXT on.
                header = MakeHeader(now, TcpFlags.Ack, _sndNxt);
                payloadLength = 1;
                _lastPayloadOffset = _sndNxt - _sendBase;
                _lastPayloadLength = 1;
                if (_probeHigh < _sndNxt + 1) _probeHigh = _sndNxt + 1;
                _ctx.Counters.ZeroWindowProbes++;
                return true;
            }
        }

        if (_keepalivePending)
        {
            // Keepalive probe (RFC 1122 §4.2.3.6): SEG.SEQ = SND.NXT − 1 with no data, so the peer must answer with an ACK.
            _keepalivePending = false;
            header = MakeHeader(now, TcpFlags.Ack, _sndUna - 1);
            _ctx.Counters.KeepAliveProbes++;
            return true;
        }

        if (_ackNow)
        {
            // A pure ACK carries the highest sequence number sent, not SND.NXT: after a timeout SND.NXT is pulled back for
            // go-back-N, and a sequence number below what the peer already received would make it unacceptable there, so
            // its ACK field would be ignored (and each side would answer the other's "old" ACKs for ever).
            // A zero-window probe byte the peer took counts too (_probeHigh).
            header = MakeHeader(now, TcpFlags.Ack, SeqNumber.Max(_sndMax, _probeHigh));
            return true;
        }
        return Nothing(out header);
    }

    /// <summary>
    /// Data and FIN: first a fast retransmit of the segment at SND.UNA, then SACK repairs (RFC 6675 NextSeg rule 1), then
    /// new data or go-back-N resends from SND.NXT (NextSeg rule 2), all within the peer's window and the congestion room.
    /// </summary>
    private bool TryBuildData(Instant now, out TcpHeader header, out int payloadLength)
    {
        payloadLength = 0;
        SeqNumber dataEnd = DataEnd;
        SeqNumber sendLimit = _finQueued ? dataEnd + 1 : dataEnd;
        header = default;
        int maxPayload = Math.Max(1, MaxPayloadNoOptions - ProspectiveOptionBytes());

        if (_retransmitHead)
        {
            _retransmitHead = false;
            if (_sndUna < _sndMax && _sndUna < sendLimit)
            {
                int len = Math.Min(maxPayload, Math.Max(0, dataEnd - _sndUna));
                if (_sackEnabled) len = _scoreboard.UnsackedRun(_sndUna, len);
                return EmitData(now, out header, _sndUna, len, out payloadLength);
            }
        }

        if (_tlpPending) return TryBuildTailLossProbe(now, maxPayload, out header, out payloadLength);

        long room = CongestionRoom();
        if (_inRecovery && _sackEnabled)
        {
            if (room < Smss) return false; // RFC 6675 §5 (C): send only while cwnd − pipe ≥ 1 SMSS
            if (TryNextSackRepair(maxPayload, out SeqNumber holeStart, out int holeLength))
                return EmitData(now, out header, holeStart, holeLength, out payloadLength);
        }

        SeqNumber seq = _sndNxt;
        if (seq >= sendLimit) return false;
        int unsent = Math.Max(0, dataEnd - seq);
        long windowRoom = (long)_sndWnd - (seq - _sndUna);
        bool isRetransmit = seq < _sndMax;
        // New data may go as one super-segment when the device segments TCP; go-back-N resends stay MSS-sized.
        int segmentLimit = isRetransmit ? maxPayload : SegmentLimit(maxPayload);
        long allowed = Math.Min(Math.Min(unsent, segmentLimit), Math.Min(Math.Max(0, windowRoom), Math.Max(0, room)));
        int length = (int)allowed;
        // A super-segment glues whole segments only: a short tail is left for the next call, where Nagle and SWS judge it
        // exactly as they would judge it after as many ordinary full segments.
        if (length > maxPayload) length -= length % maxPayload;
        bool fin = _finQueued && length == unsent;
        if (length == 0 && !fin) return false;
        if (length == 0 && fin && room <= 0 && !isRetransmit && _sndMax > _sndUna) return false;

        // Sender-side SWS avoidance and Nagle (RFC 9293 §3.8.6.2.1, §3.7.4; RFC 1122 §4.2.3.4): a short segment goes out
        // only when it empties the queue and nothing is unacknowledged (or NoDelay), or fills half the largest window seen.
        if (!isRetransmit && !fin && length < maxPayload && !_swsOverride)
        {
            bool nagleAllows = _settings.NoDelay || _sndMax == _sndUna;
            bool sendable = nagleAllows && (length == unsent || length >= _maxSndWnd / 2);
            if (!sendable) return false;
        }
        _swsOverride = false;
        return EmitData(now, out header, seq, length, out payloadLength, fin);
    }

    /// <summary>
    /// The most new-data payload one segment may carry when each ordinary segment carries <paramref name="perSegment"/> bytes:
    /// that, or with TCP segmentation offload (<see cref="TcpStackContext.SegmentationOffloadMtu"/>) as many whole such
    /// segments as fit in an IP packet of 65535 bytes. The device cuts a super-segment after every MTU − IP header − TCP header
    /// (with options) bytes; that equals <paramref name="perSegment"/> (our MSS minus the same options) only when our MSS is the
    /// one the device MTU gives. So a connection whose MSS is smaller (the peer announced less, or path MTU discovery lowered
    /// it) never uses offload: the device would cut pieces larger than the peer or the path takes.
    /// </summary>
    private int SegmentLimit(int perSegment)
    {
        int mtu = _ctx.SegmentationOffloadMtu;
        if (mtu == 0) return perSegment;
        int ipHeader = Remote.Address.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        if (_mss != mtu - ipHeader - Wire.TcpHeader.MinHeaderLength) return perSegment;
        int headers = ipHeader + Wire.TcpHeader.MinHeaderLength + ProspectiveOptionBytes();
        return Math.Max(1, (MaxIpPacket - headers) / perSegment) * perSegment;
    }

    /// <summary>The largest IP packet a super-segment may make (the IPv4 total length field; IPv6 is held to the same).</summary>
    private const int MaxIpPacket = 65535;

    /// <summary>Fills in a data segment, moves SND.NXT/SND.MAX, starts RTT timing and the retransmission timer.</summary>
    private bool EmitData(Instant now, out TcpHeader header, SeqNumber seq, int length, out int payloadLength, bool fin = false)
    {
        if (!fin && _finQueued && seq + length == FinSequence && seq + length < _sndMax) fin = true; // resend the FIN with its data
        header = MakeHeader(now, TcpFlags.Ack, seq);
        if (fin) header.Flags |= TcpFlags.Fin;
        if (length > 0 && seq + length == DataEnd) header.Flags |= TcpFlags.Psh;
        payloadLength = length;
        _lastPayloadOffset = seq - _sendBase;
        _lastPayloadLength = length;

        SeqNumber end = seq + length + (fin ? 1 : 0);
        bool newData = end > _sndMax;
        if (seq < _sndMax)
        {
            _segmentsRetransmitted++;
            _ctx.Counters.SegmentsRetransmitted++;
            if (_rttTiming && seq < _rttSeq) _rttTiming = false; // Karn's rule
            if (_inRecovery && end > _highRxt) _highRxt = end;
        }
        if (end > _sndMax)
        {
            int fresh = Math.Min(length, end - _sndMax);
            _bytesSent += Math.Max(0, fresh);
            if (!_rttTiming && !_tsEnabled)
            {
                _rttTiming = true;
                _rttSeq = end;
                _rttStart = now;
            }
        }
        if (end > _sndNxt) _sndNxt = end;
        if (end > _sndMax) _sndMax = end;
        if (end > _probeHigh) _probeHigh = end;
        if (_rtoAt.IsNever) _rtoAt = now + _rtt.Rto; // RFC 6298 §5.1
        if (newData) ArmTailLossProbe(now); // RFC 8985 §7.2: (re)start the PTO after new data
        return true;
    }

    /// <summary>The option bytes the next ACK-carrying segment will have (timestamps and SACK blocks), padded to 4.</summary>
    private int ProspectiveOptionBytes()
    {
        int n = _tsEnabled ? 10 : 0;
        if (_sackEnabled && _recvOutOfOrder.Count > 0) n += 2 + 8 * Math.Min(_recvOutOfOrder.Count, _tsEnabled ? 3 : 4);
        return (n + 3) & ~3;
    }

    /// <summary>A header carrying ACK, our window, timestamps and SACK blocks; marks the ACK as sent.</summary>
    private TcpHeader MakeHeader(Instant now, TcpFlags flags, SeqNumber seq)
    {
        var h = new TcpHeader(Local.Port, Remote.Port, flags)
        {
            Sequence = seq,
            Acknowledgment = _rcvNxt,
            Window = WindowField(),
        };
        if (_tsEnabled)
        {
            h.HasTimestamps = true;
            h.TimestampValue = TsNow(now);
            h.TimestampEcho = _tsRecent;
        }
        if (_sackEnabled && _recvOutOfOrder.Count > 0) AddSackBlocks(ref h);
        _lastAckSent = _rcvNxt;
        _ackNow = false;
        _delayedAckAt = Instant.Never;
        _unackedReceivedBytes = 0;
        return h;
    }

    /// <summary>
    /// The window to advertise (RFC 9293 §3.8.6.2.2 receiver SWS avoidance): the right edge moves only by at least
    /// min(buffer/2, MSS), and never back. Scaled by our shift (RFC 7323 §2.3).
    /// </summary>
    private ushort WindowField()
    {
        SeqNumber right = _rcvNxt + ReceiveFree;
        int threshold = Math.Max(1, Math.Min(_recvRing.Capacity / 2, _mss));
        SeqNumber newRight = right - _rcvAdvRight >= threshold || right < _rcvAdvRight ? right : _rcvAdvRight;
        int window = Math.Max(0, newRight - _rcvNxt);
        int field = Math.Min(window >> _rcvScale, ushort.MaxValue);
        SetAdvertisedRight(_rcvNxt + (field << _rcvScale));
        return (ushort)field;
    }

    /// <summary>
    /// Records the right edge a segment advertises. A scaled window is rounded down, so the edge can fall back by up to
    /// 2^scale − 1 bytes; RCV.WND for accepting data keeps the furthest edge the peer was ever told (RFC 7323 §2.4, window
    /// retraction: the peer may already have sent into the larger window).
    /// </summary>
    private void SetAdvertisedRight(SeqNumber right)
    {
        _rcvAdvRight = right;
        if (right > _rcvWndEdge) _rcvWndEdge = right;
    }

    /// <summary>
    /// RCV.WND (RFC 9293 §3.3.1): what the peer may send beyond RCV.NXT — the window we advertised, which receiver SWS
    /// avoidance keeps below the free space. 0 after we advertised a zero window, even if the reader freed a little since.
    /// </summary>
    private int ReceiveWindow => Math.Max(0, _rcvWndEdge - _rcvNxt);

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
        SeqNumber right = _rcvNxt + Math.Min(ReceiveFree, ushort.MaxValue << _rcvScale);
        int increase = right - _rcvAdvRight;
        if (increase < Math.Max(1, Math.Min(_recvRing.Capacity / 2, 2 * _mss))) return false;
        int known = _rcvAdvRight - _rcvNxt; // what the peer may still send; ≤ 0 when it filled our window
        return known < 2 * _rcvMssEstimate + _mss;
    }

    /// <summary>SACK blocks (RFC 2018 §4): the block holding the latest out-of-order segment first, then the others.</summary>
    private void AddSackBlocks(ref TcpHeader h)
    {
        int max = h.HasTimestamps ? 3 : 4;
        for (int a = 0; a < _recentSackCount && h.SackBlockCount < max; a++)
        {
            SeqNumber anchor = _recentSackAnchors![a]; // non-null once _recentSackCount > 0
            for (int i = 0; i < _recvOutOfOrder.Count; i++)
            {
                SackBlock block = _recvOutOfOrder[i];
                if (anchor >= block.Left && anchor < block.Right)
                {
                    AddSackBlockOnce(ref h, block);
                    break;
                }
            }
        }
        for (int i = _recvOutOfOrder.Count - 1; i >= 0 && h.SackBlockCount < max; i--)
            AddSackBlockOnce(ref h, _recvOutOfOrder[i]);
    }

    private static void AddSackBlockOnce(ref TcpHeader h, SackBlock block)
    {
        for (int i = 0; i < h.SackBlockCount; i++)
            if (h.SackBlocks[i] == block) return;
        h.AddSackBlock(block);
    }

    /// <summary>Bytes of options <see cref="Wire.TcpHeader.Emit"/> writes for a non-SYN header, padded to 4 (RFC 9293 §3.1).</summary>
    internal static int OptionBytes(in TcpHeader h)
    {
        int n = 0;
        if (h.MaxSegmentSize > 0) n += 4;
        if (h.WindowScale >= 0) n += 3;
        if (h.SackPermitted) n += 2;
        if (h.HasTimestamps) n += 10;
        if (h.SackBlockCount > 0) n += 2 + 8 * h.SackBlockCount;
        return (n + 3) & ~3;
    }
}
