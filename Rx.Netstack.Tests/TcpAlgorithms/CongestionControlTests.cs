using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Tests.TcpAlgorithms;

/// <summary>
/// What NewReno (RFC 5681, RFC 6582, RFC 3465) and CUBIC (RFC 9438) share, as theories over both: the initial window, slow
/// start, the multiplicative decrease with fast-recovery inflation and deflation, the timeout. They differ only in β, the
/// factor of the decrease (RFC 5681 eq. 4: ½; RFC 9438 §4.6: 0.7), written out here rather than read from the implementation.
/// </summary>
public class CongestionControlTests
{
    private const int Mss = 1460;
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(50);
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(10).Ticks);

    private static double Beta(CongestionControlAlgorithm algorithm) => algorithm == CongestionControlAlgorithm.Cubic ? 0.7 : 0.5;

    /// <summary>ssthresh after a loss with <paramref name="segments"/> full segments in flight: β·flight, at least two segments.</summary>
    private static int Decreased(CongestionControlAlgorithm algorithm, int segments) =>
        (int)Math.Max(Math.Round(segments * Beta(algorithm) * Mss), 2 * Mss);

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno, 1460, 14600)]
    [InlineData(CongestionControlAlgorithm.NewReno, 536, 5360)]
    [InlineData(CongestionControlAlgorithm.NewReno, 1000, 10000)]
    [InlineData(CongestionControlAlgorithm.NewReno, 9000, 18000)]
    [InlineData(CongestionControlAlgorithm.NewReno, 4000, 14600)]
    [InlineData(CongestionControlAlgorithm.Cubic, 1460, 14600)]
    [InlineData(CongestionControlAlgorithm.Cubic, 536, 5360)]
    [InlineData(CongestionControlAlgorithm.Cubic, 1000, 10000)]
    [InlineData(CongestionControlAlgorithm.Cubic, 9000, 18000)]
    [InlineData(CongestionControlAlgorithm.Cubic, 4000, 14600)]
    public void The_initial_window_follows_rfc_6928_and_there_is_no_threshold(CongestionControlAlgorithm algorithm, int mss, int expected)
    {
        var cc = CongestionControl.Create(algorithm, mss);
        Assert.Equal(expected, cc.CongestionWindow);
        Assert.Equal(int.MaxValue, cc.SlowStartThreshold);
        Assert.False(cc.InRecovery);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno, 1)]
    [InlineData(CongestionControlAlgorithm.NewReno, 2)]
    [InlineData(CongestionControlAlgorithm.Cubic, 1)]
    [InlineData(CongestionControlAlgorithm.Cubic, 2)]
    public void Slow_start_doubles_every_round_trip(CongestionControlAlgorithm algorithm, int segmentsPerAck)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        var clock = new AckClock(cc, Mss, Rtt, T0);
        int expected = 10 * Mss;
        for (int round = 0; round < 6; round++)
        {
            clock.Round(segmentsPerAck);
            expected *= 2;
            Assert.Equal(expected, cc.CongestionWindow);
        }
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Without_hystart_slow_start_grows_by_at_most_two_segments_per_ack(CongestionControlAlgorithm algorithm)
    {
        // With HyStart++ (the default) a stretch ACK counts in full: HyStartTests.
        var cc = CongestionControl.Create(algorithm, Mss, seed: 0, hyStart: false);
        cc.OnAck(T0, 8 * Mss, cc.CongestionWindow, Rtt); // a stretch ACK (RFC 3465 §2.2: L = 2·SMSS)
        Assert.Equal(12 * Mss, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void An_application_limited_sender_does_not_grow_the_window_in_slow_start(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        cc.OnAck(T0, Mss, 4 * Mss, Rtt); // 4 of 10 segments in flight
        Assert.Equal(10 * Mss, cc.CongestionWindow);
        cc.OnAck(T0, Mss, 5 * Mss, Rtt); // half the window counts as in use
        Assert.Equal(11 * Mss, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Fast_recovery_decreases_by_beta_inflates_and_deflates(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        int ssthresh = Decreased(algorithm, 20);
        cc.OnEnterRecovery(T0, 20 * Mss);
        Assert.True(cc.InRecovery);
        Assert.Equal(ssthresh, cc.SlowStartThreshold);
        Assert.Equal(ssthresh + 3 * Mss, cc.CongestionWindow); // RFC 5681 §3.2 step 3
        cc.OnDuplicateAck();
        cc.OnDuplicateAck();
        Assert.Equal(ssthresh + 5 * Mss, cc.CongestionWindow); // step 4: one SMSS per further duplicate
        cc.OnPartialAck(2 * Mss); // RFC 6582 §3.2 step 5: deflate by 2, give one back
        Assert.Equal(ssthresh + 4 * Mss, cc.CongestionWindow);
        cc.OnAck(T0, 10 * Mss, 20 * Mss, Rtt); // ignored during recovery
        Assert.Equal(ssthresh + 4 * Mss, cc.CongestionWindow);
        cc.OnExitRecovery(T0);
        Assert.False(cc.InRecovery);
        Assert.Equal(ssthresh, cc.CongestionWindow); // RFC 6582 §3.2 step 3: deflate to ssthresh
        cc.OnDuplicateAck(); // no longer in recovery
        Assert.Equal(ssthresh, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Ssthresh_is_at_least_two_segments(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        cc.OnEnterRecovery(T0, 2 * Mss);
        Assert.Equal(2 * Mss, cc.SlowStartThreshold);
        Assert.Equal(5 * Mss, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_timeout_collapses_to_one_segment_and_slow_starts_one_segment_per_ack_to_ssthresh(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        int ssthresh = Decreased(algorithm, 40);
        cc.OnRetransmissionTimeout(T0, 40 * Mss);
        Assert.Equal(Mss, cc.CongestionWindow); // RFC 5681 §3.1: the loss window
        Assert.Equal(ssthresh, cc.SlowStartThreshold);

        // After a timeout slow start counts at most one segment per ACK (RFC 3465 §2.3), even for delayed ACKs.
        cc.OnAck(T0, 2 * Mss, cc.CongestionWindow, Rtt);
        Assert.Equal(2 * Mss, cc.CongestionWindow);

        var clock = new AckClock(cc, Mss, Rtt, T0);
        int previous = cc.CongestionWindow;
        while (cc.CongestionWindow < cc.SlowStartThreshold)
        {
            clock.Ack();
            Assert.True(cc.CongestionWindow <= ssthresh);
            Assert.True(cc.CongestionWindow > previous);
            previous = cc.CongestionWindow;
        }
        Assert.Equal(ssthresh, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_repeated_timeout_of_the_same_segment_keeps_ssthresh(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        cc.OnRetransmissionTimeout(T0, 40 * Mss);
        cc.OnRetransmissionTimeout(T0, Mss); // the retransmission timed out too: flight is one segment now
        Assert.Equal(Decreased(algorithm, 40), cc.SlowStartThreshold);
        Assert.Equal(Mss, cc.CongestionWindow);
        cc.OnAck(T0, Mss, Mss, Rtt); // progress
        cc.OnRetransmissionTimeout(T0, 10 * Mss);
        Assert.Equal(Decreased(algorithm, 10), cc.SlowStartThreshold);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_timeout_ends_recovery(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, Mss);
        cc.OnEnterRecovery(T0, 20 * Mss);
        cc.OnRetransmissionTimeout(T0, 20 * Mss);
        Assert.False(cc.InRecovery);
        Assert.Equal(Mss, cc.CongestionWindow);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_new_mss_before_any_data_restarts_the_initial_window_and_after_data_keeps_the_bytes(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, 536);
        cc.SetMaxSegmentSize(1460);
        Assert.Equal(14600, cc.CongestionWindow);
        cc.OnAck(T0, 1460, 14600, Rtt);
        cc.SetMaxSegmentSize(1000);
        // CUBIC keeps its windows in segments (16.06 of the new size), so a byte may go to rounding.
        Assert.InRange(cc.CongestionWindow, 14600 + 1460 - 1, 14600 + 1460);
    }

    [Fact]
    public void Create_makes_the_chosen_algorithm_with_the_initial_window()
    {
        var cubic = CongestionControl.Create(CongestionControlAlgorithm.Cubic, 1460);
        var reno = CongestionControl.Create(CongestionControlAlgorithm.NewReno, 1460);
        Assert.IsType<Cubic>(cubic);
        Assert.IsType<NewReno>(reno);
        Assert.Equal(14600, cubic.CongestionWindow);
        Assert.Equal(14600, reno.CongestionWindow);
        Assert.Throws<ArgumentOutOfRangeException>(() => CongestionControl.Create((CongestionControlAlgorithm)99, 1460));
        Assert.Throws<ArgumentOutOfRangeException>(() => CongestionControl.Create(CongestionControlAlgorithm.Cubic, 0));
    }

    [Fact]
    public void Cubic_is_the_default_algorithm() => Assert.Equal(CongestionControlAlgorithm.Cubic, default);

    [Theory]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    public void Acks_allocate_nothing(CongestionControlAlgorithm algorithm)
    {
        var cc = CongestionControl.Create(algorithm, 1460);
        var now = new Instant(TimeSpan.FromSeconds(1).Ticks);
        void Run()
        {
            for (int i = 0; i < 500; i++)
            {
                now += TimeSpan.FromMilliseconds(1);
                cc.OnAck(now, 1460, cc.CongestionWindow, TimeSpan.FromMilliseconds(20));
                if (i % 100 == 99)
                {
                    cc.OnEnterRecovery(now, cc.CongestionWindow);
                    cc.OnDuplicateAck();
                    cc.OnPartialAck(1460);
                    cc.OnExitRecovery(now);
                }
            }
        }
        Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
