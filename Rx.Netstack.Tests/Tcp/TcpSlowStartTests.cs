using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Slow start end to end between two of our stacks, in virtual time: with HyStart++ (RFC 9406, the default) the first slow
/// start counts every byte a stretch ACK acknowledges, so it still doubles when the receiver merges bursts and ACKs them
/// once, and it ends on a rising round trip time instead of a loss.
/// </summary>
public sealed class TcpSlowStartTests
{
    private static readonly TimeSpan OneWayDelay = TimeSpan.FromMilliseconds(5);

    private sealed record Transfer(TimeSpan Took, TcpConnectionInfo SenderInfo, byte[] Received, byte[] Sent);

    /// <summary>
    /// Sends <paramref name="length"/> random bytes A → B over a link that delays each frame 5 ms each way (10 ms RTT) and
    /// carries A's frames at <paramref name="bandwidth"/> bytes per second (0: unlimited) behind a queue without limit.
    /// </summary>
    private static Transfer Run(bool hyStart, int length, long bandwidth = 0)
    {
        var scheduler = new TestScheduler();
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)], RunContinuationsInline = true }, scheduler);
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)], RunContinuationsInline = true }, scheduler);
        var (deviceA, deviceB) = PipeDevice.CreatePair(1500);
        var outbound = new ImpairmentOptions { Delay = OneWayDelay, BandwidthBytesPerSecond = bandwidth };
        var inbound = new ImpairmentOptions { Delay = OneWayDelay };
        using var link = new ImpairedLink(deviceA, scheduler, outbound, inbound, seed: 1);
        a.Attach(link);
        b.Attach(deviceB);
        var settings = new TcpSettings
        {
            SendBufferSize = 64 * 1024, MaxSendBufferSize = 4 << 20, ReceiveBufferSize = 8 << 20, EnableHyStart = hyStart,
        };
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
    public void Stretch_acks_from_a_coalescing_receiver_do_not_hold_slow_start_back()
    {
        // The receiver's coalescing ACKs each burst once. Virtual time on this branch: 125 ms with HyStart++ (cwnd 7.1 MB at
        // the end, still in slow start: the link has no bottleneck), 666 ms without it (cwnd 0.83 MB), which is main's slow
        // start (L = 2·SMSS per ACK: about 4 % growth a round trip with ~45 segments an ACK).
        Transfer off = Run(hyStart: false, length: 16 << 20);
        Transfer on = Run(hyStart: true, length: 16 << 20);
        Assert.Equal(on.Sent, on.Received);
        Assert.Equal(off.Sent, off.Received);
        Assert.Equal(0, on.SenderInfo.SegmentsRetransmitted);
        Assert.True(off.Took >= TimeSpan.FromMilliseconds(500), $"without HyStart++ took {off.Took}");
        Assert.True(on.Took <= TimeSpan.FromMilliseconds(200), $"with HyStart++ took {on.Took}");
        Assert.True(on.SenderInfo.CongestionWindow > 4 * off.SenderInfo.CongestionWindow,
            $"cwnd {on.SenderInfo.CongestionWindow} with, {off.SenderInfo.CongestionWindow} without");
    }

    [Fact]
    public void A_round_trip_time_rising_behind_a_bottleneck_ends_slow_start_before_any_loss()
    {
        // 12.5 MB/s (100 Mbit/s) with a 10 ms RTT: 125 KB in flight fill the path, the rest queues and the RTT rises. The
        // queue has no limit, so nothing is lost either way. Virtual time: without HyStart++ slow start never ends, cwnd
        // reaches 5.6 MB and SRTT 342 ms; with it slow start ends at 1.17 MB (RTT rise, then five rounds of CSS) and SRTT is
        // 97 ms at the end. Both take 724 ms, bound by the link.
        Transfer off = Run(hyStart: false, length: 8 << 20, bandwidth: 12_500_000);
        Transfer on = Run(hyStart: true, length: 8 << 20, bandwidth: 12_500_000);
        Assert.Equal(on.Sent, on.Received);
        Assert.Equal(0, on.SenderInfo.SegmentsRetransmitted);
        Assert.Equal(0, off.SenderInfo.SegmentsRetransmitted);
        Assert.Equal(int.MaxValue, off.SenderInfo.SlowStartThreshold);
        Assert.True(on.SenderInfo.SlowStartThreshold < 2 << 20, $"ssthresh {on.SenderInfo.SlowStartThreshold}");
        Assert.True(on.SenderInfo.CongestionWindow * 3 < off.SenderInfo.CongestionWindow,
            $"cwnd {on.SenderInfo.CongestionWindow} with, {off.SenderInfo.CongestionWindow} without");
        Assert.True(on.SenderInfo.SmoothedRtt * 2 < off.SenderInfo.SmoothedRtt,
            $"SRTT {on.SenderInfo.SmoothedRtt} with, {off.SenderInfo.SmoothedRtt} without");
    }
}
