using System.Diagnostics;
using System.Runtime.InteropServices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02, the scheme of Linux's tcp_rate.c): the
/// connection counts the bytes delivered (cumulatively acknowledged or SACKed) and when the count last moved; each segment
/// remembers, as it is (re)sent, that count, that time and when the send phase it belongs to began. An ACK that delivers
/// segments then yields one <see cref="RateSample"/> from the most recently sent of them: the bytes delivered between its
/// send and this ACK, over the longer of the send and ACK intervals (§3.3). Periods when the application, not the network,
/// held the sender back are marked so a model-based controller does not take their low rates for the path's (§3.4).
/// </summary>
/// <remarks>
/// The per-segment records are a ring in sequence order parallel to what is in flight, grown by doubling and never shrunk,
/// so steady state allocates nothing per segment. Counting is in bytes. A segment counts as SACKed when a block covers all
/// of it; a partly covered one is counted when the cumulative ACK reaches it.
/// </remarks>
internal sealed class DeliveryRateSampler
{
    private Record[] _records = [];       // the ring; a power-of-two capacity once anything was sent
    private int _head;                    // the oldest record's index
    private int _count;                   // records in use

    private long _delivered;              // C.delivered: bytes delivered so far
    private Instant _deliveredAt;         // C.delivered_time: when _delivered last grew
    private Instant _firstSentAt;         // C.first_sent_time: the send time of the segment that opened the current send phase
    private long _appLimitedUntil;        // C.app_limited: delivered count that ends the app-limited period; 0 when not app-limited

    private Sample _best;                 // the most recently sent segment delivered by the ACK being processed
    private long _deliveredThisAck;       // bytes this ACK delivered (rs.acked_sacked)
    private TimeSpan _rttThisAck;         // the RTT of the newest never-resent segment this ACK delivered; negative if none

    /// <summary>One segment as last sent.</summary>
    [StructLayout(LayoutKind.Auto)]
    private struct Record
    {
        public SeqNumber Start;            // its first sequence number (moves up when a cumulative ACK covers part of it)
        public SeqNumber End;              // one past its last
        public Instant SentAt;             // when it was last sent
        public long Delivered;             // P.delivered: C.delivered when it was sent
        public Instant DeliveredAt;        // P.delivered_time: C.delivered_time when it was sent
        public Instant FirstSentAt;        // P.first_sent_time: C.first_sent_time when it was sent
        public bool AppLimited;            // P.is_app_limited: sent in an app-limited period
        public bool Retransmitted;         // sent more than once (its RTT is ambiguous, Karn)
        public bool Sacked;                // delivered by SACK already (counted once)
    }

    /// <summary>What the newest delivered segment carried, while an ACK is processed.</summary>
    [StructLayout(LayoutKind.Auto)]
    private struct Sample
    {
        public bool Valid;                 // some segment was delivered
        public long PriorDelivered;        // P.delivered of it
        public Instant PriorDeliveredAt;   // P.delivered_time
        public Instant SentAt;             // its send time
        public Instant FirstSentAt;        // P.first_sent_time
        public bool AppLimited;            // P.is_app_limited
    }

    /// <summary>C.delivered: bytes delivered so far.</summary>
    public long Delivered => _delivered;

    /// <summary>True while the sender is in an application-limited period (C.app_limited ≠ 0).</summary>
    public bool IsAppLimited => _appLimitedUntil != 0;

    /// <summary>Records in use (tests).</summary>
    internal int Count => _count;

    /// <summary>
    /// [<paramref name="start"/>, <paramref name="end"/>) went out at <paramref name="now"/> with <paramref name="bytesInFlight"/>
    /// in the network before it (§3.2 "Transmitting a data packet"): new data gets a record, a retransmission refreshes the
    /// records it covers.
    /// </summary>
    public void OnSent(SeqNumber start, SeqNumber end, Instant now, long bytesInFlight)
    {
        if (end <= start) return;
        if (bytesInFlight <= 0)
        {
            // Nothing in flight: a new send phase, and delivery is measured from now (§3.2).
            _firstSentAt = now;
            _deliveredAt = now;
        }
        SeqNumber newFrom = _count > 0 ? SeqNumber.Max(start, At(_count - 1).End) : start;
        // New data at the tail (every segment of a bulk send) lies in no record: no search.
        int i = newFrom == start ? -1 : IndexOf(start);
        if (i >= 0)
        {
            for (; i < _count; i++)
            {
                ref Record r = ref At(i);
                if (r.Start >= end) break;
                if (r.Sacked) continue;
                Stamp(ref r, now);
                r.Retransmitted = true;
            }
        }
        if (end <= newFrom) return;
        if (_count == _records.Length) Grow();
        ref Record fresh = ref _records[(_head + _count) & (_records.Length - 1)];
        fresh = new Record { Start = newFrom, End = end };
        Stamp(ref fresh, now);
        _count++;
    }

    /// <summary>An ACK begins: forget the last one's sample.</summary>
    public void BeginAck()
    {
        _best = default;
        _deliveredThisAck = 0;
        _rttThisAck = TimeSpan.MinValue;
    }

    /// <summary>One SACK block of the ACK (D-SACK excluded): the records it covers wholly are delivered (§3.3).</summary>
    public void OnSackBlock(SackBlock block, Instant now)
    {
        if (_count == 0 || block.Right <= block.Left) return;
        int i = IndexOf(block.Left);
        if (i < 0)
        {
            if (block.Left >= At(_count - 1).End) return;
            i = LowerBound(block.Left);
        }
        for (; i < _count; i++)
        {
            ref Record r = ref At(i);
            if (r.Start >= block.Right) break;
            if (r.Sacked || r.Start < block.Left || r.End > block.Right) continue;
            r.Sacked = true;
            OnDelivered(ref r, r.End - r.Start, now);
        }
    }

    /// <summary>The cumulative ACK reached <paramref name="una"/>: the records below it are delivered, unless SACKed already.</summary>
    public void OnCumulativeAck(SeqNumber una, Instant now)
    {
        while (_count > 0)
        {
            ref Record first = ref At(0);
            if (first.Start >= una) break;
            SeqNumber to = SeqNumber.Min(first.End, una);
            if (!first.Sacked) OnDelivered(ref first, to - first.Start, now);
            if (first.End <= una)
            {
                _head = (_head + 1) & (_records.Length - 1);
                _count--;
            }
            else
            {
                first.Start = una;
                break;
            }
        }
    }

    /// <summary>
    /// The ACK was processed: the rate sample it gives (§3.3 "Upon receiving ACK"), invalid when it delivered nothing new or
    /// its interval is shorter than <paramref name="minRtt"/> (an ACK compressed or stretched beyond belief).
    /// </summary>
    public RateSample EndAck(Instant now, TimeSpan? minRtt)
    {
        // The app-limited period ends once the data sent after it is being delivered (§3.4).
        if (_appLimitedUntil != 0 && _delivered > _appLimitedUntil) _appLimitedUntil = 0;
        if (!_best.Valid) return new RateSample(_deliveredThisAck, 0, TimeSpan.Zero, _rttThisAck, false, _delivered, _delivered);
        long delivered = _delivered - _best.PriorDelivered;
        TimeSpan sendElapsed = _best.SentAt - _best.FirstSentAt;
        TimeSpan ackElapsed = now - _best.PriorDeliveredAt;
        TimeSpan interval = sendElapsed > ackElapsed ? sendElapsed : ackElapsed;
        bool valid = interval > TimeSpan.Zero && (minRtt is not { } m || interval >= m);
        return new RateSample(_deliveredThisAck, valid ? delivered : 0, valid ? interval : TimeSpan.Zero, _rttThisAck,
            _best.AppLimited, _best.PriorDelivered, _delivered);
    }

    /// <summary>
    /// The sender has nothing to send and room to send it (§3.4 "Detecting application-limited phases"): samples taken until
    /// what is in flight now is delivered are marked app-limited.
    /// </summary>
    public void MarkAppLimited(long bytesInFlight) => _appLimitedUntil = Math.Max(_delivered + bytesInFlight, 1);

    /// <summary>Everything in flight was dropped (the send buffer went): forget the records.</summary>
    public void Clear()
    {
        _head = 0;
        _count = 0;
    }

    /// <summary>True when the records lie within [<paramref name="low"/>, <paramref name="high"/>) in order (invariant checks).</summary>
    public bool LiesWithin(SeqNumber low, SeqNumber high)
    {
        SeqNumber previous = low;
        for (int i = 0; i < _count; i++)
        {
            ref Record r = ref At(i);
            if (r.Start < previous || r.End <= r.Start || r.End > high) return false;
            previous = r.End;
        }
        return true;
    }

    private void Stamp(ref Record r, Instant now)
    {
        r.SentAt = now;
        r.Delivered = _delivered;
        r.DeliveredAt = _deliveredAt;
        r.FirstSentAt = _firstSentAt;
        r.AppLimited = _appLimitedUntil != 0;
    }

    private void OnDelivered(ref Record r, int bytes, Instant now)
    {
        if (bytes <= 0) return;
        _delivered += bytes;
        _deliveredAt = now;
        _deliveredThisAck += bytes;
        if (!r.Retransmitted && (_rttThisAck < TimeSpan.Zero || now - r.SentAt < _rttThisAck)) _rttThisAck = now - r.SentAt;
        // The sample comes from the most recently sent segment delivered (the largest P.delivered, then the latest send).
        if (!_best.Valid || r.Delivered > _best.PriorDelivered || (r.Delivered == _best.PriorDelivered && r.SentAt > _best.SentAt))
        {
            _best = new Sample
            {
                Valid = true,
                PriorDelivered = r.Delivered,
                PriorDeliveredAt = r.DeliveredAt,
                SentAt = r.SentAt,
                FirstSentAt = r.FirstSentAt,
                AppLimited = r.AppLimited,
            };
            // The next send phase starts at this segment's send time (§3.3: C.first_sent_time = P.sent_time).
            _firstSentAt = r.SentAt;
        }
    }

    private ref Record At(int index)
    {
        Debug.Assert((uint)index < (uint)_count, "a record in use");
        return ref _records[(_head + index) & (_records.Length - 1)];
    }

    /// <summary>The index of the record holding <paramref name="seq"/>, or −1.</summary>
    private int IndexOf(SeqNumber seq)
    {
        int i = LowerBound(seq);
        return i < _count && At(i).Start <= seq ? i : -1;
    }

    /// <summary>The index of the first record whose end lies above <paramref name="seq"/> (<see cref="Count"/> if none).</summary>
    private int LowerBound(SeqNumber seq)
    {
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (At(mid).End <= seq) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private void Grow()
    {
        var bigger = new Record[Math.Max(16, _records.Length * 2)];
        for (int i = 0; i < _count; i++) bigger[i] = At(i);
        _records = bigger;
        _head = 0;
    }
}

/// <summary>
/// One delivery rate sample (draft-cheng-iccrg-delivery-rate-estimation §3.3): <see cref="Delivered"/> bytes over
/// <see cref="Interval"/>, valid when the interval is positive.
/// </summary>
/// <param name="NewlyDelivered">Bytes the ACK delivered (cumulatively or by SACK), whether or not the sample is valid.</param>
/// <param name="Delivered">Bytes delivered over the interval (rs.delivered).</param>
/// <param name="Interval">The longer of the send and ACK phases (rs.interval); zero when the sample is not valid.</param>
/// <param name="Rtt">The round-trip time of the newest never-resent segment the ACK delivered; negative when there was none.</param>
/// <param name="IsAppLimited">The sample was taken in an application-limited period: a low rate says nothing of the path.</param>
/// <param name="PriorDelivered">C.delivered when the newest delivered segment was sent (round-trip counting).</param>
/// <param name="TotalDelivered">C.delivered after the ACK.</param>
internal readonly record struct RateSample(long NewlyDelivered, long Delivered, TimeSpan Interval, TimeSpan Rtt, bool IsAppLimited,
    long PriorDelivered, long TotalDelivered)
{
    /// <summary>The sample has a rate.</summary>
    public bool IsValid => Interval > TimeSpan.Zero;

    /// <summary>The delivery rate in bytes per second (0 when not valid).</summary>
    public double BytesPerSecond => IsValid ? Delivered * (double)TimeSpan.TicksPerSecond / Interval.Ticks : 0;
}
