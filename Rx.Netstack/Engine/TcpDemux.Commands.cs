using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

internal sealed partial class TcpDemux
{
    /// <summary>Runs a <see cref="Command.TcpListen"/> command.</summary>
    public void Execute(PendingRequest request, Command.TcpListen command)
    {
        switch (command)
        {
            case Command.TcpListen.Listen listen:
                Listen(request, listen);
                break;
            case Command.TcpListen.Accept accept:
                if (!Lookup(request, accept.Listener, out TcpListenerSocketState? listener)) break;
                if (request.AcceptSink is { } sink) listener!.Sink = sink;
                listener!.Acceptors.Enqueue(request);
                Passes.MarkDirty(listener);
                break;
            case Command.TcpListen.Close close:
                if (!Lookup(request, close.Listener, out listener)) break;
                CloseListener(listener!);
                Passes.Complete(request, Reply.Ok.Instance);
                break;
        }
    }

    private void Listen(PendingRequest request, Command.TcpListen.Listen listen)
    {
        NetEndpoint local = listen.Local;
        if (!TryGetSettings(request, listen.Settings, out TcpSettings settings)) return;
        if (listen.Backlog <= 0)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, $"Backlog {listen.Backlog} must be positive."));
            return;
        }
        if (!IsBindable(request, local.Address)) return;
        if (local.Port == 0)
        {
            local = local with { Port = _ports.Allocate((this, local.Address), static (st, p) => !st.Item1.PortTaken(st.Address, p)) };
            if (local.Port == 0)
            {
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.NoFreePort, "No ephemeral TCP port is free."));
                return;
            }
        }
        else if (PortTaken(local.Address, local.Port))
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.PortInUse, $"TCP {local} already has a listener."));
            return;
        }
        var listener = new TcpListenerSocketState(Passes, local, listen.Backlog, settings);
        if (!TryAdd(listener, SocketKind.TcpListener, request)) return;
        _listeners.Add(local, listener);
        Passes.Complete(request, new Reply.Listening(listener.Handle, local));
    }

    /// <summary>The settings a listen or connect asked for, or the stack's; false (the request answered) when they are invalid.</summary>
    private bool TryGetSettings(PendingRequest request, TcpSettings? asked, out TcpSettings settings)
    {
        settings = asked ?? Options.Tcp;
        try
        {
            settings.Validate();
            return true;
        }
        catch (ArgumentException e)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, e.Message));
            return false;
        }
    }

    /// <summary>Listeners conflict like UDP binds: the same endpoint, or a wildcard and a specific address on one port.</summary>
    private bool PortTaken(NetAddress address, ushort port)
    {
        if (_listeners.ContainsKey(new NetEndpoint(address, port))) return true;
        if (_listeners.ContainsKey(new NetEndpoint(address.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, port))) return true;
        if (!address.IsUnspecified) return false;
        foreach (NetEndpoint bound in _listeners.Keys)
            if (bound.Port == port && bound.Address.IsV6 == address.IsV6) return true;
        return false;
    }

    /// <summary>Stops a listener: waiting accepts fail, connections it has not handed out are reset (RFC 9293 §3.10.4).</summary>
    private void CloseListener(TcpListenerSocketState listener)
    {
        _listeners.Remove(listener.Local);
        foreach (TcpStreamSocketState c in listener.AcceptQueue)
        {
            c.InAcceptQueue = false;
            c.Listener = null;
            c.UserClosed = true;
            c.Tcb.Abort();
            Passes.MarkDirty(c);
        }
        listener.AcceptQueue.Clear();
        foreach (SocketState socket in Sockets.All())
        {
            if (socket is TcpStreamSocketState { Listener: var owner } half && owner == listener)
            {
                half.Listener = null;
                half.CountedHalfOpen = false;
                half.UserClosed = true;
                half.Tcb.Abort();
                Passes.MarkDirty(half);
            }
        }
        listener.HalfOpen = 0;
        CloseSocket(listener, NetstackError.Of(NetstackErrorKind.SocketClosed, "The listener was closed."));
    }

    /// <summary>Runs a <see cref="Command.TcpStream"/> command.</summary>
    public void Execute(PendingRequest request, Command.TcpStream command, Instant now)
    {
        if (command is Command.TcpStream.Connect connect)
        {
            Connect(request, connect, now);
            return;
        }
        SocketHandle handle = command switch
        {
            Command.TcpStream.Send x => x.Socket,
            Command.TcpStream.Receive x => x.Socket,
            Command.TcpStream.ReceiveInto x => x.Socket,
            Command.TcpStream.ShutdownWrite x => x.Socket,
            Command.TcpStream.Close x => x.Socket,
            Command.TcpStream.Abort x => x.Socket,
            Command.TcpStream.GetInfo x => x.Socket,
            _ => default,
        };
        if (!Lookup(request, handle, out TcpStreamSocketState? connection)) return;
        TcpStreamSocketState c = connection!;
        if (c.UserClosed)
        {
            Passes.Fail(request, NetstackError.Of(NetstackErrorKind.StaleHandle, $"Handle {handle} names a connection that has been closed."));
            return;
        }
        switch (command)
        {
            case Command.TcpStream.Send send:
                if (send.Data.IsEmpty)
                {
                    Passes.Fail(request, NetstackError.Bad(BadRequestReason.ZeroSizeBuffer, "A send needs at least one byte."));
                    return;
                }
                c.Writers.Enqueue(request);
                break;
            case Command.TcpStream.Receive { MaxLength: <= 0 }:
            case Command.TcpStream.ReceiveInto { Destination.IsEmpty: true }:
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.ZeroSizeBuffer, "A receive needs room for at least one byte."));
                return;
            case Command.TcpStream.Receive or Command.TcpStream.ReceiveInto:
                c.Readers.Enqueue(request);
                break;
            case Command.TcpStream.ShutdownWrite:
                c.Tcb.ShutdownWrite();
                Passes.Complete(request, Reply.Ok.Instance);
                break;
            case Command.TcpStream.Close:
                c.UserClosed = true;
                c.Tcb.Close();
                FailWaiters(c, NetstackError.Of(NetstackErrorKind.SocketClosed, "The connection was closed locally."));
                Passes.Complete(request, Reply.Ok.Instance); // the close finishes in the background (RFC 9293 §3.10.4)
                break;
            case Command.TcpStream.Abort:
                c.UserClosed = true;
                c.Tcb.Abort();
                FailWaiters(c, NetstackError.Of(NetstackErrorKind.ConnectionAborted, "The connection was aborted locally."));
                Passes.Complete(request, Reply.Ok.Instance);
                break;
            case Command.TcpStream.GetInfo:
                Passes.Complete(request, new Reply.Info(c.Tcb.GetInfo(now)));
                break;
        }
        Passes.MarkDirty(c);
    }

    private static void FailWaiters(TcpStreamSocketState c, NetstackError error)
    {
        c.DeliverDirectRead(); // bytes already in a reader's buffer are its answer, not lost

        foreach (WaitQueue queue in (ReadOnlySpan<WaitQueue>)[c.Readers, c.Writers, c.Connecting])
            while (queue.First is { } r) c.StackComplete(r, new Reply.Error(error));
    }

    private void Connect(PendingRequest request, Command.TcpStream.Connect connect, Instant now)
    {
        NetEndpoint remote = connect.Remote;
        if (!TryGetSettings(request, connect.Settings, out TcpSettings settings)) return;
        if (remote.Address.IsUnspecified || remote.Address.IsMulticast || remote.Address.IsBroadcast || remote.Port == 0)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"Cannot connect to {remote}."));
            return;
        }
        NetEndpoint local = connect.Local ?? new NetEndpoint(remote.Address.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 0);
        if (local.Address.IsV6 != remote.Address.IsV6)
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.WrongIpVersion,
                $"Cannot connect from IPv{local.Address.Version} {local} to IPv{remote.Address.Version} {remote}."));
            return;
        }
        if (!IsBindable(request, local.Address)) return;
        if (!Ip.TrySelectSource(local.Address, remote.Address, out NetAddress source))
        {
            Passes.Fail(request, NetstackError.Bad(BadRequestReason.Unaddressable, $"The stack has no IPv{remote.Address.Version} address to connect from."));
            return;
        }
        if (local.Port == 0)
        {
            ushort port = _ports.Allocate((this, source, remote), static (st, p) =>
                !st.Item1._connections.ContainsKey(new FourTuple(new NetEndpoint(st.source, p), st.remote)) && !st.Item1.PortTaken(st.source, p)
                // Sharded: only a port whose flow hashes to this engine, so the peer's segments come back to it (Linux's
                // RSS-aware port selection); 1 port in Engines is one.
                && st.Item1.Sharding.Owns(st.remote, p));
            if (port == 0)
            {
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.NoFreePort, "No ephemeral TCP port is free."));
                return;
            }
            local = new NetEndpoint(source, port);
        }
        else
        {
            local = new NetEndpoint(source, local.Port);
            if (_connections.ContainsKey(new FourTuple(local, remote)))
            {
                Passes.Fail(request, NetstackError.Bad(BadRequestReason.PortInUse, $"A connection {local} → {remote} already exists."));
                return;
            }
        }
        TcpControlBlock tcb = TcpControlBlock.Connect(_context, local, remote, settings, MaxSegmentSizeFor(remote.Address), _isn.Next(local, remote, now), now);
        if (AddConnection(tcb, null, request) is not { } connection) return;
        connection.Connecting.Enqueue(request);
        Passes.MarkDirty(connection);
    }

    /// <summary>TCP connections by state, from the tally (no walk over the table: stats are read every second by dashboards,
    /// and a page of counters may be what a load test hits).</summary>
    public Dictionary<string, int> ConnectionsByState()
    {
        var byState = new Dictionary<string, int>();
        for (int i = 0; i < _connectionsByState.Length; i++)
            if (_connectionsByState[i] != 0) byState[((TcpState)i).ToString()] = _connectionsByState[i];
        return byState;
    }

    /// <summary>The same, counted by walking every connection in the registry: for tests and assertions of the tally.</summary>
    public Dictionary<string, int> ConnectionsByStateCounted() =>
        Sockets.All().OfType<TcpStreamSocketState>().GroupBy(c => c.Tcb.State.ToString()).ToDictionary(g => g.Key, g => g.Count());
}
