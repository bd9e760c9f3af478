using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class NewRenoTests
{
    private const int Mss = 1460;
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(50);
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(10).Ticks);

    [Theory]
    [InlineData(1460, 14600)]
    [InlineData(536, 5360)]
    [InlineData(1000, 10000)]
    [InlineData(9000, 18000)]
    [InlineData(4000, 14600)]
    public void The_initial_window_follows_rfc_6928(int mss, int expected)
    {
        var cc = new NewReno(mss);
        Assert.Equal(expected, cc.CongestionWindow);
        Assert.Equal(int.MaxValue, cc.SlowStartThreshold);
        Assert.False(cc.InRecovery);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Slow_start_doubles_every_round_trip(int segmentsPerAck)
    {
        var cc = new NewReno(Mss);
        var clock = new AckClock(cc, Mss, Rtt, T0);
        int expected = 10 * Mss;
        for (int round = 0; round < 6; round++)
        {
            clock.Round(segmentsPerAck);
            expected *= 2;
            Assert.Equal(expected, cc.CongestionWindow);
        }
    }

    [Fact]
    public void Slow_start_grows_by_at_most_two_segments_per_ack()
    {
        var cc = new NewReno(Mss);
        cc.OnAck(T0, 8 * Mss, cc.CongestionWindow, Rtt); // a stretch ACK
        Assert.Equal(12 * Mss, cc.CongestionWindow);
        cc.OnAck(T0, 500, cc.CongestionWindow, Rtt);
        Assert.Equal(12 * Mss + 500, cc.CongestionWindow);
    }

    [Fact]
    public void An_application_limited_sender_does_not_grow_the_window()
    {
        var cc = new NewReno(Mss);
        cc.OnAck(T0, Mss, 4 * Mss, Rtt); // 4 of 10 segments in flight
        Assert.Equal(10 * Mss, cc.CongestionWindow);
        cc.OnAck(T0, Mss, 5 * Mss, Rtt); // half the window counts as in use
        Assert.Equal(11 * Mss, cc.CongestionWindow);
    }

    [Fact]
    public void Fast_recovery_halves_the_flight_inflates_and_deflates()
    {
        var cc = new NewReno(Mss);
        cc.OnEnterRecovery(T0, 20 * Mss);
        Assert.True(cc.InRecovery);
        Assert.Equal(10 * Mss, cc.SlowStartThreshold);
        Assert.Equal(13 * Mss, cc.CongestionWindow);
        cc.OnDuplicateAck();
        cc.OnDuplicateAck();
        Assert.Equal(15 * Mss, cc.CongestionWindow);
        cc.OnPartialAck(2 * Mss); // deflate by 2, give one back
        Assert.Equal(14 * Mss, cc.CongestionWindow);
        cc.OnPartialAck(500); // less than one SMSS: no add-back
        Assert.Equal(14 * Mss - 500, cc.CongestionWindow);
        cc.OnAck(T0, 10 * Mss, 20 * Mss, Rtt); // ignored during recovery
        Assert.Equal(14 * Mss - 500, cc.CongestionWindow);
        cc.OnExitRecovery(T0);
        Assert.False(cc.InRecovery);
        Assert.Equal(10 * Mss, cc.CongestionWindow);
        cc.OnDuplicateAck(); // no longer in recovery
        Assert.Equal(10 * Mss, cc.CongestionWindow);
    }

    [Fact]
    public void Ssthresh_is_at_least_two_segments()
    {
        var cc = new NewReno(Mss);
        cc.OnEnterRecovery(T0, 3 * Mss);
        Assert.Equal(2 * Mss, cc.SlowStartThreshold);
        Assert.Equal(5 * Mss, cc.CongestionWindow);
    }

    [Fact]
    public void Congestion_avoidance_adds_one_segment_per_round_trip()
    {
        var cc = new NewReno(Mss);
        cc.OnEnterRecovery(T0, 40 * Mss);
        cc.OnExitRecovery(T0);
        Assert.Equal(20 * Mss, cc.CongestionWindow);
        var clock = new AckClock(cc, Mss, Rtt, T0);
        for (int round = 1; round <= 10; round++)
        {
            clock.Round();
            Assert.Equal((20 + round) * Mss, cc.CongestionWindow);
        }
        // Delayed ACKs do not slow it down: bytes are counted, not ACKs.
        for (int round = 1; round <= 10; round++)
        {
            clock.Round(segmentsPerAck: 2);
            Assert.Equal((30 + round) * Mss, cc.CongestionWindow);
        }
    }

    [Fact]
    public void A_timeout_collapses_to_one_segment_and_slow_starts_to_ssthresh()
    {
        var cc = new NewReno(Mss);
        cc.OnRetransmissionTimeout(T0, 40 * Mss);
        Assert.Equal(Mss, cc.CongestionWindow);
        Assert.Equal(20 * Mss, cc.SlowStartThreshold);

        // After a timeout slow start counts at most one segment per ACK (RFC 3465 §2.3), even for delayed ACKs.
        cc.OnAck(T0, 2 * Mss, cc.CongestionWindow, Rtt);
        Assert.Equal(2 * Mss, cc.CongestionWindow);

        var clock = new AckClock(cc, Mss, Rtt, T0);
        int previous = cc.CongestionWindow;
        while (cc.CongestionWindow < cc.SlowStartThreshold)
        {
            clock.Ack();
            Assert.True(cc.CongestionWindow <= 20 * Mss);
            Assert.True(cc.CongestionWindow > previous);
            previous = cc.CongestionWindow;
        }
        Assert.Equal(20 * Mss, cc.CongestionWindow);
        clock.Round();
        Assert.Equal(21 * Mss, cc.CongestionWindow);
    }

    [Fact]
    public void A_repeated_timeout_of_the_same_segment_keeps_ssthresh()
    {
        var cc = new NewReno(Mss);
        cc.OnRetransmissionTimeout(T0, 40 * Mss);
        cc.OnRetransmissionTimeout(T0, Mss); // the retransmission timed out too: flight is one segment now
        Assert.Equal(20 * Mss, cc.SlowStartThreshold);
        Assert.Equal(Mss, cc.CongestionWindow);
        cc.OnAck(T0, Mss, Mss, Rtt); // progress
        cc.OnRetransmissionTimeout(T0, 6 * Mss);
        Assert.Equal(3 * Mss, cc.SlowStartThreshold);
    }

    [Fact]
    public void A_timeout_ends_recovery()
    {
        var cc = new NewReno(Mss);
        cc.OnEnterRecovery(T0, 20 * Mss);
        cc.OnRetransmissionTimeout(T0, 20 * Mss);
        Assert.False(cc.InRecovery);
        Assert.Equal(Mss, cc.CongestionWindow);
    }

    [Fact]
    public void A_new_mss_before_any_data_resets_the_initial_window()
    {
        var cc = new NewReno(536);
        cc.SetMaxSegmentSize(1460);
        Assert.Equal(14600, cc.CongestionWindow);
        cc.OnAck(T0, 1460, 14600, Rtt);
        cc.SetMaxSegmentSize(1000);
        Assert.Equal(14600 + 1460, cc.CongestionWindow);
    }
}
