using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// A small set of disjoint sequence-number ranges <c>[Left, Right)</c>, merged on insert, in wrapping order.
/// The receiver uses it for out-of-order data held in its buffer (and to build SACK blocks, RFC 2018 §4: the block
/// holding the most recent segment first); the sender uses it for its SACK scoreboard (RFC 6675). No allocation after
/// construction: capacity is fixed and when it is full the insertion that does not fit is refused.
/// </summary>
internal sealed class SequenceRangeSet
{
    /// <summary>Creates an empty set holding at most <paramref name="capacity"/> disjoint ranges.</summary>
    public SequenceRangeSet(int capacity = 32) => throw new NotImplementedException();

    /// <summary>How many disjoint ranges are held.</summary>
    public int Count => throw new NotImplementedException();

    /// <summary>The i-th range in ascending (wrapping) order.</summary>
    public SackBlock this[int index] => throw new NotImplementedException();

    /// <summary>Adds <c>[left, right)</c>, merging with overlapping or adjacent ranges. Returns false if it did not fit.</summary>
    public bool Add(SeqNumber left, SeqNumber right) => throw new NotImplementedException();

    /// <summary>Removes everything before <paramref name="point"/> (cumulative ACK advanced); a range straddling it is trimmed.</summary>
    public void RemoveBefore(SeqNumber point) => throw new NotImplementedException();

    /// <summary>If a range starts at or before <paramref name="point"/> and ends after it, returns its end; otherwise <paramref name="point"/>.</summary>
    public SeqNumber ContiguousEnd(SeqNumber point) => throw new NotImplementedException();

    /// <summary>True when <c>[left, right)</c> is wholly inside one range.</summary>
    public bool Contains(SeqNumber left, SeqNumber right) => throw new NotImplementedException();

    /// <summary>Total bytes covered by the ranges at or after <paramref name="from"/>.</summary>
    public long BytesAtOrAfter(SeqNumber from) => throw new NotImplementedException();

    /// <summary>The highest right edge held, or <paramref name="fallback"/> when empty.</summary>
    public SeqNumber HighestRight(SeqNumber fallback) => throw new NotImplementedException();

    /// <summary>Empties the set.</summary>
    public void Clear() => throw new NotImplementedException();
}
