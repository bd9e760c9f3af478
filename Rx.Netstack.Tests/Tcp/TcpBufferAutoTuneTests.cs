using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Buffer auto-tuning. Send (<see cref="TcpSettings.MaxSendBufferSize"/>): a writer held back by a buffer smaller than the path
/// holds grows it to twice the congestion window, so the data in flight is no longer capped by the buffer. Receive
/// (<see cref="TcpSettings.MaxReceiveBufferSize"/>): the buffer, and with it the window, follows what the reader takes per round
/// trip. Without a limit set, each buffer keeps its size. Over a link with a 10 ms round trip, in virtual time.
/// </summary>
public sealed class TcpBufferAutoTuneTests
{
    private const int Initial = 64 * 1024;
    private const int Limit = 4 << 20;
    private static readonly TimeSpan OneWayDelay = TimeSpan.FromMilliseconds(5);

    /// <summary>Sends <paramref name="length"/> random bytes A → B over a link that delays each frame 5 ms each way, with send
    /// buffers of 64 KiB that may grow to <paramref name="maxSendBuffer"/> and receive buffers of 8 MiB.</summary>
    private static DelayedLinkTransfer Run(int maxSendBuffer, int length) =>
        Run(new TcpSettings { SendBufferSize = Initial, MaxSendBufferSize = maxSendBuffer, ReceiveBufferSize = 8 << 20 }, length);

    /// <summary>The same with receive buffers of 64 KiB that may grow to <paramref name="maxReceiveBuffer"/> and send buffers of
    /// 8 MiB; the reader takes at most <paramref name="readSize"/> bytes per <paramref name="readEvery"/> (null: at once).</summary>
    private static DelayedLinkTransfer RunReceiving(int maxReceiveBuffer, int length, int readSize = 256 * 1024, TimeSpan? readEvery = null) =>
        Run(new TcpSettings { SendBufferSize = 8 << 20, ReceiveBufferSize = Initial, MaxReceiveBufferSize = maxReceiveBuffer }, length,
            readSize, readEvery);

    private static DelayedLinkTransfer Run(TcpSettings settings, int length, int readSize = 256 * 1024, TimeSpan? readEvery = null)
    {
        var delay = new ImpairmentOptions { Delay = OneWayDelay };
        return DelayedLinkTransfer.Run(settings, length, delay, delay, readSize, readEvery);
    }

    [Fact]
    public void A_writer_held_back_by_the_buffer_grows_it_to_twice_the_window_and_the_transfer_is_no_longer_buffer_bound()
    {
        DelayedLinkTransfer fixedSize = Run(maxSendBuffer: 0, length: 16 << 20);
        DelayedLinkTransfer tuned = Run(maxSendBuffer: Limit, length: 16 << 20);

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
        DelayedLinkTransfer small = Run(maxSendBuffer: Limit, length: 48 * 1024);
        Assert.Equal(small.Sent, small.Received);
        Assert.Equal(Initial, small.SenderInfo.SendBufferSize);
    }

    [Fact]
    public void A_reader_that_keeps_up_grows_the_receive_buffer_and_the_window_no_longer_bounds_the_transfer()
    {
        DelayedLinkTransfer fixedSize = RunReceiving(maxReceiveBuffer: 0, length: 16 << 20);
        DelayedLinkTransfer tuned = RunReceiving(maxReceiveBuffer: Limit, length: 16 << 20);

        Assert.Equal(tuned.Sent, tuned.Received);
        Assert.Equal(fixedSize.Sent, fixedSize.Received);
        // A fixed 64 KiB window lets 64 KiB cross per 10 ms round trip: 16 MiB take 2.5 s or more.
        Assert.Equal(Initial, fixedSize.ReceiverInfo.ReceiveBufferSize);
        Assert.True(fixedSize.Took >= TimeSpan.FromSeconds(2.5), $"fixed window took {fixedSize.Took}");
        // Tuned, the buffer grew in powers of two, the window scale chosen at the handshake for the limit let it be advertised,
        // and the transfer took a fraction.
        int grown = tuned.ReceiverInfo.ReceiveBufferSize;
        Assert.InRange(grown, 4 * Initial, Limit);
        Assert.True(int.IsPow2(grown), $"grown to {grown}");
        Assert.True(tuned.SenderInfo.SendWindow > Initial, $"the sender saw a window of {tuned.SenderInfo.SendWindow}");
        Assert.True(tuned.Took * 3 < fixedSize.Took, $"auto-tuned took {tuned.Took}, fixed {fixedSize.Took}");
    }

    [Fact]
    public void A_slow_reader_does_not_grow_the_receive_buffer()
    {
        // 8 KiB per 10 ms round trip: twice that and 16 segments is below 64 KiB, so the buffer stays; the data still arrives.
        DelayedLinkTransfer slow = RunReceiving(maxReceiveBuffer: Limit, length: 1 << 20, readSize: 8 * 1024, readEvery: TimeSpan.FromMilliseconds(10));
        Assert.Equal(slow.Sent, slow.Received);
        Assert.Equal(Initial, slow.ReceiverInfo.ReceiveBufferSize);
    }

    [Theory]
    [InlineData(1024)]                       // below the initial size
    [InlineData(TcpSettings.MaxBufferSize + 1)]
    public void A_limit_below_the_buffer_or_above_the_largest_is_refused(int limit)
    {
        var send = new TcpSettings { SendBufferSize = Initial, MaxSendBufferSize = limit };
        Assert.Equal(nameof(TcpSettings.MaxSendBufferSize), Assert.Throws<ArgumentException>(send.Validate).ParamName);
        var receive = new TcpSettings { ReceiveBufferSize = Initial, MaxReceiveBufferSize = limit };
        Assert.Equal(nameof(TcpSettings.MaxReceiveBufferSize), Assert.Throws<ArgumentException>(receive.Validate).ParamName);
    }

    [Fact]
    public void Growing_the_receive_buffer_past_64_KiB_needs_window_scaling()
    {
        var settings = new TcpSettings { EnableWindowScale = false, ReceiveBufferSize = Initial - 1, MaxReceiveBufferSize = Limit };
        Assert.Equal(nameof(TcpSettings.MaxReceiveBufferSize), Assert.Throws<ArgumentException>(settings.Validate).ParamName);
    }
}
