using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// TCP interception: SYNs to destinations that are not the stack's become offers, and only an accepted offer becomes a
/// connection (its local endpoint the original destination), so a client never sees a handshake complete for a connection
/// that has nowhere to go — what gVisor's TCP forwarder does. Until then no state but the offer exists: no SYN-ACK, no
/// control block, and no SYN cookie either (a cookie would complete the handshake before the decision).
/// </summary>
internal sealed partial class TcpDemux
{
    /// <summary>Default time an offer may wait for a decision.</summary>
    private static readonly TimeSpan DefaultDecisionTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The interceptors (for tests that check their queues).</summary>
    public IReadOnlyList<TcpInterceptorSocketState> Interceptors => _interceptors;

    /// <summary>True when an interceptor answers for <paramref name="address"/>.</summary>
    public bool Intercepts(NetAddress address) => _interceptors.Count != 0 && FindInterceptor(address) is not null;

    /// <summary>The interceptor with the longest prefix containing <paramref name="address"/> (the first made on a tie).</summary>
    private TcpInterceptorSocketState? FindInterceptor(NetAddress address)
    {
        TcpInterceptorSocketState? best = null;
        int bestLength = -1;
        foreach (TcpInterceptorSocketState i in _interceptors)
        {
            int length = i.MatchLength(address);
            if (length > bestLength) (best, bestLength) = (i, length);
        }
        return best;
    }

    /// <summary>A segment to an intercepted destination that no connection took.</summary>
    private void InterceptInput(NetEndpoint local, NetEndpoint remote, in TcpHeader header, int payloadLength, Instant now)
    {
        var tuple = new FourTuple(local, remote);
        if (_offers.TryGetValue(tuple, out TcpOffer? offer))
        {
            if (header.Has(TcpFlags.Rst))
            {
                // RFC 9293 §3.10.7.3 (as for SYN-SENT's peer): a reset within the SYN's window withdraws the attempt; the
                // application's accept then fails with "reset".
                if (header.Sequence == offer.Syn.Sequence + 1 || header.Sequence == offer.Syn.Sequence) Withdraw(offer);
                return;
            }
            if (header.Has(TcpFlags.Syn) && !header.Has(TcpFlags.Ack))
            {
                // A retransmission while undecided: the offer stands, nothing is sent (the SYN-ACK waits for the decision).
                // A SYN with another sequence number (the client started over) is the one the accepted connection answers.
                offer.Syn = header;
                Counters.InterceptedSynRetransmits++;
                return;
            }
            Counters.Drop(DropReason.TcpNoConnection); // nothing was offered to the client yet that it could acknowledge
            return;
        }
        TcpInterceptorSocketState? interceptor = FindInterceptor(local.Address);
        if (interceptor is null)
        {
            Counters.Drop(DropReason.NotForUs); // intercepted for another protocol only
            return;
        }
        if (header.Has(TcpFlags.Rst)) return;
        if (!header.Has(TcpFlags.Syn) || header.Has(TcpFlags.Ack) || header.Has(TcpFlags.Fin))
        {
            // A stray segment to an intercepted address: answered as the host would (RFC 9293 §3.10.7.1, CLOSED).
            Counters.Drop(DropReason.TcpNoConnection);
            if (!header.Has(TcpFlags.Syn)) SendInterceptReset(local, remote, header, payloadLength);
            return;
        }
        if (remote.Address.IsMulticast || remote.Address.IsBroadcast || remote.Address.IsUnspecified || local.Address.IsMulticast
            || local.Address.IsUnspecified || local.Address.IsBroadcast)
            return; // RFC 9293 §3.10.7.2: SYNs to or from broadcast/multicast are ignored
        if (interceptor.Undecided.Count >= interceptor.Backlog)
        {
            Counters.Drop(DropReason.TcpInterceptOverflow); // the client retransmits; by then there may be room
            return;
        }
        offer = new TcpOffer(++_lastOfferId, interceptor, local, remote, header, now + interceptor.DecisionTimeout);
        _offers.Add(tuple, offer);
        interceptor.Undecided.Add(offer.Id, offer);
        interceptor.Untaken.Enqueue(offer);
        interceptor.ByDeadline.Enqueue(offer);
        Counters.InterceptedSyns++;
        Passes.MarkDirty(interceptor);
    }

    /// <summary>Takes an offer out of every table (its interceptor's queues drop it lazily).</summary>
    private void RemoveOffer(TcpOffer offer)
    {
        offer.Decided = true;
        _offers.Remove(new FourTuple(offer.Local, offer.Remote));
        offer.Interceptor.Undecided.Remove(offer.Id);
        offer.Interceptor.CompactQueues();
        Passes.MarkDirty(offer.Interceptor);
    }

    /// <summary>The client reset its attempt before the decision.</summary>
    private void Withdraw(TcpOffer offer)
    {
        RemoveOffer(offer);
        Counters.InterceptionsWithdrawn++;
    }

    /// <summary>Refuses, with a reset, every offer of <paramref name="interceptor"/> past its decision timeout.</summary>
    public void ExpireOffers(TcpInterceptorSocketState interceptor, Instant now)
    {
        while (interceptor.ByDeadline.TryPeek(out TcpOffer? offer) && (offer.Decided || offer.Deadline <= now))
        {
            interceptor.ByDeadline.Dequeue();
            if (offer.Decided) continue;
            RemoveOffer(offer);
            Counters.InterceptionsExpired++;
            Refuse(offer, InterceptRefusal.Reset, now);
        }
    }

    /// <summary>A reset from an intercepted address, which is not the stack's own (so <see cref="SendResetFor"/> would not send it).</summary>
    private void SendInterceptReset(NetEndpoint local, NetEndpoint remote, in TcpHeader header, int payloadLength)
    {
        if (remote.Address.IsMulticast || remote.Address.IsBroadcast) return;
        if (!TcpControlBlock.TryMakeResetFor(header, payloadLength, out TcpHeader reset)) return;
        _context.Counters.ResetsSent++;
        EmitSegment(local, remote, reset, default);
    }

    /// <summary>Tells an offer's client no (the offer has left the tables).</summary>
    private void Refuse(TcpOffer offer, InterceptRefusal how, Instant now)
    {
        switch (how)
        {
            case InterceptRefusal.Drop:
                break;
            case InterceptRefusal.Reset:
                SendInterceptReset(offer.Local, offer.Remote, offer.Syn, 0); // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>
                break;
            default:
                // The quote carries the ports and the SYN's sequence number: the client checks it against its SND.UNA (RFC 5927 §4.1).
                Span<byte> head = stackalloc byte[TcpHeader.MinHeaderLength];
                TcpHeader.Emit(head, new TcpHeader(offer.Syn.SourcePort, offer.Syn.DestinationPort, TcpFlags.Syn) { Sequence = offer.Syn.Sequence, Window = offer.Syn.Window }, 0, offer.Remote.Address, offer.Local.Address, computeChecksum: false);
                Ip.SendInterceptRefusal(offer.Remote.Address, offer.Local.Address, IpProtocol.Tcp, head, how, now);
                break;
        }
    }

    /// <summary>Runs the TCP part of a <see cref="Command.Intercept"/> command.</summary>
    public void Execute(PendingRequest request, Command.Intercept command, Instant now)
    {
        switch (command)
        {
            case Command.Intercept.StartTcp tcp:
                StartIntercepting(request, tcp);
                break;
            case Command.Intercept.Next next:
                if (!Lookup(request, next.Interceptor, out TcpInterceptorSocketState? interceptor)) break;
                interceptor!.Takers.Enqueue(request);
                Passes.MarkDirty(interceptor);
                break;
            case Command.Intercept.Accept accept:
                if (!Lookup(request, accept.Interceptor, out interceptor) || !TryTakeOffer(request, interceptor!, accept.Offer, out TcpOffer? offer)) break;
                AcceptOffer(request, offer!, now);
                break;
            case Command.Intercept.Refuse refuse:
                if (!Lookup(request, refuse.Interceptor, out interceptor) || !TryTakeOffer(request, interceptor!, refuse.Offer, out offer)) break;
                Counters.InterceptionsRefused++;
                Refuse(offer!, refuse.How, now);
                Passes.Complete(request, Reply.Ok.Instance);
                break;
            case Command.Intercept.Close close:
                if (!Lookup(request, close.Interceptor, out interceptor)) break;
                StopIntercepting(interceptor!, now);
                Passes.Complete(request, Reply.Ok.Instance);
                break;
        }
    }

    private void StartIntercepting(PendingRequest request, Command.Intercept.StartTcp tcp)
    {
        if (!TryGetSettings(request, tcp.Settings, out TcpSettings settings)) return;
        TimeSpan timeout = tcp.DecisionTimeout ?? DefaultDecisionTimeout;
        if (tcp.Prefixes is not { Count: > 0 } || tcp.Prefixes.Any(p => !p.IsValid) || tcp.Backlog <= 0 || timeout <= TimeSpan.Zero)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument,
                "A TCP interceptor needs at least one valid prefix, a positive backlog and a positive decision timeout."));
            return;
        }
        var interceptor = new TcpInterceptorSocketState(this, Passes, tcp.Prefixes, tcp.Backlog, settings, timeout);
        if (!TryAdd(interceptor, SocketKind.TcpInterceptor, request)) return;
        _interceptors.Add(interceptor);
        Passes.Complete(request, new Reply.Intercepting(interceptor.Handle));
    }

    /// <summary>Finds an undecided offer of <paramref name="interceptor"/> and takes it out of the tables; else answers the request.</summary>
    private bool TryTakeOffer(PendingRequest request, TcpInterceptorSocketState interceptor, long id, out TcpOffer? offer)
    {
        if (!interceptor.Undecided.TryGetValue(id, out offer))
        {
            Passes.Fail(request, NetstackError.Of(NetstackErrorKind.ConnectionReset,
                $"Offer {id} is not waiting for a decision: it was decided already, the client reset it, or it expired."));
            return false;
        }
        RemoveOffer(offer);
        return true;
    }

    /// <summary>The decision is yes: the connection answers the client's SYN; the request is answered once it is established.</summary>
    private void AcceptOffer(PendingRequest request, TcpOffer offer, Instant now)
    {
        TcpControlBlock tcb = TcpControlBlock.AcceptSyn(_context, offer.Local, offer.Remote, offer.Syn, offer.Interceptor.Settings,
            MaxSegmentSizeFor(offer.Remote.Address), _isn.Next(offer.Local, offer.Remote, now), now);
        if (AddConnection(tcb, null, request) is not { } connection)
        {
            SendInterceptReset(offer.Local, offer.Remote, offer.Syn, 0); // no room: the client hears no at once
            return;
        }
        Counters.InterceptionsAccepted++;
        connection.Connecting.Enqueue(request);
        Passes.MarkDirty(connection);
    }

    /// <summary>Removes an interceptor: its waiting requests fail, its undecided offers are reset.</summary>
    private void StopIntercepting(TcpInterceptorSocketState interceptor, Instant now)
    {
        _interceptors.Remove(interceptor);
        foreach (TcpOffer offer in interceptor.Undecided.Values.ToList())
        {
            RemoveOffer(offer);
            Refuse(offer, InterceptRefusal.Reset, now);
        }
        CloseSocket(interceptor, NetstackError.Of(NetstackErrorKind.SocketClosed, "The interceptor was closed."));
    }
}
