using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Performance;

/// <summary>
/// Issue 6: an idle established connection with empty buffers holds at most 2 KiB of managed memory — engine socket,
/// control block and the application's TcpConnection, per end (buffers come from a pool when needed and go back when drained).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class IdleConnectionMemoryTests
{
    private const int Connections = 1000;

    [Fact]
    public void An_idle_established_connection_holds_at_most_2_KiB_per_end()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listener = s.Await(pair.B.ListenTcpAsync(80, backlog: Connections));
        // Warm up (JIT, pools, tables grown once) with a connection that then carries data and goes idle like the rest.
        var warm = Open(pair, listener);
        s.Await(warm.Client.SendAsync(new byte[10_000]));
        var sink = new byte[10_000];
        for (int got = 0; got < sink.Length;) got += s.Await(warm.Server.ReadAsync(sink).AsTask());

        long before = GC.GetTotalMemory(forceFullCollection: true);
        var open = new List<(TcpConnection, TcpConnection)>(Connections);
        for (int i = 0; i < Connections; i++) open.Add(Open(pair, listener));
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks); // delayed ACKs out, nothing pending
        long after = GC.GetTotalMemory(forceFullCollection: true);

        double perEnd = (after - before) / (2.0 * Connections);
        Assert.True(perEnd <= 2048, $"{perEnd:N0} bytes per connection end");
        GC.KeepAlive(open);
        GC.KeepAlive(warm);
    }

    private static (TcpConnection Client, TcpConnection Server) Open(StackPair pair, TcpConnectionListener listener)
    {
        var s = pair.Scheduler;
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = s.Await(pair.A.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80)));
        return (client, s.Await(accept));
    }
}
