using Rx.Netstack.Commands;

namespace Rx.Netstack.Engine;

/// <summary>
/// A UDP interceptor: the prefixes it answers for, its caps (flows, bytes a flow holds, idle timeout), the flows it opened
/// that the application has not taken yet, and the <c>Next</c> requests waiting for one. Each flow is an ordinary
/// <see cref="UdpSocketState"/> in the UDP demultiplexer's 4-tuple table.
/// </summary>
internal sealed class UdpInterceptorSocketState : SocketState
{
    public UdpInterceptorSocketState(UdpDemux demux, PassScheduler passes, IReadOnlyList<NetPrefix> prefixes, int maxFlows, TimeSpan idleTimeout,
        int flowBufferSize) : base(passes)
    {
        Demux = demux;
        Prefixes = [.. prefixes];
        MaxFlows = maxFlows;
        IdleTimeout = idleTimeout;
        FlowBufferSize = flowBufferSize;
    }

    /// <summary>The demultiplexer that holds its flows.</summary>
    public UdpDemux Demux { get; }

    /// <summary>The destinations it answers for.</summary>
    public NetPrefix[] Prefixes { get; }

    /// <summary>Flows open at once at most (taken by the application or not).</summary>
    public int MaxFlows { get; }

    /// <summary>A flow closes after this long without a datagram either way.</summary>
    public TimeSpan IdleTimeout { get; }

    /// <summary>Bytes of received datagrams one flow holds before it drops (counted as UdpBufferFull).</summary>
    public int FlowBufferSize { get; }

    /// <summary>Flows open now, taken or not.</summary>
    public int OpenFlows { get; set; }

    /// <summary>Flows not yet handed to the application, oldest first (closed ones are skipped).</summary>
    public Queue<UdpSocketState> Untaken { get; } = new();

    /// <summary><c>Next</c> requests waiting for a flow.</summary>
    public WaitQueue Takers { get; } = new();

    /// <summary>The longest of its prefixes that contains <paramref name="address"/>, or -1.</summary>
    public int MatchLength(NetAddress address)
    {
        int best = -1;
        foreach (NetPrefix p in Prefixes)
            if (p.Length > best && p.Contains(address)) best = p.Length;
        return best;
    }

    /// <summary>Hands new flows to waiting <c>Next</c> requests, oldest first.</summary>
    public override void Flush(Instant now)
    {
        while (!Takers.IsEmpty && Untaken.TryPeek(out UdpSocketState? flow))
        {
            if (flow.IsClosed)
            {
                Untaken.Dequeue();
                continue;
            }
            PendingRequest request = Takers.Dequeue()!;
            if (!Passes.Complete(request, new Reply.FlowOpened(flow.Handle, flow.Local, flow.Flow!.Remote)))
                continue; // cancelled: the flow waits for the next request
            Untaken.Dequeue();
            flow.Flow.Untaken = false;
        }
    }

    /// <summary>Drops closed flows from <see cref="Untaken"/> once it holds more than twice the flow limit (flows that ended
    /// before the application took them would otherwise pile up). Amortised O(1) per flow.</summary>
    public void CompactUntaken()
    {
        if (Untaken.Count <= 2 * MaxFlows + 16) return;
        int n = Untaken.Count;
        for (int i = 0; i < n; i++)
        {
            UdpSocketState flow = Untaken.Dequeue();
            if (!flow.IsClosed) Untaken.Enqueue(flow);
        }
    }

    /// <inheritdoc />
    public override void FailAll(NetstackError error)
    {
        FailQueue(Takers, error);
        IsClosed = true;
    }
}
