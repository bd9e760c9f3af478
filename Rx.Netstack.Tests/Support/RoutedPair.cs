using Microsoft.Reactive.Testing;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.Support;

/// <summary>
/// Two stacks on one <see cref="TestScheduler"/> with an <see cref="MtuRouter"/> between them: A is 10.0.0.1 / fd00::1, B is
/// 10.0.0.2 / fd00::2, each on a link of <c>linkMtu</c>, the hop between them smaller. Continuations run inline (virtual time).
/// </summary>
internal sealed class RoutedPair : IDisposable
{
    public RoutedPair(int hopMtu, bool sendsIcmp = true, int linkMtu = 1500)
    {
        Scheduler = new TestScheduler();
        Router = new MtuRouter(linkMtu, hopMtu, sendsIcmp);
        A = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24), new(StackPair.A6, 64)], RunContinuationsInline = true, RandomSeed = 1 }, Scheduler);
        B = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24), new(StackPair.B6, 64)], RunContinuationsInline = true, RandomSeed = 2 }, Scheduler);
        A.Attach(Router.DeviceA);
        B.Attach(Router.DeviceB);
    }

    public TestScheduler Scheduler { get; }
    public MtuRouter Router { get; }
    public Netstack A { get; }
    public Netstack B { get; }

    /// <summary>Settings with buffers large enough for a bulk transfer to keep several segments in flight.</summary>
    public static readonly TcpSettings Bulk = new() { SendBufferSize = 64 * 1024, ReceiveBufferSize = 64 * 1024 };

    /// <summary>A TCP connection A → B (B listens on <paramref name="port"/>), in virtual time.</summary>
    public (TcpConnection Client, TcpConnection Server) ConnectTcp(ushort port, bool v6, TcpSettings? settings = null)
    {
        TcpConnectionListener listener = Scheduler.Await(B.ListenTcpAsync(port, ipv6: v6, settings: settings ?? Bulk));
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = Scheduler.Await(A.ConnectTcpAsync(new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, port), settings ?? Bulk));
        return (client, Scheduler.Await(accept));
    }

    /// <summary>Sends <paramref name="count"/> patterned bytes each way at once and checks both arrive byte for byte.</summary>
    public void BulkBothWays(TcpConnection client, TcpConnection server, int count, int seed)
    {
        byte[] up = Pattern(count, seed), down = Pattern(count, seed + 1);
        Task upSent = client.SendAsync(up), downSent = server.SendAsync(down);
        Assert.Equal(up, ReadExactly(server, count));
        Assert.Equal(down, ReadExactly(client, count));
        Assert.True(Scheduler.RunUntil(() => upSent.IsCompleted && downSent.IsCompleted));
        upSent.GetAwaiter().GetResult();
        downSent.GetAwaiter().GetResult();
    }

    /// <summary>Reads until <paramref name="count"/> bytes came (in virtual time, at most two minutes of it).</summary>
    public byte[] ReadExactly(TcpConnection connection, int count)
    {
        var received = new MemoryStream(count);
        var buffer = new byte[65536];
        while (received.Length < count)
        {
            int n = Scheduler.Await(connection.ReadAsync(buffer).AsTask(), TimeSpan.FromMinutes(2));
            if (n == 0) throw new InvalidOperationException($"end of stream after {received.Length} of {count} bytes");
            received.Write(buffer, 0, n);
        }
        return received.ToArray();
    }

    /// <summary>Runs virtual time until <paramref name="task"/> completes, and rethrows its failure.</summary>
    public void Wait(Task task)
    {
        Assert.True(Scheduler.RunUntil(() => task.IsCompleted), "the task did not complete in virtual time");
        task.GetAwaiter().GetResult();
    }

    public static byte[] Pattern(int count, int seed)
    {
        byte[] data = new byte[count];
        new Random(seed).NextBytes(data);
        return data;
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        Router.Dispose();
    }
}
