using System.Buffers;
using System.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// A set of disjoint sequence-number ranges <c>[Left, Right)</c>, merged on insert, in wrapping order.
/// The receiver uses it for out-of-order data held in its buffer (and to build SACK blocks, RFC 2018 §4: the block
/// holding the most recent segment first); the sender uses it for its SACK scoreboard (RFC 6675).
/// </summary>
/// <remarks>
/// <para>Ordering uses <see cref="SeqNumber"/>'s wrapping comparison, which is consistent as long as everything held (and every
/// argument) lies within 2^31 bytes of each other — always true inside one TCP window. Ranges are kept sorted, pairwise
/// disjoint and non-adjacent (touching ranges are merged), so their right edges ascend and a lookup is a binary search.</para>
/// <para>Memory: the set holds an array of <c>initialCapacity</c> ranges, made at the first insertion, so the sets of an idle
/// connection cost no more than the object. A lossy window can hold many more holes than that (a 1 MiB window at 5 % loss
/// has about 35, and a fixed 32 made the receiver drop data and the sender forget SACKed data), so the set grows into arrays
/// rented from the pool, doubling up to <see cref="Capacity"/>, and gives the rented array back once it is empty again.
/// Beyond <see cref="Capacity"/> an insertion that would need a new range is refused: the bound a peer's segments or SACK
/// blocks cannot push past.</para>
/// </remarks>
internal sealed class SequenceRangeSet
{
    private readonly int _initialCapacity; // ranges in the owned array
    private readonly int _capacity;        // the most ranges held; a new range beyond it is refused
    private SackBlock[] _owned = [];       // made at the first insertion and kept
    private SackBlock[] _ranges = [];      // _owned, or a larger array rented from the pool while more ranges are held
    private int _count;                    // ranges held, sorted in _ranges[0.._count)
    private long _bytes;                   // bytes covered by all ranges

    /// <summary>Creates an empty set holding at most <paramref name="capacity"/> disjoint ranges, in an array of that size.</summary>
    public SequenceRangeSet(int capacity = 32)
        : this(capacity, capacity)
    {
    }

    /// <summary>
    /// Creates an empty set whose array holds <paramref name="initialCapacity"/> ranges and grows, as needed, up to
    /// <paramref name="capacity"/> ranges.
    /// </summary>
    public SequenceRangeSet(int initialCapacity, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialCapacity);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, initialCapacity);
        _initialCapacity = initialCapacity;
        _capacity = capacity;
    }

    /// <summary>
    /// The most ranges a set for a window of <paramref name="windowBytes"/> needs: one range per two segments of the smallest
    /// MSS (RFC 9293 §3.7.1: 536 bytes), at least 32 and at most 4,096 (32 KiB of ranges per set, whatever a peer sends).
    /// </summary>
    public static int CapacityForWindow(int windowBytes) => Math.Clamp(windowBytes / (2 * 536), 32, 4096);

    /// <summary>How many disjoint ranges are held.</summary>
    public int Count => _count;

    /// <summary>The most ranges the set can hold.</summary>
    public int Capacity => _capacity;

    /// <summary>True when no range is held.</summary>
    public bool IsEmpty => _count == 0;

    /// <summary>The i-th range in ascending (wrapping) order.</summary>
    public SackBlock this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index));
            return _ranges[index];
        }
    }

    /// <summary>The index of the first range whose right edge lies beyond <paramref name="seq"/> (<c>Right &gt; seq</c>), or
    /// <see cref="Count"/>; with <paramref name="orAt"/>, of the first with <c>Right ≥ seq</c>.</summary>
    public int FirstEndingAfter(SeqNumber seq, bool orAt = false)
    {
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            SeqNumber right = _ranges[mid].Right;
            if (right > seq || (orAt && right == seq)) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>Adds <c>[left, right)</c>, merging with overlapping or adjacent ranges. Returns false if it did not fit.</summary>
    /// <remarks>An empty range (<c>right ≤ left</c>) changes nothing and returns true.</remarks>
    public bool Add(SeqNumber left, SeqNumber right)
    {
        if (right <= left) return true;
        if (_ranges.Length == 0) _ranges = _owned = new SackBlock[_initialCapacity];

        // In-order arrivals above the highest range (the common case) touch only the last one.
        int first = _count > 0 && _ranges[_count - 1].Right < left ? _count : FirstEndingAfter(left, orAt: true);

        // Every range from `first` that starts at or before `right` overlaps or touches it.
        int end = first;
        SeqNumber mergedLeft = left, mergedRight = right;
        long mergedBytes = 0;
        while (end < _count && _ranges[end].Left <= right)
        {
            mergedLeft = SeqNumber.Min(mergedLeft, _ranges[end].Left);
            mergedRight = SeqNumber.Max(mergedRight, _ranges[end].Right);
            mergedBytes += _ranges[end].Right - _ranges[end].Left;
            end++;
        }

        int touched = end - first;
        if (touched == 0)
        {
            if (_count == _capacity) return false;
            if (_count == _ranges.Length) Grow();
            Array.Copy(_ranges, first, _ranges, first + 1, _count - first);
            _ranges[first] = new SackBlock(left, right);
            _count++;
            _bytes += right - left;
            return true;
        }

        _ranges[first] = new SackBlock(mergedLeft, mergedRight);
        _bytes += (mergedRight - mergedLeft) - mergedBytes;
        if (touched > 1)
        {
            Array.Copy(_ranges, end, _ranges, first + 1, _count - end);
            _count -= touched - 1;
        }
        return true;
    }

    /// <summary>Moves the ranges into an array twice as large (at most <see cref="Capacity"/>), rented from the pool.</summary>
    private void Grow()
    {
        Debug.Assert(_count < _capacity, "the set grows only below its capacity");
        int size = Math.Min(_capacity, 2 * _ranges.Length);
        SackBlock[] larger = ArrayPool<SackBlock>.Shared.Rent(size);
        Array.Copy(_ranges, larger, _count);
        ReturnRented();
        _ranges = larger;
    }

    /// <summary>Gives a rented array back and returns to the owned one (which holds every range, or none are held).</summary>
    private void ReturnRented()
    {
        if (ReferenceEquals(_ranges, _owned)) return;
        ArrayPool<SackBlock>.Shared.Return(_ranges);
        _ranges = _owned;
    }

    /// <summary>Removes everything before <paramref name="point"/> (cumulative ACK advanced); a range straddling it is trimmed.</summary>
    public void RemoveBefore(SeqNumber point)
    {
        int drop = FirstEndingAfter(point);
        if (drop > 0)
        {
            for (int i = 0; i < drop; i++) _bytes -= _ranges[i].Right - _ranges[i].Left;
            Array.Copy(_ranges, drop, _ranges, 0, _count - drop);
            _count -= drop;
        }
        if (_count > 0 && _ranges[0].Left < point)
        {
            _bytes -= point - _ranges[0].Left;
            _ranges[0] = _ranges[0] with { Left = point };
        }
        if (_count == 0) ReturnRented();
        Debug.Assert(_count > 0 || _bytes == 0, "an empty set covers no bytes");
    }

    /// <summary>If a range starts at or before <paramref name="point"/> and ends after it, returns its end; otherwise <paramref name="point"/>.</summary>
    public SeqNumber ContiguousEnd(SeqNumber point)
    {
        int i = IndexOfRangeContaining(point);
        return i < 0 ? point : _ranges[i].Right;
    }

    /// <summary>The index of the range holding <paramref name="seq"/> (<c>Left ≤ seq &lt; Right</c>), or −1.</summary>
    /// <remarks>The receiver uses it to put the block with the most recent segment first in its SACK option (RFC 2018 §4).</remarks>
    public int IndexOfRangeContaining(SeqNumber seq)
    {
        int i = FirstEndingAfter(seq);
        return i < _count && _ranges[i].Left <= seq ? i : -1;
    }

    /// <summary>True when <c>[left, right)</c> is wholly inside one range.</summary>
    /// <remarks>An empty range is contained when its point lies within (or at the end of) a held range.</remarks>
    public bool Contains(SeqNumber left, SeqNumber right)
    {
        if (right < left) return false;
        int i = FirstEndingAfter(right, orAt: true); // the only range that can hold `right`
        return i < _count && _ranges[i].Left <= left;
    }

    /// <summary>Total bytes covered by the ranges at or after <paramref name="from"/>.</summary>
    public long BytesAtOrAfter(SeqNumber from)
    {
        if (_count == 0 || from <= _ranges[0].Left) return _bytes; // the scoreboard asks from SND.UNA: everything
        int i = FirstEndingAfter(from);
        long total = 0;
        if (i < _count) total = _ranges[i].Right - SeqNumber.Max(_ranges[i].Left, from);
        for (int j = i + 1; j < _count; j++) total += _ranges[j].Right - _ranges[j].Left;
        return total;
    }

    /// <summary>The highest right edge held, or <paramref name="fallback"/> when empty.</summary>
    public SeqNumber HighestRight(SeqNumber fallback) => _count == 0 ? fallback : _ranges[_count - 1].Right;

    /// <summary>Empties the set.</summary>
    public void Clear()
    {
        _count = 0;
        _bytes = 0;
        ReturnRented();
    }
}
