using Rx.Netstack.Commands;

namespace Rx.Netstack.Engine;

/// <summary>The engine's side of a UDP socket: its bound endpoint, its queue of received datagrams and its waiting receives.</summary>
internal sealed class UdpSocketState : PacketSocketState<UdpSocketState.Meta>
{
    /// <summary>Source and destination of a queued datagram.</summary>
    public readonly record struct Meta(NetEndpoint Source, NetEndpoint Destination);

    public UdpSocketState(PassScheduler passes, NetEndpoint local, int bufferSize, int queueLength, InterceptedFlow? flow = null)
        : base(passes, bufferSize, queueLength)
    {
        Local = local;
        Flow = flow;
    }

    /// <summary>The endpoint the socket is bound to (for a flow, the original destination).</summary>
    public NetEndpoint Local { get; }

    /// <summary>
    /// The last ICMP error about a datagram this socket sent, not yet reported (Linux's sk_err on a connected socket): the next
    /// receive that finds no datagram queued, or the next send to the same remote endpoint, fails with it, once.
    /// </summary>
    public NetstackError? PendingError { get; set; }

    /// <summary>The multicast groups the socket joined (null until it joins one); left when it closes.</summary>
    public List<NetAddress>? Groups { get; set; }

    /// <summary>The TTL / hop limit of datagrams to multicast groups (IP_MULTICAST_TTL; 1 keeps them on the link).</summary>
    public byte MulticastHopLimit { get; set; } = 1;

    /// <summary>For an intercepted flow: its client, interceptor and idle deadline; null for a bound socket.</summary>
    public InterceptedFlow? Flow { get; }

    /// <summary>A flow's idle deadline (its last datagram either way plus the idle timeout); none for a bound socket.</summary>
    public override Instant PollAt => Flow is { } f && !IsClosed ? f.LastActivity + f.Interceptor.IdleTimeout : Instant.Never;

    /// <inheritdoc />
    protected override void OnSocketTimer(Instant now)
    {
        if (Flow is { } f && !IsClosed && PollAt <= now) f.Interceptor.Demux.ExpireFlow(this);
    }

    /// <summary>Answers waiting receives with queued datagrams, oldest first.</summary>
    public override void Flush(Instant now)
    {
        if (IsClosed) return;
        while (Received.TryPeek(out Meta meta, out ReadOnlySpan<byte> data) && Receivers.DequeueClaimed() is { } request)
        {
            if (request.Command is Command.Udp.ReceiveBatch batch)
            {
                Passes.Deliver(request, TakeBatch(batch));
                continue;
            }
            Passes.Deliver(request, MakeReply(request, meta, data));
            Received.Dequeue();
        }
        // As Linux's recvmsg: queued datagrams first, then the error (RFC 1122 §4.1.3.3: UDP passes ICMP errors up).
        if (PendingError is { } error && Received.Count == 0 && Receivers.DequeueClaimed() is { } failed)
        {
            PendingError = null;
            Passes.Deliver(failed, new Reply.Error(error));
        }
    }

    /// <summary>Takes up to <see cref="Command.Udp.ReceiveBatch.MaxDatagrams"/> queued datagrams (at least one is queued).</summary>
    private Reply.DatagramsReceived TakeBatch(Command.Udp.ReceiveBatch batch)
    {
        int max = batch.MaxLength ?? int.MaxValue;
        var datagrams = new Datagram[Math.Min(batch.MaxDatagrams, Received.Count)];
        for (int i = 0; i < datagrams.Length && Received.TryPeek(out Meta meta, out ReadOnlySpan<byte> data); i++)
        {
            datagrams[i] = Copy(meta, data, max);
            Received.Dequeue();
        }
        return new Reply.DatagramsReceived(datagrams);
    }

    private static Datagram Copy(in Meta meta, ReadOnlySpan<byte> data, int max) =>
        new(meta.Source, meta.Destination, data[..Math.Min(max, data.Length)].ToArray(), data.Length > max, data.Length);

    /// <summary>The reply for a receive: a copy of the datagram (the user keeps it), cut to the requested maximum.</summary>
    public static Reply MakeReply(PendingRequest request, in Meta meta, ReadOnlySpan<byte> data)
    {
        int max = request.Command is Command.Udp.Receive { MaxLength: int m } ? m : int.MaxValue;
        return new Reply.DatagramReceived(Copy(meta, data, max));
    }
}
