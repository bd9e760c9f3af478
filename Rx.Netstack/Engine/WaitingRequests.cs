namespace Rx.Netstack.Engine;

/// <summary>
/// The application's requests a sharded facade object (<see cref="ShardedListener"/>, <see cref="ShardedInterceptor"/>) holds
/// until an engine hands it what they wait for, oldest first. A cancelled request stays until it is skipped; the queue drops
/// them when it grows, so a loop of cancelled requests cannot grow it. Not thread-safe: its owner's lock guards it.
/// </summary>
internal sealed class WaitingRequests
{
    /// <summary>Past this many entries an enqueue first drops the cancelled ones.</summary>
    private const int CompactAt = 64;

    /// <summary>The requests, oldest first (finished ones included until skipped or compacted away).</summary>
    private readonly Queue<PendingRequest> _queue = new();

    /// <summary>Entries, cancelled ones included.</summary>
    public int Count => _queue.Count;

    /// <summary>Requests not yet finished (a count over the queue).</summary>
    public int LiveCount => _queue.Count(w => !w.IsFinished);

    /// <summary>Adds <paramref name="request"/> at the end.</summary>
    public void Enqueue(PendingRequest request)
    {
        if (_queue.Count >= CompactAt && _queue.Any(w => w.IsFinished))
        {
            var live = _queue.Where(w => !w.IsFinished).ToList();
            _queue.Clear();
            foreach (PendingRequest w in live) _queue.Enqueue(w);
        }
        _queue.Enqueue(request);
    }

    /// <summary>An application's request: claims the oldest of <paramref name="ready"/> for it, or it waits here. Null when it
    /// waits, or when it was cancelled already (the ready item stays for the next request).</summary>
    public T? ClaimReadyOrEnqueue<T>(Queue<T> ready, PendingRequest request) where T : class
    {
        if (ready.Count == 0)
        {
            Enqueue(request);
            return null;
        }
        return request.TryClaim() ? ready.Dequeue() : null;
    }

    /// <summary>The oldest request still waiting, claimed for its reply (cancelled ones before it are dropped); false if none.</summary>
    public bool TryClaimOldest(out PendingRequest taker)
    {
        while (_queue.TryDequeue(out PendingRequest? w))
        {
            if (w.TryClaim())
            {
                taker = w;
                return true;
            }
        }
        taker = null!;
        return false;
    }

    /// <summary>Empties the queue, returning every entry (the caller answers each; finished ones ignore it).</summary>
    public List<PendingRequest> TakeAll()
    {
        List<PendingRequest> all = [.. _queue];
        _queue.Clear();
        return all;
    }
}
