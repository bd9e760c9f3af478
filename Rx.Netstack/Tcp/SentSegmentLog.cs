using System.Diagnostics;
using System.Runtime.InteropServices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// What RACK (RFC 8985 §5.2) keeps per segment in flight: its sequence range, when it was last sent, whether it was sent
/// again, SACKed, or marked lost and how far its repair got. A ring of entries in sequence order, SND.UNA's first; it grows
/// by doubling and never shrinks, so a connection in steady state allocates nothing per segment.
/// </summary>
internal sealed class SentSegmentLog
{
    private Entry[] _entries = [];  // the ring; its capacity is a power of two once anything was sent
    private int _head;              // the index of the oldest entry
    private int _count;             // entries in use

    /// <summary>One segment (or super-segment) as sent.</summary>
    [StructLayout(LayoutKind.Auto)]
    public struct Entry
    {
        /// <summary>Its first sequence number (moves up when a cumulative ACK covers part of it).</summary>
        public SeqNumber Start;

        /// <summary>One past its last sequence number.</summary>
        public SeqNumber End;

        /// <summary>When it was last (re)sent: RACK's Segment.xmit_ts.</summary>
        public Instant SentAt;

        /// <summary>It was sent more than once (Segment.retransmitted).</summary>
        public bool Retransmitted;

        /// <summary>The peer SACKed all of it.</summary>
        public bool Sacked;

        /// <summary>RACK marked it lost and its repair is not finished (Segment.lost).</summary>
        public bool Lost;

        /// <summary>While <see cref="Lost"/>: the bytes below this were sent again since it was marked.</summary>
        public SeqNumber RepairedTo;

        /// <summary>Its bytes in the network (its share of RFC 6675's pipe): none once SACKed; of a lost one, the part resent
        /// since it was marked.</summary>
        public readonly long InNetwork => Sacked ? 0 : Lost ? RepairedTo - Start : End - Start;
    }

    /// <summary>How many entries there are.</summary>
    public int Count => _count;

    /// <summary>The entry at <paramref name="index"/> from the oldest, by reference.</summary>
    public ref Entry this[int index]
    {
        get
        {
            Debug.Assert((uint)index < (uint)_count, "an entry in use");
            return ref _entries[(_head + index) & (_entries.Length - 1)];
        }
    }

    /// <summary>New data [<paramref name="start"/>, <paramref name="end"/>) went out at <paramref name="now"/>.</summary>
    public void Append(SeqNumber start, SeqNumber end, Instant now)
    {
        Debug.Assert(_count == 0 || this[_count - 1].End <= start, "new data follows what was sent");
        if (_count == _entries.Length) Grow();
        _entries[(_head + _count) & (_entries.Length - 1)] = new Entry { Start = start, End = end, SentAt = now, RepairedTo = start };
        _count++;
    }

    /// <summary>Everything below <paramref name="una"/> was acknowledged: drop those entries, trim one that straddles it.
    /// Returns the bytes that left the network with them (<see cref="Entry.InNetwork"/>), so a pipe can follow the ACK
    /// without a recount.</summary>
    public long AckedTo(SeqNumber una)
    {
        long left = 0;
        while (_count > 0)
        {
            ref Entry first = ref this[0];
            if (first.End <= una)
            {
                left += first.InNetwork;
                _head = (_head + 1) & (_entries.Length - 1);
                _count--;
                continue;
            }
            if (first.Start < una)
            {
                long before = first.InNetwork;
                first.Start = una;
                if (first.RepairedTo < una) first.RepairedTo = una;
                left += before - first.InNetwork;
            }
            break;
        }
        return left;
    }

    /// <summary>The index of the entry holding <paramref name="seq"/>, or −1.</summary>
    public int IndexOf(SeqNumber seq)
    {
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ref Entry e = ref this[mid];
            if (seq < e.Start) hi = mid - 1;
            else if (seq >= e.End) lo = mid + 1;
            else return mid;
        }
        return -1;
    }

    /// <summary>Forgets every entry (the send buffer was dropped).</summary>
    public void Clear()
    {
        _head = 0;
        _count = 0;
    }

    /// <summary>True when the entries lie within [<paramref name="low"/>, <paramref name="high"/>) in order (invariant checks).</summary>
    public bool LiesWithin(SeqNumber low, SeqNumber high)
    {
        SeqNumber previous = low;
        for (int i = 0; i < _count; i++)
        {
            ref Entry e = ref this[i];
            if (e.Start < previous || e.End <= e.Start || e.End > high) return false;
            previous = e.End;
        }
        return true;
    }

    private void Grow()
    {
        var bigger = new Entry[Math.Max(16, _entries.Length * 2)];
        for (int i = 0; i < _count; i++) bigger[i] = this[i];
        _entries = bigger;
        _head = 0;
    }
}
