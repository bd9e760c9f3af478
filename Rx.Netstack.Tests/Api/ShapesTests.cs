using System.Net;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// The .NET shapes of the API (docs/api.md): System.Net addresses anywhere ours are taken, cancellable closes that leak
/// nothing, <see cref="Netstack.DisposeAsync"/>, blocking calls from ordinary threads (and a clear error on the engine's own),
/// and names resolved with the stack's DNS servers.
/// </summary>
public sealed class ShapesTests
{
    private static (TestScheduler, VirtualNetwork, Netstack, Netstack) Network(NetstackOptions? a = null)
    {
        var scheduler = new TestScheduler();
        var network = new VirtualNetwork(scheduler);
        return (scheduler, network,
            network.AddStack("a", (a ?? new NetstackOptions()) with { Addresses = [InterfaceAddress.Parse("10.0.0.1/24"), InterfaceAddress.Parse("fd00::1/64")] }),
            network.AddStack("b", "10.0.0.2/24", "fd00::2/64"));
    }

    // ---- IPAddress / IPEndPoint --------------------------------------------------------------------------------------------

    [Fact]
    public void System_Net_addresses_convert_both_ways()
    {
        NetAddress v4 = IPAddress.Parse("10.0.0.2");
        NetAddress v6 = IPAddress.Parse("fd00::2");
        Assert.Equal(NetAddress.Parse("10.0.0.2"), v4);
        Assert.Equal(NetAddress.Parse("fd00::2"), v6);
        IPAddress back = v6;
        Assert.Equal(IPAddress.Parse("fd00::2"), back);

        NetEndpoint endpoint = new IPEndPoint(IPAddress.Parse("fd00::2"), 443);
        Assert.Equal(NetEndpoint.Parse("[fd00::2]:443"), endpoint);
        IPEndPoint bcl = endpoint;
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd00::2"), 443), bcl);

        // An IPv4-mapped IPv6 address stays IPv6; a scope id is dropped (one interface: a scope selects nothing).
        NetAddress mapped = IPAddress.Parse("::ffff:10.0.0.2");
        Assert.True(mapped.IsV6);
        NetAddress scoped = IPAddress.Parse("fe80::1%3");
        Assert.Equal(NetAddress.Parse("fe80::1"), scoped);
        Assert.Throws<ArgumentNullException>(() => { NetAddress _ = (IPAddress)null!; });
        Assert.Throws<ArgumentNullException>(() => { NetEndpoint _ = (IPEndPoint)null!; });
    }

    [Fact]
    public void The_friendly_API_takes_System_Net_addresses()
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        var listener = network.Run(b.ListenTcpAsync(new IPEndPoint(IPAddress.IPv6Any, 80)));
        var accept = listener.AcceptAsync();
        TcpConnection client = network.Run(a.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse("fd00::2"), 80)));
        network.Run(accept);
        IPEndPoint remote = client.Remote;
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd00::2"), 80), remote);

        var server = network.Run(b.BindUdpAsync(53));
        var client2 = network.Run(a.BindUdpAsync());
        var received = server.ReceiveAsync();
        network.Run(client2.SendAsync("hi", new IPEndPoint(IPAddress.Parse("10.0.0.2"), 53)));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.1"), client2.Local.Port), (IPEndPoint)network.Run(received).Source);

        Reply.PingReply pong = network.Run(a.PingAsync(IPAddress.Parse("10.0.0.2")));
        Assert.Equal(IPAddress.Parse("10.0.0.2"), (IPAddress)pong.From);

        // The command channel too: commands take IPEndPoint where they take NetEndpoint.
        var bound = s.Await(b.Execute(new Command.Udp.Bind(new IPEndPoint(IPAddress.Any, 9))));
        Assert.Equal(9, Assert.IsType<Reply.Bound>(bound).Local.Port);
    }

    // ---- Cancellation --------------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_close_cancelled_before_the_engine_took_it_leaves_the_connection_open_and_a_later_close_closes(bool laterByDispose)
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        var listener = network.Run(b.ListenTcpAsync(80));
        var accept = listener.AcceptAsync();
        TcpConnection client = network.Run(a.ConnectTcpAsync("10.0.0.2:80"));
        TcpConnection server = network.Run(accept);

        // Withdrawn before any pass ran: the engine never sees the close.
        using var cancel = new CancellationTokenSource();
        Task close = client.CloseAsync(cancel.Token);
        cancel.Cancel();
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.True(((IAsyncResult)close).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "the withdrawn close did not end");
        Assert.True(close.IsCanceled);
        Assert.Equal(TcpState.Established, network.Run(client.GetInfoAsync()).State);
        Task<ReadOnlyMemory<byte>?> eof = server.ReceiveAsync();
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.False(eof.IsCompleted); // no FIN went out

        // A later close is not a no-op: the FIN reaches the peer.
        network.Run(laterByDispose ? client.DisposeAsync().AsTask() : client.CloseAsync());
        Assert.Null(network.Run(eof));

        // Cancelling an abort the same way: the connection stays, and a later abort still resets it.
        Task abort = server.AbortAsync(new CancellationToken(canceled: true));
        Assert.True(abort.IsCanceled);
        Assert.Equal(TcpState.CloseWait, network.Run(server.GetInfoAsync()).State);
        network.Run(server.AbortAsync());
        Assert.Equal(NetstackErrorKind.StaleHandle, Assert.Throws<NetstackException>(() => network.Run(server.GetInfoAsync())).Kind);
    }

    [Fact]
    public void At_the_end_of_the_stream_ReceiveAsync_is_null_and_ReadAllAsync_ends()
    {
        var (s, network, a, b) = Network();
        using var _ = network;
        var listener = network.Run(b.ListenTcpAsync(80));
        var accept = listener.AcceptAsync();
        TcpConnection client = network.Run(a.ConnectTcpAsync("10.0.0.2:80"));
        TcpConnection server = network.Run(accept);
        network.Run(client.SendAsync("bye"u8.ToArray()));
        network.Run(client.ShutdownWriteAsync());

        // Started without the test framework's synchronization context, so the async enumerator's awaits resume in virtual time.
        var chunks = network.Run(() => server.ReadAllAsync().Select(chunk => chunk.Length).ToListAsync().AsTask());
        Assert.Equal(3, chunks.Sum());
        Assert.DoesNotContain(0, chunks); // an empty chunk is not the end: the end is no chunk
        Assert.Null(network.Run(server.ReceiveAsync()));
    }

    // ---- DisposeAsync -------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task DisposeAsync_completes_after_the_teardown_and_the_end_of_the_engine_thread()
    {
        var stack = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
        UdpSocket socket = await stack.BindUdpAsync(7);
        Task<Datagram> waiting = socket.ReceiveAsync();
        var engineThread = new TaskCompletionSource<Thread>();
        stack.Scheduler.Schedule(() => engineThread.SetResult(Thread.CurrentThread));
        Thread thread = await engineThread.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await stack.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        var failed = await Assert.ThrowsAsync<NetstackException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(NetstackErrorKind.StackDisposed, failed.Kind);
        Assert.False(thread.IsAlive);
        await stack.DisposeAsync(); // twice is harmless
    }

    [Fact]
    public void DisposeAsync_from_a_reply_handler_completes_when_that_pass_ends()
    {
        var scheduler = new TestScheduler();
        var stack = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, scheduler);
        Task? disposing = null;
        using var bind = stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("0.0.0.0:9"))).Subscribe(_ => disposing = stack.DisposeAsync().AsTask());
        scheduler.AdvanceBy(1);
        Assert.NotNull(disposing);
        Assert.True(((IAsyncResult)disposing).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "DisposeAsync did not complete");
        Assert.True(disposing.IsCompletedSuccessfully);
        Assert.Equal(NetstackErrorKind.StackDisposed,
            Assert.IsType<Reply.Error>(scheduler.Await(stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("0.0.0.0:10"))))).Detail.Kind);
    }

    // ---- Sync code ----------------------------------------------------------------------------------------------------------
    // Blocking on tasks is what these tests are about (xUnit1031 warns against it in tests in general).
#pragma warning disable xUnit1031

    [Fact]
    public void Blocking_calls_from_an_ordinary_thread_work()
    {
        using var pair = new RealTimeStackPair();
        // Execute(...).Wait(): the command channel, synchronously.
        var bound = Assert.IsType<Reply.Bound>(pair.Server.Execute(new Command.Udp.Bind(NetEndpoint.Parse("0.0.0.0:7"))).Wait());
        Assert.Equal(7, bound.Local.Port);

        // A Stream read and written synchronously, against an echo server.
        TcpConnectionListener listener = pair.Server.ListenTcpAsync(7).Result;
        using var echo = listener.Accepted.Subscribe(connection => connection.Received
            .Select(chunk => Observable.FromAsync(token => connection.SendAsync(chunk, token))).Concat().Subscribe(_ => { }, _ => { }));
        using Stream stream = pair.Client.ConnectTcpAsync("10.0.0.2:7").Result.AsStream();
        stream.Write("blocking"u8);
        var buffer = new byte[8];
        int read = 0;
        while (read < buffer.Length) read += stream.Read(buffer, read, buffer.Length - read);
        Assert.Equal("blocking"u8.ToArray(), buffer);
    }

    [Fact]
    public async Task A_blocking_read_in_a_reply_handler_throws_at_once()
    {
        using var pair = new RealTimeStackPair();
        await using var listener = await pair.Server.ListenTcpAsync(7);
        TcpConnection client = await pair.Client.ConnectTcpAsync("10.0.0.2:7");
        using Stream stream = client.AsStream();

        var caught = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var handler = pair.Client.Execute(new Command.TcpStream.GetInfo(client.Handle)).Subscribe(reply =>
        {
            try { int read = stream.Read(new byte[1], 0, 1); caught.SetResult(null); }
            catch (Exception e) { caught.SetResult(e); }
        });
        Exception? error = await caught.Task.WaitAsync(RealTimeStackPair.Timeout);

        Assert.Contains("engine thread", Assert.IsType<InvalidOperationException>(error).Message);
    }

    [Fact]
    public async Task A_blocking_write_in_an_inline_continuation_or_on_the_engine_event_loop_throws()
    {
        var inline = new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")], RunContinuationsInline = true };
        await using var a = new Netstack(inline);
        await using var b = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
        var (left, right) = PipeDevice.CreatePair(1500);
        a.Attach(left);
        b.Attach(right);
        await using var listener = await b.ListenTcpAsync(7);
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = await a.ConnectTcpAsync("10.0.0.2:7");
        TcpConnection server = await accept.WaitAsync(TimeSpan.FromSeconds(10));
        Stream stream = client.AsStream();

        // The read waits for data; when b's byte arrives, the continuation runs inline, inside a's pass.
        async Task<Exception?> ReadThenWriteBlocking()
        {
            await client.ReadAsync(new byte[1]).ConfigureAwait(false);
            try { stream.Write([1], 0, 1); return null; }
            catch (Exception e) { return e; }
        }
        Task<Exception?> continuation = ReadThenWriteBlocking();
        await server.SendAsync(new byte[] { 42 });
        Assert.IsType<InvalidOperationException>(await continuation.WaitAsync(TimeSpan.FromSeconds(10)));

        // The event-loop thread the stack owns, outside any pass: blocking there stalls the stack's timers, so it throws too.
        var onLoop = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Scheduler.Schedule(() =>
        {
            try { stream.Write([1], 0, 1); onLoop.SetResult(null); }
            catch (Exception e) { onLoop.SetResult(e); }
        });
        Assert.IsType<InvalidOperationException>(await onLoop.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await Task.Run(() => stream.Write([1], 0, 1)); // from a pool thread it works
    }

#pragma warning restore xUnit1031

    // ---- DNS ----------------------------------------------------------------------------------------------------------------

    [Fact]
    public void ConnectTcpAsync_resolves_host_names_with_the_stacks_DNS_servers()
    {
        // 10.0.0.3 is nobody: the resolver gives it its timeout, then asks 10.0.0.2, a DNS server on stack b's UDP.
        var (s, network, a, b) = Network(new NetstackOptions { DnsServers = [NetAddress.Parse("10.0.0.3"), IPAddress.Parse("10.0.0.2")] });
        using var _ = network;
        var dns = network.Run(b.BindUdpAsync(53));
        var asked = new List<long>();
        using var server = dns.Received.Subscribe(query =>
        {
            asked.Add(s.Clock);
            dns.SendAsync(ApiTests.Answer(query.Data.Span), query.Source);
        });
        var listener = network.Run(b.ListenTcpAsync(80));
        var accept = listener.AcceptAsync();

        long start = s.Clock;
        TcpConnection client = network.Run(a.ConnectTcpAsync("web.test:80"));
        Assert.Equal(NetEndpoint.Parse("10.0.0.2:80"), client.Remote);
        Assert.Equal(client.Local, network.Run(accept).Remote);
        // A then AAAA, each asked of b only after the silent server's 2 s timeout.
        Assert.Equal(2, asked.Count);
        Assert.True(TimeSpan.FromTicks(asked[0] - start) >= TimeSpan.FromSeconds(2));
        Assert.True(TimeSpan.FromTicks(asked[1] - asked[0]) >= TimeSpan.FromSeconds(2));
        var resolver = Assert.IsType<DnsNameResolver>(a.NameResolver);
        Assert.Equal([NetEndpoint.Parse("10.0.0.3:53"), NetEndpoint.Parse("10.0.0.2:53")], resolver.Servers);

        // Without DNS servers a name is an error that says what to do; literals need none.
        Assert.Null(b.NameResolver);
        var error = Assert.Throws<ArgumentException>(() => network.Run(b.ConnectTcpAsync("web.test:80")));
        Assert.Contains("DnsServers", error.Message);
        Assert.Throws<ArgumentException>(() => { Task<TcpConnection> noPort = b.ConnectTcpAsync("web.test"); });
    }
}
