using System.Diagnostics;
using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Engine;

/// <summary>
/// A TCP interceptor: the prefixes it answers for, its offers (SYNs waiting for the application's decision, bounded by
/// <see cref="Backlog"/>) and the <c>Next</c> requests waiting for one. Offers are queued in arrival order with one
/// decision timeout, so the oldest undecided offer is the earliest deadline (<see cref="PollAt"/>).
/// </summary>
internal sealed class TcpInterceptorSocketState : SocketState
{
    /// <summary>The demultiplexer that expires offers.</summary>
    private readonly TcpDemux _demux;

    public TcpInterceptorSocketState(TcpDemux demux, PassScheduler passes, IReadOnlyList<NetPrefix> prefixes, int backlog, TcpSettings settings,
        TimeSpan decisionTimeout) : base(passes)
    {
        _demux = demux;
        Prefixes = [.. prefixes];
        Backlog = backlog;
        Settings = settings;
        DecisionTimeout = decisionTimeout;
    }

    /// <summary>The destinations it answers for.</summary>
    public NetPrefix[] Prefixes { get; }

    /// <summary>Undecided offers held at most (taken or not).</summary>
    public int Backlog { get; }

    /// <summary>Settings of the connections it accepts.</summary>
    public TcpSettings Settings { get; }

    /// <summary>How long an offer may wait for a decision before it is refused with a reset.</summary>
    public TimeSpan DecisionTimeout { get; }

    /// <summary>Undecided offers by id (taken by the application or not).</summary>
    public Dictionary<long, TcpOffer> Undecided { get; } = [];

    /// <summary>Offers not yet handed to the application, oldest first (decided ones are skipped lazily).</summary>
    public Queue<TcpOffer> Untaken { get; } = new();

    /// <summary>Every offer in arrival order, hence deadline order (decided ones are skipped lazily).</summary>
    public Queue<TcpOffer> ByDeadline { get; } = new();

    /// <summary><c>Next</c> requests waiting for an offer.</summary>
    public WaitQueue Takers { get; } = new();

    /// <summary>The longest of its prefixes that contains <paramref name="address"/>, or -1.</summary>
    public int MatchLength(NetAddress address)
    {
        int best = -1;
        foreach (NetPrefix p in Prefixes)
            if (p.Length > best && p.Contains(address)) best = p.Length;
        return best;
    }

    /// <inheritdoc />
    public override Instant PollAt
    {
        get
        {
            while (ByDeadline.TryPeek(out TcpOffer? oldest) && oldest.Decided) ByDeadline.Dequeue();
            return IsClosed || ByDeadline.Count == 0 ? Instant.Never : ByDeadline.Peek().Deadline;
        }
    }

    /// <summary>
    /// Drops decided offers from both queues once they hold more than twice the backlog: offers decided quickly (a proxy
    /// refusing a burst) would otherwise stay queued until their deadline, however many came. Amortised O(1) per offer.
    /// </summary>
    public void CompactQueues()
    {
        int bound = 2 * Backlog + 16;
        if (ByDeadline.Count > bound) Keep(ByDeadline);
        if (Untaken.Count > bound) Keep(Untaken);
        Debug.Assert(ByDeadline.Count <= bound + 1 && Untaken.Count <= bound + 1, "the offer queues hold at most twice the backlog");

        static void Keep(Queue<TcpOffer> queue)
        {
            int n = queue.Count;
            for (int i = 0; i < n; i++)
            {
                TcpOffer offer = queue.Dequeue();
                if (!offer.Decided) queue.Enqueue(offer);
            }
        }
    }

    /// <inheritdoc />
    protected override void OnSocketTimer(Instant now) => _demux.ExpireOffers(this, now);

    /// <summary>Hands untaken offers to waiting <c>Next</c> requests, oldest first.</summary>
    public override void Flush(Instant now)
    {
        while (!Takers.IsEmpty && Untaken.TryPeek(out TcpOffer? offer))
        {
            if (offer.Decided)
            {
                Untaken.Dequeue();
                continue;
            }
            PendingRequest request = Takers.Dequeue()!;
            if (!Passes.Complete(request, new Reply.TcpOffered(offer.Id, offer.Remote, offer.Local)))
                continue; // that request was cancelled: the offer waits for the next one
            Untaken.Dequeue();
            offer.Taken = true;
        }
        Debug.Assert(Undecided.Count <= Backlog, "an interceptor holds at most its backlog of undecided offers");
    }

    /// <inheritdoc />
    public override void FailAll(NetstackError error)
    {
        FailQueue(Takers, error);
        IsClosed = true;
    }
}
