using System.Diagnostics;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli;

/// <summary>
/// <c>bench connect</c>: connections set up and torn down per second, stack A to stack B. Each of P loops connects, closes
/// (the client closes first and keeps TIME-WAIT), while on B each accepted connection's handler reads to the end of stream and
/// closes its side.
/// </summary>
internal static class BenchConnect
{
    /// <summary>
    /// TIME-WAIT entries kept at most during the run: beyond it a closing connection skips TIME-WAIT (as Linux does), which keeps
    /// the 16,384 ephemeral ports from running out within a few seconds at tens of thousands of connections per second.
    /// </summary>
    private const int MaxTimeWait = 4096;

    public static async Task<IReadOnlyList<BenchResult>> RunAsync(BenchOptions o)
    {
        using var net = new DemoNetwork(o.Mtu, checksumOffload: o.Checksums, configure: opt => opt with { MaxTimeWaitConnections = MaxTimeWait });
        await using TcpConnectionListener listener = await net.B.ListenTcpAsync(5400, backlog: 4096);
        using var stop = new CancellationTokenSource();
        var remote = new NetEndpoint(DemoNetwork.B4, 5400);
        long completed = 0, failed = 0;
        var clock = Stopwatch.StartNew();

        // As a server does: each accepted connection gets its own handler (read to the end of stream, close), so accepting
        // never waits for a teardown, and the backlog is Linux's default somaxconn (4096). Acceptors that served connections
        // one at a time from a backlog of 1024 fell behind the connectors on two cores: the listen queue overflowed, and each
        // dropped SYN cost its connector a one-second retry (runs ranged from 11k to 26k connections a second).
        var handlers = new List<Task>();
        async Task ServeAsync(TcpConnection server)
        {
            byte[] buffer = new byte[16];
            try
            {
                while (await server.ReadAsync(buffer) > 0) { }
            }
            catch (Commands.NetstackException) { Interlocked.Increment(ref failed); }
            await server.CloseAsync();
        }

        async Task AcceptLoopAsync()
        {
            for (long i = 0; i < BenchTransfers.MaxIterations; i++)
            {
                TcpConnection server;
                try { server = await listener.AcceptAsync(stop.Token); }
                catch (OperationCanceledException) { return; }
                Task handler = ServeAsync(server);
                lock (handlers)
                {
                    handlers.RemoveAll(t => t.IsCompleted);
                    handlers.Add(handler);
                }
            }
        }

        async Task ConnectLoopAsync()
        {
            for (long i = 0; i < BenchTransfers.MaxIterations && clock.Elapsed < o.Duration; i++)
            {
                try
                {
                    TcpConnection client = await net.A.ConnectTcpAsync(remote).WaitAsync(TimeSpan.FromSeconds(10));
                    await client.CloseAsync();
                    Interlocked.Increment(ref completed);
                }
                catch (Exception e) when (e is Commands.NetstackException or TimeoutException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }

        var acceptors = Enumerable.Range(0, o.Parallel).Select(_ => Task.Run(AcceptLoopAsync)).ToList();
        await Task.WhenAll(Enumerable.Range(0, o.Parallel).Select(_ => Task.Run(ConnectLoopAsync)));
        TimeSpan elapsed = clock.Elapsed;
        Diagnostics.NetstackStats a = net.A.GetStats(), b = net.B.GetStats();
        long passes = a.Passes + b.Passes, onCaller = a.PassesOnCaller + b.PassesOnCaller, wakeups = a.WakeupsArmed + b.WakeupsArmed;
        stop.Cancel();
        await Task.WhenAll(acceptors).WaitAsync(TimeSpan.FromSeconds(10));
        Task[] serving;
        lock (handlers) serving = [.. handlers];
        await Task.WhenAll(serving).WaitAsync(TimeSpan.FromSeconds(10));
        return
        [
            new("connect", "rx-netstack", [("connections_per_s", completed / elapsed.TotalSeconds), ("connections", completed),
                ("failed", failed), ("parallel", o.Parallel), ("seconds", elapsed.TotalSeconds),
                ("passes_per_connection", completed == 0 ? 0 : (double)passes / completed),
                ("passes_on_caller_percent", passes == 0 ? 0 : 100.0 * onCaller / passes),
                ("wakeups_armed_per_connection", completed == 0 ? 0 : (double)wakeups / completed),
                ("retransmissions", a.TcpRetransmissions + b.TcpRetransmissions),
                ("listen_overflows", b.Drops.GetValueOrDefault(Diagnostics.DropReason.TcpListenOverflow))]),
        ];
    }
}
