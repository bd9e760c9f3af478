using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Security.Cryptography;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Testing;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>
/// Overload as ordinary clients make it: bursts of connections, each with a read and a write outstanding, on default
/// options, and a command queue pushed past its hard limit. Nothing may be refused in ordinary use, and nothing may die of a
/// refusal: listener streams and accept loops keep serving, every connection ends and leaves the socket table.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class OverloadTests
{
    /// <summary>Fills the command queue of <paramref name="stack"/> to its hard limit with harmless commands (answered InvalidHandle).</summary>
    private static void FloodCommandQueue(Netstack stack, List<Reply> replies)
    {
        for (int i = 0; i < stack.Options.CommandQueueLimit; i++)
            stack.Execute(new Command.TcpStream.GetInfo(default)).Subscribe(replies.Add);
    }

    [Fact]
    public void A_listener_stream_outlives_a_refused_accept_and_serves_the_next_connection()
    {
        using var pair = new StackPair(configure: o => o with { CommandQueueCapacity = 1, CommandQueueLimit = 4 });
        var s = pair.Scheduler;
        var listener = s.Await(pair.B.ListenTcpAsync(80));
        var flood = new List<Reply>();
        var accepted = new List<TcpConnection>();
        Exception? failure = null;
        bool completed = false;
        // On the first connection the handler fills the queue (on the engine's thread), so the stream's next accept is refused.
        using var subscription = listener.Accepted.Subscribe(connection =>
        {
            accepted.Add(connection);
            if (accepted.Count == 1) FloodCommandQueue(pair.B, flood);
        }, e => failure = e, () => completed = true);

        for (int i = 0; i < 2; i++)
        {
            s.Await(pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80)));
            Assert.True(s.RunUntil(() => accepted.Count == i + 1 || failure is not null, TimeSpan.FromSeconds(5)), $"connection {i + 1} not accepted");
        }

        Assert.Null(failure);
        Assert.False(completed);
        Assert.True(pair.B.GetStats().CommandsRefused >= 1, "the flood should have pushed the accept past the hard limit");
        Assert.Equal(2, accepted.Count);
    }

    [Fact]
    public void Accept_all_async_waits_out_a_refused_accept_instead_of_throwing()
    {
        using var pair = new StackPair(configure: o => o with { CommandQueueCapacity = 1, CommandQueueLimit = 4, RunContinuationsInline = true });
        var s = pair.Scheduler;
        var listener = s.Await(pair.B.ListenTcpAsync(80));
        var flood = new List<Reply>();
        int accepted = 0;
        async Task AcceptTwoAsync()
        {
            await foreach (TcpConnection _ in listener.AcceptAllAsync())
            {
                // Inline continuations: this runs on the engine's thread, so the loop's next accept meets a full queue.
                if (++accepted == 1) FloodCommandQueue(pair.B, flood);
                if (accepted == 2) return;
            }
        }
        Task loop = s.StartInVirtualTime(AcceptTwoAsync);
        s.Await(pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80)));
        s.Await(pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80)));
        s.Await(loop, TimeSpan.FromSeconds(5));
        Assert.Equal(2, accepted);
        Assert.True(pair.B.GetStats().CommandsRefused >= 1);
    }

    [Fact]
    public void Closes_are_never_refused_so_a_failed_handler_cannot_leave_its_connection_open()
    {
        using var pair = new StackPair(configure: o => o with { CommandQueueCapacity = 1, CommandQueueLimit = 4 });
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp();
        int baseline = pair.B.SocketCount;
        FloodCommandQueue(pair.B, []);
        Task abort = server.AbortAsync(); // past the hard limit, and still admitted
        s.Await(abort);
        Assert.Equal(baseline - 1, pair.B.SocketCount);
        var reset = Assert.Throws<NetstackException>(() => s.Await(client.ReadAsync(new byte[1]).AsTask()));
        Assert.Equal(NetstackErrorKind.ConnectionReset, reset.Kind);
    }

    /// <summary>
    /// The asyncio echo load of the issue, in virtual time through the friendly API: 2,000 clients at once, each connecting,
    /// writing 10 KB, half-closing and reading the echo, against the README's Rx echo server — with default options.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Two_thousand_concurrent_echo_clients_on_default_options_all_get_their_bytes_back(bool v6)
    {
        const int Clients = 2000, Size = 10_000;
        var s = new TestScheduler();
        using var network = new VirtualNetwork(s);
        var options = new NetstackOptions { RunContinuationsInline = true };
        Netstack a = network.AddStack("a", options with { Addresses = [InterfaceAddress.Parse("10.0.0.1/24"), InterfaceAddress.Parse("fd00::1/64")] });
        Netstack b = network.AddStack("b", options with { Addresses = [InterfaceAddress.Parse("10.0.0.2/24"), InterfaceAddress.Parse("fd00::2/64")] });
        var listener = network.Run(b.ListenTcpAsync(7, v6, backlog: Clients));
        int served = 0;
        // Received on the engine (ImmediateScheduler) and VirtualTime.FromAsync, not Observable.FromAsync (Rx's delivers the
        // task's end from the thread pool): the whole pipeline, its counter included, stays on virtual time.
        using var echo = listener.Accepted
            .SelectMany(connection => connection.ReceivedOn(ImmediateScheduler.Instance)
                .Select(chunk => VirtualTime.FromAsync(token => connection.SendAsync(chunk, token)))
                .Concat()
                .Finally(() => { served++; _ = connection.CloseAsync(); }))
            .Subscribe();
        NetEndpoint server = NetEndpoint.Parse(v6 ? "[fd00::2]:7" : "10.0.0.2:7");
        int baselineA = a.SocketCount, baselineB = b.SocketCount;

        async Task<bool> ClientAsync(int i)
        {
            byte[] data = RandomNumberGenerator.GetBytes(Size);
            await using var connection = await a.ConnectTcpAsync(server);
            async Task SendAllAsync()
            {
                await connection.SendAsync(data);
                await connection.ShutdownWriteAsync();
            }
            Task send = SendAllAsync(); // writing and reading at once, as asyncio's client does
            var echoed = new MemoryStream();
            var buffer = new byte[4096];
            int n;
            while ((n = await connection.ReadAsync(buffer)) > 0) echoed.Write(buffer, 0, n);
            await send;
            return echoed.ToArray().AsSpan().SequenceEqual(data);
        }

        Task<bool[]> all = s.StartInVirtualTime(() => Task.WhenAll(Enumerable.Range(0, Clients).Select(ClientAsync)));
        bool[] intact = network.Run(all, TimeSpan.FromMinutes(2));
        Assert.All(intact, Assert.True);
        StatsAssert.TallyMatchesTable(a);
        StatsAssert.TallyMatchesTable(b);
        Assert.True(s.RunUntil(() => served == Clients, TimeSpan.FromSeconds(10)),
            $"{served} of {Clients} server sides ended; B: {string.Join(", ", b.GetStats().ConnectionsByState)}");
        var stats = b.GetStats();
        Assert.Equal((0L, 0L), (stats.CommandsRefused, a.GetStats().CommandsRefused));
        s.AdvanceBy(TimeSpan.FromMinutes(3).Ticks); // TIME-WAIT runs out
        Assert.Equal((baselineA, baselineB), (a.SocketCount, b.SocketCount));
    }
}
