using Microsoft.Reactive.Testing;
using Rx.Netstack;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.Support;

/// <summary>Two stacks joined by a synchronous pipe on one <see cref="TestScheduler"/>: A is 10.0.0.1 / fd00::1, B is 10.0.0.2 / fd00::2,
/// with <see cref="NetstackOptions.RunContinuationsInline"/> (deterministic awaits in virtual time).</summary>
public sealed class StackPair : IDisposable
{
    public static readonly NetAddress A4 = NetAddress.Parse("10.0.0.1"), B4 = NetAddress.Parse("10.0.0.2");
    public static readonly NetAddress A6 = NetAddress.Parse("fd00::1"), B6 = NetAddress.Parse("fd00::2");

    public StackPair(int mtu = 1500, Func<NetstackOptions, NetstackOptions>? configure = null, ChecksumOffload checksumOffload = ChecksumOffload.None,
        bool segmentationOffload = false, LinkMedium medium = LinkMedium.Ip)
    {
        Scheduler = new TestScheduler();
        configure ??= o => o;
        // Everything runs on the test's thread under virtual time, so the async API's continuations run inline too: a task
        // completes within the step of virtual time that answered it, instead of racing the thread pool.
        A = new Netstack(configure(new NetstackOptions { Addresses = [new(A4, 24), new(A6, 64)], RunContinuationsInline = true }), Scheduler);
        B = new Netstack(configure(new NetstackOptions { Addresses = [new(B4, 24), new(B6, 64)], RunContinuationsInline = true }), Scheduler);
        (DeviceA, DeviceB) = PipeDevice.CreatePair(mtu, checksumOffload: checksumOffload, tcpSegmentationOffload: segmentationOffload, medium: medium);
        A.Attach(DeviceA);
        B.Attach(DeviceB);
    }

    public TestScheduler Scheduler { get; }
    public Netstack A { get; }
    public Netstack B { get; }
    public PipeDevice DeviceA { get; }
    public PipeDevice DeviceB { get; }

    /// <summary>A TCP connection A → B: B listens on <paramref name="port"/> and accepts it (in virtual time).</summary>
    public (TcpConnection Client, TcpConnection Server) ConnectTcp(ushort port = 80, bool v6 = false, TcpSettings? settings = null)
    {
        TcpConnectionListener listener = Await(B.ListenTcpAsync(port, ipv6: v6, settings: settings));
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = Await(A.ConnectTcpAsync(new NetEndpoint(v6 ? B6 : B4, port), settings));
        return (client, Await(accept));
    }

    /// <summary>Virtual time until the task completes; stacks configured without inline continuations resume on the pool.</summary>
    private T Await<T>(Task<T> task) =>
        A.Options.RunContinuationsInline && B.Options.RunContinuationsInline ? Scheduler.Await(task) : Scheduler.AwaitOnThePool(task);

    /// <summary>Reads from <paramref name="connection"/> until <paramref name="count"/> bytes came (in virtual time).</summary>
    public byte[] ReadExactly(TcpConnection connection, int count, int bufferSize = 65536)
    {
        var received = new MemoryStream(count);
        var buffer = new byte[bufferSize];
        while (received.Length < count)
        {
            int n = Await(connection.ReadAsync(buffer).AsTask());
            if (n == 0) throw new InvalidOperationException($"end of stream after {received.Length} of {count} bytes");
            received.Write(buffer, 0, n);
        }
        return received.ToArray();
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
