using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Cli.Dashboard;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli;

/// <summary>
/// The `proxy` command: a stack on a TUN device intercepts TCP and UDP to other hosts (<see cref="TcpInterceptor"/>,
/// <see cref="UdpInterceptor"/>) and carries each connection on with the host's own sockets (or a SOCKS5 server: CONNECT
/// for TCP, a UDP ASSOCIATE per UDP flow) — what
/// tun2socks or a userspace VPN's exit node does. A connection is accepted only once its upstream connected, so the client
/// sees the upstream's answer: connected, reset (refused) or ICMP unreachable. Bytes are copied both ways through one
/// buffer per direction, each read waiting for the previous write, so a slow side closes the other's window instead of
/// filling memory; a FIN is passed on as a FIN (half-close). SIGTERM resets what is still open and stops.
/// </summary>
internal sealed class ProxyCommand
{
    /// <summary>How long an upstream connect may take before the client is told the host is unreachable (below the interceptor's
    /// 30 s decision timeout).</summary>
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long the relays get to finish after SIGTERM.</summary>
    private static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(5);

    /// <summary>The bytes one direction of one connection holds: the most that is ever read ahead of its writer.</summary>
    private const int RelayBufferSize = 64 * 1024;

    // ---------------------------------------------------------------- state

    /// <summary>The command line.</summary>
    private readonly ProxyOptions _options;

    /// <summary>Cancelled by SIGTERM or Ctrl-C: every relay resets and ends.</summary>
    private readonly CancellationToken _stop;

    /// <summary>Relays running now (TCP connections and UDP flows), so the stop can wait for them.</summary>
    private readonly ConcurrentDictionary<Task, bool> _relays = new();

    /// <summary>Counters printed at the end (Interlocked).</summary>
    private long _connections, _refused, _flows, _bytesUp, _bytesDown;

    /// <summary>Datagrams from a SOCKS5 UDP relay dropped: fragments (FRAG ≠ 0, not reassembled, RFC 1928 §7), and headers that
    /// could not be read or named a source other than the flow's destination (Interlocked).</summary>
    private long _socksFragmentsDropped, _socksDatagramsDropped;

    private ProxyCommand(ProxyOptions options, CancellationToken stop)
    {
        _options = options;
        _stop = stop;
    }

    public static async Task<int> RunAsync(ProxyOptions options)
    {
        using var stop = new StopSignal();
        TunDevice tun;
        MultiQueueTunDevice? queues = null;
        try
        {
            // More than one engine: one queue each (the first queue's device names the interface in the banner).
            if (options.Engines > 1) queues = MultiQueueTunDevice.Open(options.Device, options.Engines, createIfMissing: true);
            tun = queues?.Devices[0] ?? TunDevice.Open(options.Device, createIfMissing: true);
        }
        catch (TunDeviceException e)
        {
            Console.Error.WriteLine($"rx-netstack proxy: {e.Message}");
            return ExitCodes.Failure;
        }
        using (queues)
        using (tun)
        {
            var settings = new TcpSettings { SendBufferSize = 512 * 1024, ReceiveBufferSize = 512 * 1024, CongestionControl = options.Congestion };
            var stack = new Netstack(new NetstackOptions { Addresses = options.Addresses, Tcp = settings, Engines = options.Engines });
            IDisposable attachment = queues is not null ? stack.AttachQueues(queues) : stack.Attach(tun);
            try
            {
                await new ProxyCommand(options, stop.Token).ServeAsync(stack, tun).ConfigureAwait(false);
            }
            finally
            {
                attachment.Dispose();
                await stack.DisposeAsync().ConfigureAwait(false);
            }
        }
        Console.WriteLine($"closed {options.Device}");
        return ExitCodes.Success;
    }

    private async Task ServeAsync(Netstack stack, TunDevice tun)
    {
        // Up to 4,096 SYNs may wait for their upstream connect at once (split between the engines); more are dropped and
        // retransmitted by their clients.
        TcpInterceptor tcp = await TcpInterceptor.StartAsync(stack, _options.Intercept, backlog: 4096).ConfigureAwait(false);
        UdpInterceptor udp = await UdpInterceptor.StartAsync(stack, _options.Intercept, maxFlows: 4096).ConfigureAwait(false);
        using IDisposable offers = tcp.Offers.Subscribe(offer => Track(Task.Run(() => RelayTcpAsync(offer))));
        using IDisposable flows = udp.Flows.Subscribe(flow => Track(Task.Run(() => RelayUdpAsync(flow))));
        // The dashboard rides on the stack's own HTTP service (its own addresses are never intercepted); its socket table is
        // the live list of relays, each intercepted connection under its original destination.
        using DashboardHub? dashboard = _options.Dashboard ? new DashboardHub([new DashboardSource(tun.Name, stack)]) : null;
        ServiceHost? services = dashboard is null ? null : await ServiceHost.StartAsync(stack, null, null, dashboard, discardSha256: false).ConfigureAwait(false);

        Console.WriteLine($"rx-netstack proxy on {tun.Name} (MTU {tun.Mtu}{(_options.Engines > 1 ? $", {_options.Engines} engines on as many queues" : "")}), addresses {string.Join(", ", _options.Addresses)}");
        Console.WriteLine($"  intercepting {string.Join(", ", _options.Intercept)}; upstream {(_options.Socks5 is { } s ? $"SOCKS5 {s}" : "this host's sockets")}");
        Console.WriteLine($"(route those prefixes into {tun.Name}; the device may be moved to the clients' namespace: ip link set {tun.Name} netns NAME)");
        if (dashboard is not null)
        {
            InterfaceAddress first = _options.Addresses.FirstOrDefault(a => !a.Address.IsV6) is { } v4 && v4 != default ? v4 : _options.Addresses[0];
            Console.WriteLine($"dashboard: http://{(first.Address.IsV6 ? $"[{first.Address}]" : first.Address.ToString())}/dashboard");
        }
        Console.WriteLine("Ctrl-C or SIGTERM stops.");
        try { await Task.Delay(Timeout.Infinite, _stop).ConfigureAwait(false); }
        catch (OperationCanceledException) { }

        Console.WriteLine($"stopping: resetting {_relays.Count} open relays …");
        dashboard?.Dispose(); // ends the open event streams, so Kestrel stops at once
        if (services is not null) await services.DisposeAsync().ConfigureAwait(false);
        await tcp.DisposeAsync().ConfigureAwait(false);
        await udp.DisposeAsync().ConfigureAwait(false);
        try { await Task.WhenAll(_relays.Keys).WaitAsync(StopPatience).ConfigureAwait(false); }
        catch (TimeoutException) { Console.WriteLine($"{_relays.Count} relays did not end within {StopPatience.TotalSeconds} s"); }
        NetstackStatsLine(stack);
    }

    private void Track(Task relay)
    {
        _relays[relay] = true;
        relay.ContinueWith((t, state) => ((ProxyCommand)state!)._relays.TryRemove(t, out _), this, TaskScheduler.Default);
    }

    private void Log(string line)
    {
        if (!_options.Quiet) Console.WriteLine(line);
    }

    // ---------------------------------------------------------------- TCP

    private async Task RelayTcpAsync(TcpInterception offer)
    {
        IPEndPoint destination = offer.Destination.ToIPEndPoint();
        // Through SOCKS5 the socket talks to the server, whose address family may differ from the destination's.
        var upstream = new Socket((_options.Socks5 ?? destination).AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(_stop);
            connect.CancelAfter(ConnectTimeout);
            if (_options.Socks5 is { } server) await Socks5Client.ConnectAsync(upstream, server, destination, connect.Token).ConfigureAwait(false);
            else await upstream.ConnectAsync(destination, connect.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Any failure to connect (refused, unreachable, timed out, a SOCKS5 refusal, or a bug) is an answer to the client.
            upstream.Dispose();
            InterceptRefusal how = RefusalFor(e);
            Interlocked.Increment(ref _refused);
            Log($"tcp {offer.Source} → {offer.Destination}: upstream {e switch { SocketException s => s.SocketErrorCode.ToString(), OperationCanceledException => "timed out", _ => e.Message }}; refused ({how})");
            try { await offer.RefuseAsync(how).ConfigureAwait(false); }
            catch (NetstackException) { /* the client gave up or the interceptor closed */ }
            return;
        }

        TcpConnection client;
        try
        {
            client = await offer.AcceptAsync(_stop).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NetstackException or OperationCanceledException)
        {
            Reset(upstream);
            return;
        }
        Interlocked.Increment(ref _connections);
        Log($"tcp {offer.Source} → {offer.Destination}: relaying");
        using var relay = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        Task up = CopyToUpstreamAsync(client, upstream, relay);
        Task down = CopyToClientAsync(upstream, client, relay);
        await Task.WhenAll(up, down).ConfigureAwait(false);
        if (relay.IsCancellationRequested)
        {
            // One side failed or SIGTERM came: reset both, so neither believes the stream ended cleanly.
            Reset(upstream);
            try { await client.AbortAsync(CancellationToken.None).ConfigureAwait(false); } catch (NetstackException) { }
        }
        else
        {
            upstream.Dispose();
            try { await client.CloseAsync(CancellationToken.None).ConfigureAwait(false); } catch (NetstackException) { }
        }
        Log($"tcp {offer.Source} → {offer.Destination}: {(relay.IsCancellationRequested ? "reset" : "closed")}");
    }

    /// <summary>Client → upstream; the client's FIN becomes the upstream's (half-close). Any failure cancels <paramref name="relay"/>.</summary>
    private async Task CopyToUpstreamAsync(TcpConnection client, Socket upstream, CancellationTokenSource relay)
    {
        byte[] buffer = new byte[RelayBufferSize];
        try
        {
            while (true)
            {
                int n = await client.ReadAsync(buffer, relay.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    upstream.Shutdown(SocketShutdown.Send);
                    return;
                }
                for (int sent = 0; sent < n;)
                    sent += await upstream.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None, relay.Token).ConfigureAwait(false);
                Interlocked.Add(ref _bytesUp, n);
            }
        }
        catch (Exception e) when (e is NetstackException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            await relay.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Upstream → client; the upstream's FIN becomes the client's (half-close). Any failure cancels <paramref name="relay"/>.</summary>
    private async Task CopyToClientAsync(Socket upstream, TcpConnection client, CancellationTokenSource relay)
    {
        byte[] buffer = new byte[RelayBufferSize];
        try
        {
            while (true)
            {
                int n = await upstream.ReceiveAsync(buffer, SocketFlags.None, relay.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    await client.ShutdownWriteAsync(relay.Token).ConfigureAwait(false);
                    return;
                }
                await client.SendAsync(buffer.AsMemory(0, n), relay.Token).ConfigureAwait(false);
                Interlocked.Add(ref _bytesDown, n);
            }
        }
        catch (Exception e) when (e is NetstackException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            await relay.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes a socket with a RST (SO_LINGER 0), as a relay that failed must.</summary>
    private static void Reset(Socket socket)
    {
        try { socket.LingerState = new LingerOption(true, 0); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        socket.Dispose();
    }

    /// <summary>What the client hears when its upstream connect failed: a reset for a refusal, ICMP for unreachable.</summary>
    private static InterceptRefusal RefusalFor(Exception e) => e is SocketException s
        ? s.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => InterceptRefusal.Reset,
            SocketError.NetworkUnreachable or SocketError.NetworkDown => InterceptRefusal.NetworkUnreachable,
            SocketError.HostUnreachable or SocketError.HostDown or SocketError.TimedOut => InterceptRefusal.HostUnreachable,
            SocketError.AccessDenied => InterceptRefusal.AdministrativelyProhibited,
            _ => InterceptRefusal.Reset,
        }
        : InterceptRefusal.HostUnreachable; // our connect timeout

    // ---------------------------------------------------------------- UDP

    private async Task RelayUdpAsync(UdpFlow flow)
    {
        if (_options.Socks5 is { } server)
        {
            await RelayUdpThroughSocks5Async(flow, server).ConfigureAwait(false);
            return;
        }
        IPEndPoint destination = flow.Local.ToIPEndPoint();
        Interlocked.Increment(ref _flows);
        Log($"udp {flow.Remote} → {flow.Local}: relaying");
        using var upstream = new Socket(destination.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var relay = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        bool refused = false;
        try
        {
            // Connected: it receives only from the destination, and an ICMP port unreachable comes back as ConnectionRefused.
            upstream.Connect(destination);
            using IDisposable toUpstream = flow.Received.Subscribe(
                d =>
                {
                    try
                    {
                        upstream.Send(d.Data.Span);
                        Interlocked.Add(ref _bytesUp, d.Data.Length);
                    }
                    catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused) { refused = true; relay.Cancel(); }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException) { relay.Cancel(); }
                },
                _ => relay.Cancel(),
                relay.Cancel); // the flow ended (idle timeout)
            byte[] buffer = new byte[65536];
            while (true)
            {
                int n = await upstream.ReceiveAsync(buffer, SocketFlags.None, relay.Token).ConfigureAwait(false);
                await flow.SendAsync(buffer.AsMemory(0, n), relay.Token).ConfigureAwait(false);
                Interlocked.Add(ref _bytesDown, n);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            refused = true;
        }
        catch (Exception e) when (e is SocketException or NetstackException or OperationCanceledException or ObjectDisposedException)
        {
        }
        if (refused && !_stop.IsCancellationRequested)
        {
            Log($"udp {flow.Remote} → {flow.Local}: port unreachable upstream; told the client");
            await flow.RefuseAsync(InterceptRefusal.PortUnreachable).ConfigureAwait(false);
        }
        else await flow.DisposeAsync().ConfigureAwait(false);
        Log($"udp {flow.Remote} → {flow.Local}: ended");
    }

    /// <summary>
    /// One flow through a SOCKS5 server's UDP relay (RFC 1928 §7): one association per flow, so the relay's port stands for
    /// the flow's 4-tuple as a connected socket's would on the direct path (one association for every flow could not tell
    /// apart the answers to two clients of the same destination). The TCP control connection stays open for the flow's life;
    /// either ending ends the other. Each datagram up carries the original destination in its header; each one down is
    /// unwrapped and answered from the original destination — a fragment or a datagram from another source is dropped and
    /// counted. The relay cannot pass an ICMP port unreachable on, so such a flow just goes unanswered until its idle timeout.
    /// </summary>
    private async Task RelayUdpThroughSocks5Async(UdpFlow flow, IPEndPoint server)
    {
        IPEndPoint destination = flow.Local.ToIPEndPoint();
        Interlocked.Increment(ref _flows);
        Log($"udp {flow.Remote} → {flow.Local}: relaying through SOCKS5");
        using var control = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var upstream = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var relay = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        try
        {
            using (var setup = CancellationTokenSource.CreateLinkedTokenSource(_stop))
            {
                setup.CancelAfter(ConnectTimeout);
                await control.ConnectAsync(server, setup.Token).ConfigureAwait(false);
                // The association names the address and port our datagrams will come from: the control connection's address.
                upstream.Bind(new IPEndPoint(((IPEndPoint)control.LocalEndPoint!).Address, 0));
                IPEndPoint relayEndpoint = await Socks5Client.AssociateUdpAsync(control, (IPEndPoint)upstream.LocalEndPoint!, setup.Token).ConfigureAwait(false);
                upstream.Connect(relayEndpoint); // it receives only from the relay
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            if (_stop.IsCancellationRequested)
            {
                await flow.DisposeAsync().ConfigureAwait(false);
                return;
            }
            InterceptRefusal how = RefusalFor(e);
            Log($"udp {flow.Remote} → {flow.Local}: SOCKS5 UDP ASSOCIATE failed ({e switch { SocketException s => s.SocketErrorCode.ToString(), _ => "timed out" }}); refused ({how})");
            await flow.RefuseAsync(how).ConfigureAwait(false);
            return;
        }

        Task watching = WatchControlAsync(control, relay);
        byte[] up = new byte[Socks5Client.MaxUdpHeaderLength + 65536];
        int upHeader = Socks5Client.WriteUdpHeader(up, destination); // one destination per flow: the header is written once
        try
        {
            using IDisposable toUpstream = flow.Received.Subscribe(
                d =>
                {
                    // Rx delivers one datagram at a time, so the one buffer is enough.
                    try
                    {
                        d.Data.Span.CopyTo(up.AsSpan(upHeader));
                        upstream.Send(up.AsSpan(0, upHeader + d.Data.Length));
                        Interlocked.Add(ref _bytesUp, d.Data.Length);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException or ArgumentException) { relay.Cancel(); }
                },
                _ => relay.Cancel(),
                relay.Cancel); // the flow ended (idle timeout)
            byte[] buffer = new byte[Socks5Client.MaxUdpHeaderLength + 65536];
            while (true)
            {
                int n = await upstream.ReceiveAsync(buffer, SocketFlags.None, relay.Token).ConfigureAwait(false);
                switch (Socks5Client.ReadUdpHeader(buffer.AsSpan(0, n), out IPEndPoint? source, out int header))
                {
                    case UdpHeaderResult.Fragment:
                        Interlocked.Increment(ref _socksFragmentsDropped);
                        continue;
                    case UdpHeaderResult.Malformed:
                        Interlocked.Increment(ref _socksDatagramsDropped);
                        continue;
                }
                if (!source!.Equals(destination))
                {
                    Interlocked.Increment(ref _socksDatagramsDropped); // the direct path's connected socket would not take it either
                    continue;
                }
                await flow.SendAsync(buffer.AsMemory(header, n - header), relay.Token).ConfigureAwait(false);
                Interlocked.Add(ref _bytesDown, n - header);
            }
        }
        catch (Exception e) when (e is SocketException or NetstackException or OperationCanceledException or ObjectDisposedException)
        {
        }
        await relay.CancelAsync().ConfigureAwait(false);
        await watching.ConfigureAwait(false);
        await flow.DisposeAsync().ConfigureAwait(false);
        Log($"udp {flow.Remote} → {flow.Local}: ended");
    }

    /// <summary>Waits for the SOCKS5 control connection to end (the association with it, §7), then ends the relay.</summary>
    private static async Task WatchControlAsync(Socket control, CancellationTokenSource relay)
    {
        byte[] ignored = new byte[64];
        try
        {
            while (await control.ReceiveAsync(ignored, SocketFlags.None, relay.Token).ConfigureAwait(false) > 0)
            {
                // Nothing is expected on it after the reply; whatever comes is ignored.
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        await relay.CancelAsync().ConfigureAwait(false);
    }

    private void NetstackStatsLine(Netstack stack)
    {
        var s = stack.GetStats();
        Console.WriteLine($"relayed {Interlocked.Read(ref _connections)} TCP connections ({Interlocked.Read(ref _refused)} refused) and " +
            $"{Interlocked.Read(ref _flows)} UDP flows; {Interlocked.Read(ref _bytesUp)} bytes up, {Interlocked.Read(ref _bytesDown)} down; " +
            $"frames in/out {s.FramesIn}/{s.FramesOut}, drops {s.TotalDrops}" +
            (_options.Socks5 is null ? "" : $"; SOCKS5 UDP dropped {Interlocked.Read(ref _socksFragmentsDropped)} fragments, {Interlocked.Read(ref _socksDatagramsDropped)} others"));
    }
}
