using System.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// Requests waiting on one socket for one kind of readiness (data to read, room to write, a connection to accept), in
/// arrival order. Intrusive and doubly linked, so a cancelled request leaves in O(1) and waking costs only the waiters
/// of the socket that changed — never a scan of every blocked request in the stack.
/// </summary>
internal sealed class WaitQueue
{
    private PendingRequest? _head, _tail;

    public PendingRequest? First => _head;
    public bool IsEmpty => _head is null;
    public int Count { get; private set; }

    public void Enqueue(PendingRequest request)
    {
        Debug.Assert(request.Queue is null, "a request waits in one queue at a time");
        request.Queue = this;
        request.Previous = _tail;
        request.Next = null;
        if (_tail is null) _head = request; else _tail.Next = request;
        _tail = request;
        Count++;
    }

    public void Remove(PendingRequest request)
    {
        if (request.Queue != this) return;
        if (request.Previous is null) _head = request.Next; else request.Previous.Next = request.Next;
        if (request.Next is null) _tail = request.Previous; else request.Next.Previous = request.Previous;
        request.Previous = request.Next = null;
        request.Queue = null;
        Count--;
        Debug.Assert(Count >= 0 && (Count == 0) == (_head is null) && (_head is null) == (_tail is null), "queue links and count agree");
    }

    /// <summary>Removes and returns the first waiter, or null.</summary>
    public PendingRequest? Dequeue()
    {
        PendingRequest? first = _head;
        if (first is not null) Remove(first);
        return first;
    }

    /// <summary>
    /// Removes and returns the first waiter that can still be answered, already claimed (answer it with
    /// <c>Netstack.Deliver</c>); waiters cancelled meanwhile are dropped. Claiming before taking data out of a queue means a
    /// receive cancelled at the same moment cannot carry a packet away with it.
    /// </summary>
    public PendingRequest? DequeueClaimed()
    {
        while (Dequeue() is { } request)
            if (request.TryClaim()) return request;
        return null;
    }
}
