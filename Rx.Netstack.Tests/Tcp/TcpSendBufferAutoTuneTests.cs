using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Send buffer auto-tuning (<see cref="TcpSettings.MaxSendBufferSize"/>): a writer held back by a buffer smaller than the path
/// holds grows it to twice the congestion window, so the data in flight is no longer capped by the buffer; without a limit
/// set, the buffer keeps its size. Over a link with a 10 ms round trip, in virtual time.
/// </summary>
public sealed class TcpSendBufferAutoTuneTests
{
    private const int Initial = 64 * 1024;
    private const int Limit = 4 << 20;
    private static readonly TimeSpan OneWayDelay = TimeSpan.FromMilliseconds(5);

    private sealed record Transfer(TimeSpan Took, TcpConnectionInfo SenderInfo, byte[] Received, byte[] Sent);

    /// <summary>Sends <paramref name="length"/> random bytes A → B over a link that delays each frame 5 ms each way.</summary>
    private static Transfer Run(int maxSendBuffer, int length)
    {
        var scheduler = new TestScheduler();
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)], RunContinuationsInline = true }, scheduler);
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)], RunContinuationsInline = true }, scheduler);
        var (deviceA, deviceB) = PipeDevice.CreatePair(1500);
        var delay = new ImpairmentOptions { Delay = OneWayDelay };
        using var link = new ImpairedLink(deviceA, scheduler, delay, delay, seed: 1);
        a.Attach(link);
        b.Attach(deviceB);
        var settings = new TcpSettings { SendBufferSize = Initial, MaxSendBufferSize = maxSendBuffer, ReceiveBufferSize = 8 << 20 };
        TcpConnectionListener listener = scheduler.Await(b.ListenTcpAsync(80, settings: settings));
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = scheduler.Await(a.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80), settings));
        TcpConnection server = scheduler.Await(accept);

        byte[] data = new byte[length];
        new Random(5).NextBytes(data);
        long start = scheduler.Clock;
        Task send = client.SendAsync(data);
        var received = new MemoryStream(length);
        var buffer = new byte[256 * 1024];
        while (received.Length < length)
        {
            int n = scheduler.Await(server.ReadAsync(buffer).AsTask());
            Assert.True(n > 0, $"end of stream after {received.Length} bytes");
            received.Write(buffer, 0, n);
        }
        scheduler.Await(send);
        var took = TimeSpan.FromTicks(scheduler.Clock - start);
        return new Transfer(took, scheduler.Await(client.GetInfoAsync()), received.ToArray(), data);
    }

    [Fact]
    public void A_writer_held_back_by_the_buffer_grows_it_to_twice_the_window_and_the_transfer_is_no_longer_buffer_bound()
    {
        Transfer fixedSize = Run(maxSendBuffer: 0, length: 16 << 20);
        Transfer tuned = Run(maxSendBuffer: Limit, length: 16 << 20);

        Assert.Equal(tuned.Sent, tuned.Received);
        Assert.Equal(fixedSize.Sent, fixedSize.Received);
        // Without auto-tuning the buffer stays at 64 KiB: at most 64 KiB per 10 ms round trip, so 16 MiB take 2.5 s or more.
        Assert.Equal(Initial, fixedSize.SenderInfo.SendBufferSize);
        Assert.True(fixedSize.Took >= TimeSpan.FromSeconds(2.5), $"fixed buffer took {fixedSize.Took}");
        // With it, the buffer grew in powers of two with the window, within the limit, and the transfer took a fraction (here
        // the congestion window, still in slow start, is what limits it).
        int grown = tuned.SenderInfo.SendBufferSize;
        Assert.InRange(grown, 2 * Initial, Limit);
        Assert.True(int.IsPow2(grown), $"grown to {grown}");
        Assert.True(tuned.Took * 3 < fixedSize.Took, $"auto-tuned took {tuned.Took}, fixed {fixedSize.Took}");
    }

    [Fact]
    public void A_writer_that_is_never_held_back_leaves_the_buffer_as_it_is()
    {
        // 48 KiB fit in the 64 KiB buffer at once: the writer never waits, so there is nothing to tune.
        Transfer small = Run(maxSendBuffer: Limit, length: 48 * 1024);
        Assert.Equal(small.Sent, small.Received);
        Assert.Equal(Initial, small.SenderInfo.SendBufferSize);
    }

    [Theory]
    [InlineData(1024)]                       // below SendBufferSize
    [InlineData(TcpSettings.MaxBufferSize + 1)]
    public void A_limit_below_the_buffer_or_above_the_largest_is_refused(int limit)
    {
        var settings = new TcpSettings { SendBufferSize = Initial, MaxSendBufferSize = limit };
        var e = Assert.Throws<ArgumentException>(settings.Validate);
        Assert.Equal(nameof(TcpSettings.MaxSendBufferSize), e.ParamName);
    }
}
