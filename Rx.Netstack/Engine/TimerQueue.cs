using System.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// A min-heap of deadlines with lazy invalidation. An owner is queued again only when its deadline moves earlier; when an
/// entry comes due and the owner's deadline has moved later, it is re-queued at the new time. So an ACK that pushes a
/// retransmission deadline back costs nothing here, and no scheduled item is created or cancelled per deadline change.
/// </summary>
internal sealed class TimerQueue
{
    private readonly PriorityQueue<TimerOwner, long> _heap = new();

    public int Count => _heap.Count;

    /// <summary>Makes sure <paramref name="owner"/> is queued no later than its current <see cref="TimerOwner.PollAt"/>.</summary>
    public void Update(TimerOwner owner)
    {
        Instant at = owner.PollAt;
        if (at.IsNever || at >= owner.QueuedDeadline) return;
        owner.QueuedDeadline = at;
        _heap.Enqueue(owner, at.Ticks);
        Debug.Assert(IsQueuedInTime(owner), "an owner is queued no later than its deadline");
    }

    /// <summary>
    /// The queue's invariant for one owner: it is queued no later than its deadline, so it never fires late (an entry earlier
    /// than the deadline only costs a re-queue when it comes due).
    /// </summary>
    public static bool IsQueuedInTime(TimerOwner owner) => owner.PollAt.IsNever || owner.QueuedDeadline <= owner.PollAt;

    /// <summary>Takes an owner out of the queue for good (its entries become stale).</summary>
    public static void Forget(TimerOwner owner) => owner.QueuedDeadline = Instant.Never;

    /// <summary>The earliest live deadline, or Never.</summary>
    public Instant Earliest
    {
        get
        {
            while (_heap.TryPeek(out TimerOwner? owner, out long at))
            {
                if (owner.QueuedDeadline.Ticks == at) return new Instant(at);
                _heap.Dequeue(); // stale: superseded by an earlier entry, or forgotten
            }
            return Instant.Never;
        }
    }

    /// <summary>Fires every owner whose deadline is at or before <paramref name="now"/>.</summary>
    public void RunDue(Instant now)
    {
        while (_heap.TryPeek(out TimerOwner? owner, out long at) && at <= now.Ticks)
        {
            _heap.Dequeue();
            if (owner.QueuedDeadline.Ticks != at) continue;
            owner.QueuedDeadline = Instant.Never;
            if (owner.PollAt <= now)
            {
                owner.OnTimer(now);
            }
            Update(owner);
            Debug.Assert(IsQueuedInTime(owner), "an owner that fired is queued again by its next deadline");
        }
    }

    public void Clear() => _heap.Clear();
}
