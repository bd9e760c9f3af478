using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// A small set of disjoint sequence-number ranges <c>[Left, Right)</c>, merged on insert, in wrapping order.
/// The receiver uses it for out-of-order data held in its buffer (and to build SACK blocks, RFC 2018 §4: the block
/// holding the most recent segment first); the sender uses it for its SACK scoreboard (RFC 6675). The array is allocated at
/// the first insertion, so the sets of an idle connection cost no more than the object; no allocation after that: capacity
/// is fixed and when it is full the insertion that does not fit is refused.
/// </summary>
/// <remarks>
/// Ordering uses <see cref="SeqNumber"/>'s wrapping comparison, which is consistent as long as everything held (and every
/// argument) lies within 2^31 bytes of each other — always true inside one TCP window. Ranges are kept sorted, pairwise
/// disjoint and non-adjacent (touching ranges are merged), so every operation is a linear scan over at most
/// <see cref="Capacity"/> entries.
/// </remarks>
internal sealed class SequenceRangeSet
{
    private readonly int _capacity;
    private SackBlock[] _ranges = []; // Capacity entries from the first insertion on
    private int _count;

    /// <summary>Creates an empty set holding at most <paramref name="capacity"/> disjoint ranges.</summary>
    public SequenceRangeSet(int capacity = 32)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _capacity = capacity;
    }

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

    /// <summary>Adds <c>[left, right)</c>, merging with overlapping or adjacent ranges. Returns false if it did not fit.</summary>
    /// <remarks>An empty range (<c>right ≤ left</c>) changes nothing and returns true.</remarks>
    public bool Add(SeqNumber left, SeqNumber right)
    {
        if (right <= left) return true;
        if (_ranges.Length == 0) _ranges = new SackBlock[_capacity];

        // First range that ends at or after `left`: it is the first that can touch the new one.
        int first = 0;
        while (first < _count && _ranges[first].Right < left) first++;

        // Every range from `first` that starts at or before `right` overlaps or touches it.
        int end = first;
        SeqNumber mergedLeft = left, mergedRight = right;
        while (end < _count && _ranges[end].Left <= right)
        {
            mergedLeft = SeqNumber.Min(mergedLeft, _ranges[end].Left);
            mergedRight = SeqNumber.Max(mergedRight, _ranges[end].Right);
            end++;
        }

        int touched = end - first;
        if (touched == 0)
        {
            if (_count == _capacity) return false;
            Array.Copy(_ranges, first, _ranges, first + 1, _count - first);
            _ranges[first] = new SackBlock(left, right);
            _count++;
            return true;
        }

        _ranges[first] = new SackBlock(mergedLeft, mergedRight);
        if (touched > 1)
        {
            Array.Copy(_ranges, end, _ranges, first + 1, _count - end);
            _count -= touched - 1;
        }
        return true;
    }

    /// <summary>Removes everything before <paramref name="point"/> (cumulative ACK advanced); a range straddling it is trimmed.</summary>
    public void RemoveBefore(SeqNumber point)
    {
        int drop = 0;
        while (drop < _count && _ranges[drop].Right <= point) drop++;
        if (drop > 0)
        {
            Array.Copy(_ranges, drop, _ranges, 0, _count - drop);
            _count -= drop;
        }
        if (_count > 0 && _ranges[0].Left < point)
            _ranges[0] = _ranges[0] with { Left = point };
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
        for (int i = 0; i < _count; i++)
        {
            if (_ranges[i].Left > seq) return -1;
            if (seq < _ranges[i].Right) return i;
        }
        return -1;
    }

    /// <summary>True when <c>[left, right)</c> is wholly inside one range.</summary>
    /// <remarks>An empty range is contained when its point lies within (or at the end of) a held range.</remarks>
    public bool Contains(SeqNumber left, SeqNumber right)
    {
        if (right < left) return false;
        for (int i = 0; i < _count; i++)
        {
            if (_ranges[i].Left > left) return false;
            if (right <= _ranges[i].Right) return true;
        }
        return false;
    }

    /// <summary>Total bytes covered by the ranges at or after <paramref name="from"/>.</summary>
    public long BytesAtOrAfter(SeqNumber from)
    {
        long total = 0;
        for (int i = 0; i < _count; i++)
        {
            SackBlock r = _ranges[i];
            if (r.Right <= from) continue;
            total += r.Right - SeqNumber.Max(r.Left, from);
        }
        return total;
    }

    /// <summary>The highest right edge held, or <paramref name="fallback"/> when empty.</summary>
    public SeqNumber HighestRight(SeqNumber fallback) => _count == 0 ? fallback : _ranges[_count - 1].Right;

    /// <summary>Empties the set.</summary>
    public void Clear() => _count = 0;
}
