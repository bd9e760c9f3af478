using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// The sender's SACK scoreboard (RFC 6675 §3–§4) over a <see cref="SequenceRangeSet"/> of SACKed ranges above SND.UNA:
/// which bytes are SACKed, which holes count as lost (IsLost with DupThresh 3), the next hole to repair (NextSeg rule 1)
/// and the pipe estimate (SetPipe).
/// </summary>
internal sealed class SackScoreboard
{
    /// <summary>RFC 6675 §2: DupThresh.</summary>
    public const int DupThresh = 3;

    private readonly SequenceRangeSet _sacked;

    /// <summary>A scoreboard for a send buffer of <paramref name="sendBufferSize"/> bytes: as many SACKed ranges as that much
    /// data in flight can hold (<see cref="SequenceRangeSet.CapacityForWindow"/>).</summary>
    public SackScoreboard(int sendBufferSize) =>
        _sacked = new SequenceRangeSet(32, SequenceRangeSet.CapacityForWindow(sendBufferSize));

    /// <summary>True when nothing is SACKed.</summary>
    public bool IsEmpty => _sacked.Count == 0;

    /// <summary>Bytes SACKed at or above <paramref name="from"/>.</summary>
    public long SackedBytes(SeqNumber from) => _sacked.BytesAtOrAfter(from);

    /// <summary>
    /// Records one SACK block from an ACK. Blocks below <paramref name="una"/> (D-SACK) or beyond <paramref name="highData"/>
    /// are ignored or clipped (RFC 2018 §4, RFC 6675 §4). Returns true if the block told us something new.
    /// </summary>
    public bool Add(SackBlock block, SeqNumber una, SeqNumber highData)
    {
        SeqNumber left = SeqNumber.Max(block.Left, una);
        SeqNumber right = SeqNumber.Min(block.Right, highData);
        if (right <= left || block.Right <= block.Left) return false;
        if (_sacked.Contains(left, right)) return false;
        return _sacked.Add(left, right);
    }

    /// <summary>The cumulative ACK moved to <paramref name="una"/>: forget what is below it.</summary>
    public void AckedTo(SeqNumber una) => _sacked.RemoveBefore(una);

    /// <summary>Forgets everything (RFC 2018 §8: after a retransmission timeout).</summary>
    public void Clear() => _sacked.Clear();

    /// <summary>True when every SACKed byte lies within [<paramref name="low"/>, <paramref name="high"/>) (invariant checks).</summary>
    public bool LiesWithin(SeqNumber low, SeqNumber high) =>
        _sacked.Count == 0 || (_sacked[0].Left >= low && _sacked[_sacked.Count - 1].Right <= high);

    /// <summary>True when every byte of [<paramref name="left"/>, <paramref name="right"/>) is SACKed.</summary>
    public bool Covers(SeqNumber left, SeqNumber right) => _sacked.Contains(left, right);

    /// <summary>True when <paramref name="seq"/> is SACKed.</summary>
    public bool IsSacked(SeqNumber seq) => _sacked.Contains(seq, seq + 1);

    /// <summary>How many bytes from <paramref name="seq"/> (at most <paramref name="max"/>) are not SACKed before the next SACKed range.</summary>
    public int UnsackedRun(SeqNumber seq, int max)
    {
        int i = _sacked.FirstEndingAfter(seq);
        if (i == _sacked.Count) return max;
        SackBlock r = _sacked[i];
        return r.Left <= seq ? 0 : Math.Min(max, r.Left - seq);
    }

    /// <summary>
    /// The sequence number below which every un-SACKed byte counts as lost (RFC 6675 §4 IsLost): a byte is lost when
    /// DupThresh discontiguous SACKed ranges lie above it, or more than (DupThresh − 1)·SMSS SACKed bytes do. Both tests only
    /// get truer further down, so one boundary describes them. Returns <paramref name="una"/> when nothing is lost.
    /// </summary>
    public SeqNumber LostBoundary(SeqNumber una, int smss)
    {
        int count = _sacked.Count;
        SeqNumber boundary = una;
        if (count >= DupThresh) boundary = SeqNumber.Max(boundary, _sacked[count - DupThresh].Left);
        long needed = (long)(DupThresh - 1) * smss + 1;
        long above = 0;
        for (int i = count - 1; i >= 0; i--)
        {
            SackBlock r = _sacked[i];
            int size = r.Right - r.Left;
            if (above + size >= needed)
            {
                // The point with exactly `needed` SACKed bytes at or above it.
                boundary = SeqNumber.Max(boundary, r.Right - (int)(needed - above));
                break;
            }
            above += size;
        }
        return boundary;
    }

    /// <summary>
    /// NextSeg rule 1 (RFC 6675 §4): the first un-SACKed hole at or after <paramref name="from"/> and below
    /// <paramref name="lostBoundary"/>, at most <paramref name="maxLength"/> bytes and never into SACKed data.
    /// </summary>
    public bool TryNextLostHole(SeqNumber from, SeqNumber lostBoundary, int maxLength, out SeqNumber start, out int length)
    {
        start = from;
        int i = _sacked.FirstEndingAfter(start);
        if (i < _sacked.Count && _sacked[i].Left <= start)
        {
            start = _sacked[i].Right; // inside a SACKed range: the hole begins where it ends (ranges never touch)
            i++;
        }
        length = 0;
        if (start >= lostBoundary) return false;
        SeqNumber end = SeqNumber.Min(lostBoundary, start + maxLength);
        if (i < _sacked.Count) end = SeqNumber.Min(end, _sacked[i].Left);
        length = end - start;
        return length > 0;
    }

    /// <summary>
    /// SetPipe (RFC 6675 §4): un-SACKed bytes in [<paramref name="una"/>, <paramref name="highData"/>) that are not lost,
    /// plus un-SACKed bytes up to <paramref name="highRxt"/> that were retransmitted.
    /// </summary>
    public long Pipe(SeqNumber una, SeqNumber highData, SeqNumber highRxt, int smss)
    {
        SeqNumber lost = LostBoundary(una, smss);
        long pipe = Unsacked(SeqNumber.Max(lost, una), highData);
        if (highRxt > una) pipe += Unsacked(una, SeqNumber.Min(highRxt, highData));
        return pipe;
    }

    private long Unsacked(SeqNumber from, SeqNumber to)
    {
        if (to <= from) return 0;
        long total = to - from;
        for (int i = 0; i < _sacked.Count; i++)
        {
            SackBlock r = _sacked[i];
            SeqNumber l = SeqNumber.Max(r.Left, from), h = SeqNumber.Min(r.Right, to);
            if (h > l) total -= h - l;
        }
        return total;
    }
}
