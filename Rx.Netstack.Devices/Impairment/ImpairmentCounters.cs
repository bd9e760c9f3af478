namespace Rx.Netstack.Devices;

/// <summary>What an <see cref="ImpairedLink"/> did to one direction's frames so far.</summary>
public sealed class ImpairmentCounters
{
    internal long OfferedCount;
    internal long LostCount;
    internal long MarkedCount;
    internal long CorruptedCount;
    internal long DuplicatedCount;
    internal long ReorderedCount;
    internal long DeliveredCount;
    internal long DiscardedCount;

    /// <summary>Frames that entered this direction.</summary>
    public long Offered => Interlocked.Read(ref OfferedCount);

    /// <summary>Frames dropped by <see cref="ImpairmentOptions.Loss"/>.</summary>
    public long Lost => Interlocked.Read(ref LostCount);

    /// <summary>ECN-capable packets marked CE instead of dropped (<see cref="ImpairmentOptions.CongestionMarking"/>).</summary>
    public long Marked => Interlocked.Read(ref MarkedCount);

    /// <summary>Frames with a flipped bit.</summary>
    public long Corrupted => Interlocked.Read(ref CorruptedCount);

    /// <summary>Extra copies made.</summary>
    public long Duplicated => Interlocked.Read(ref DuplicatedCount);

    /// <summary>Frames held back for reordering.</summary>
    public long Reordered => Interlocked.Read(ref ReorderedCount);

    /// <summary>Frames (copies included) handed on.</summary>
    public long Delivered => Interlocked.Read(ref DeliveredCount);

    /// <summary>Frames still in flight when the link was disposed.</summary>
    public long Discarded => Interlocked.Read(ref DiscardedCount);

    /// <inheritdoc />
    public override string ToString() =>
        $"offered {Offered}, delivered {Delivered}, lost {Lost}, marked {Marked}, corrupted {Corrupted}, duplicated {Duplicated}, reordered {Reordered}, discarded {Discarded}";
}
