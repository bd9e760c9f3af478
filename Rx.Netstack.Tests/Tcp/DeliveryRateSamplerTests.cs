using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation §3) on hand-made send and ACK times: the rate is the
/// data delivered over the longer of the send and ACK phases, SACKed data counts once, and app-limited periods are marked.
/// </summary>
public sealed class DeliveryRateSamplerTests
{
    private const int Mss = 1000;
    private static readonly SeqNumber Isn = new(5000);
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(1).Ticks);
    private static Instant At(double ms) => T0 + TimeSpan.FromMilliseconds(ms);
    private static SeqNumber Seg(int i) => Isn + i * Mss;

    [Fact]
    public void Segments_sent_one_per_ms_and_acked_one_per_ms_give_one_segment_per_ms()
    {
        var s = new DeliveryRateSampler();
        for (int i = 0; i < 20; i++) s.OnSent(Seg(i), Seg(i + 1), At(i), i * (long)Mss);
        RateSample last = default;
        for (int i = 0; i < 20; i++)
        {
            s.BeginAck();
            s.OnCumulativeAck(Seg(i + 1), At(50 + i));
            last = s.EndAck(At(50 + i), null);
        }
        // The last segment: sent at 19 ms with nothing yet delivered, ACKed at 69 ms; 20 segments over 69 ms (the ACK phase
        // from the connection start, since delivered_time was the start).
        Assert.True(last.IsValid);
        Assert.Equal(20 * Mss, last.Delivered);
        Assert.Equal(TimeSpan.FromMilliseconds(69), last.Interval);

        // A second flight, sent while ACKs come back one per ms: its samples measure one segment per ms.
        for (int i = 20; i < 40; i++) s.OnSent(Seg(i), Seg(i + 1), At(100 + i - 20), 1);
        for (int i = 20; i < 40; i++)
        {
            s.BeginAck();
            s.OnCumulativeAck(Seg(i + 1), At(150 + i - 20));
            last = s.EndAck(At(150 + i - 20), null);
        }
        // Sent at 119 ms, when 20 segments were delivered (the last at 69 ms); ACKed at 169 ms with 40 delivered: 20 segments
        // over 100 ms of ACK phase (the send phase, 100 → 119, is shorter).
        Assert.Equal(20 * Mss, last.Delivered);
        Assert.Equal(TimeSpan.FromMilliseconds(100), last.Interval);
        Assert.Equal(200_000, last.BytesPerSecond, 1);
        Assert.Equal(40 * Mss, s.Delivered);
        Assert.Equal(0, s.Count);
    }

    [Fact]
    public void A_sacked_segment_is_delivered_once_and_the_cumulative_ack_over_it_adds_only_the_hole()
    {
        var s = new DeliveryRateSampler();
        for (int i = 0; i < 4; i++) s.OnSent(Seg(i), Seg(i + 1), At(i), i * (long)Mss);
        s.BeginAck();
        s.OnSackBlock(new SackBlock(Seg(1), Seg(3)), At(40)); // segment 0 lost, 1 and 2 arrived
        RateSample sacked = s.EndAck(At(40), null);
        Assert.Equal(2 * Mss, sacked.NewlyDelivered);
        Assert.True(sacked.IsValid);
        Assert.Equal(2 * Mss, s.Delivered);

        s.OnSent(Seg(0), Seg(1), At(41), 3 * Mss); // the repair
        s.BeginAck();
        s.OnCumulativeAck(Seg(3), At(80));
        RateSample repaired = s.EndAck(At(80), null);
        Assert.Equal(Mss, repaired.NewlyDelivered); // 1 and 2 are not counted again
        Assert.Equal(3 * Mss, s.Delivered);
        // The sample comes from the retransmission (sent last, with 2 segments delivered): 1 segment over 40 ms of ACK phase;
        // a resent segment gives no RTT (Karn).
        Assert.Equal(Mss, repaired.Delivered);
        Assert.Equal(TimeSpan.FromMilliseconds(40), repaired.Interval);
        Assert.True(repaired.Rtt < TimeSpan.Zero);
    }

    [Fact]
    public void Samples_of_data_sent_while_app_limited_are_marked_until_it_is_delivered()
    {
        var s = new DeliveryRateSampler();
        s.OnSent(Seg(0), Seg(1), At(0), 0);
        s.MarkAppLimited(Mss); // nothing more to send, one segment in flight
        Assert.True(s.IsAppLimited);
        s.OnSent(Seg(1), Seg(2), At(5), Mss);
        s.BeginAck();
        s.OnCumulativeAck(Seg(1), At(40));
        Assert.False(s.EndAck(At(40), null).IsAppLimited); // sent before the mark
        Assert.True(s.IsAppLimited); // the period lasts until delivery passes what was in flight at the mark
        s.BeginAck();
        s.OnCumulativeAck(Seg(2), At(45));
        Assert.True(s.EndAck(At(45), null).IsAppLimited); // sent during the app-limited period
        Assert.False(s.IsAppLimited); // and now past it
    }

    [Fact]
    public void A_sample_shorter_than_the_min_rtt_is_not_valid()
    {
        var s = new DeliveryRateSampler();
        s.OnSent(Seg(0), Seg(1), At(0), 0);
        s.BeginAck();
        s.OnCumulativeAck(Seg(1), At(10));
        RateSample rs = s.EndAck(At(10), TimeSpan.FromMilliseconds(20));
        Assert.False(rs.IsValid);
        Assert.Equal(Mss, rs.NewlyDelivered);
        Assert.Equal(TimeSpan.FromMilliseconds(10), rs.Rtt);
    }
}
