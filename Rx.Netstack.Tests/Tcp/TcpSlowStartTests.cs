using Rx.Netstack.Devices;
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

    /// <summary>
    /// Sends <paramref name="length"/> random bytes A → B over a link that delays each frame 5 ms each way (10 ms RTT) and
    /// carries A's frames at <paramref name="bandwidth"/> bytes per second (0: unlimited) behind a queue without limit.
    /// </summary>
    private static DelayedLinkTransfer Run(bool hyStart, int length, long bandwidth = 0, bool timestamps = true) =>
        DelayedLinkTransfer.Run(
            new TcpSettings
            {
                SendBufferSize = 64 * 1024, MaxSendBufferSize = 4 << 20, ReceiveBufferSize = 8 << 20, EnableHyStart = hyStart,
                EnableTimestamps = timestamps,
            },
            length,
            outbound: new ImpairmentOptions { Delay = OneWayDelay, BandwidthBytesPerSecond = bandwidth },
            inbound: new ImpairmentOptions { Delay = OneWayDelay });

    [Fact]
    public void Stretch_acks_from_a_coalescing_receiver_do_not_hold_slow_start_back()
    {
        // The receiver's coalescing ACKs each burst once. Virtual time: 125 ms with HyStart++ (cwnd 7.1 MB at the end, still
        // in slow start: the link has no bottleneck), 666 ms without it (cwnd 0.83 MB), the slow start before HyStart++
        // (L = 2·SMSS per ACK: about 4 % growth a round trip with ~45 segments an ACK).
        DelayedLinkTransfer off = Run(hyStart: false, length: 16 << 20);
        DelayedLinkTransfer on = Run(hyStart: true, length: 16 << 20);
        Assert.Equal(on.Sent, on.Received);
        Assert.Equal(off.Sent, off.Received);
        Assert.Equal(0, on.SenderInfo.SegmentsRetransmitted);
        Assert.True(off.Took >= TimeSpan.FromMilliseconds(500), $"without HyStart++ took {off.Took}");
        Assert.True(on.Took <= TimeSpan.FromMilliseconds(200), $"with HyStart++ took {on.Took}");
        Assert.True(on.SenderInfo.CongestionWindow > 4 * off.SenderInfo.CongestionWindow,
            $"cwnd {on.SenderInfo.CongestionWindow} with, {off.SenderInfo.CongestionWindow} without");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // as with a Windows peer: no timestamps, so the samples come from the send times RACK keeps
    public void A_round_trip_time_rising_behind_a_bottleneck_ends_slow_start_before_any_loss(bool timestamps)
    {
        // 12.5 MB/s (100 Mbit/s) with a 10 ms RTT: 125 KB in flight fill the path, the rest queues and the RTT rises. The
        // queue has no limit, so nothing is lost either way. Virtual time: without HyStart++ slow start never ends, cwnd
        // reaches 5.6 MB and SRTT 342 ms; with it slow start ends at 1.17 MB (RTT rise, then five rounds of CSS) and SRTT is
        // 97 ms at the end. Both take 724 ms, bound by the link. Without timestamps HyStart++ ends it at 1.19 MB (before the
        // samples RACK's send times give it, never: 5.6 MB as without HyStart++).
        DelayedLinkTransfer off = Run(hyStart: false, length: 8 << 20, bandwidth: 12_500_000, timestamps);
        DelayedLinkTransfer on = Run(hyStart: true, length: 8 << 20, bandwidth: 12_500_000, timestamps);
        Assert.Equal(on.Sent, on.Received);
        Assert.Equal(0, on.SenderInfo.SegmentsRetransmitted);
        Assert.Equal(0, off.SenderInfo.SegmentsRetransmitted);
        Assert.Equal(int.MaxValue, off.SenderInfo.SlowStartThreshold);
        Assert.True(on.SenderInfo.SlowStartThreshold < 2 << 20, $"ssthresh {on.SenderInfo.SlowStartThreshold}");
        Assert.True(on.SenderInfo.CongestionWindow * 3 < off.SenderInfo.CongestionWindow,
            $"cwnd {on.SenderInfo.CongestionWindow} with, {off.SenderInfo.CongestionWindow} without");
        // Without timestamps SRTT follows one timed segment a round trip, and the last was timed before the queue peaked.
        if (timestamps)
        {
            Assert.True(on.SenderInfo.SmoothedRtt * 2 < off.SenderInfo.SmoothedRtt,
                $"SRTT {on.SenderInfo.SmoothedRtt} with, {off.SenderInfo.SmoothedRtt} without");
        }
    }
}
