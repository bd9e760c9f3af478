using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class CubicTests
{
    private const int Mss = 1000;
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(100);
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(100).Ticks);

    // RFC 9438 constants, written out here rather than read from the implementation.
    private const double C = 0.4;
    private const double Beta = 0.7;

    private static double W(double t, double k, double wMax) => C * Math.Pow(t - k, 3) + wMax;

    /// <summary>A CUBIC controller grown by slow start to exactly <paramref name="segments"/>, then hit by a loss with a full window in flight, recovered.</summary>
    private static Cubic AfterLossAt(int segments, Instant at)
    {
        var cc = new Cubic(Mss);
        while (cc.CongestionWindow < segments * Mss) cc.OnAck(at, Mss, cc.CongestionWindow, Rtt);
        Assert.Equal(segments * Mss, cc.CongestionWindow);
        cc.OnEnterRecovery(at, segments * Mss);
        cc.OnExitRecovery(at);
        return cc;
    }

    [Fact]
    public void A_loss_remembers_the_window_before_it_as_w_max()
    {
        // The decrease itself (β·flight, inflation, deflation) is CongestionControlTests' theory over both algorithms.
        var cc = new Cubic(Mss);
        while (cc.CongestionWindow < 100 * Mss) cc.OnAck(T0, Mss, cc.CongestionWindow, Rtt);
        cc.OnEnterRecovery(T0, 80 * Mss);
        Assert.Equal(100, cc.WMaxSegments, 9);
        Assert.Equal(56 * Mss, cc.SlowStartThreshold); // β times the flight, not the window
    }

    [Fact]
    public void K_is_the_time_to_climb_back_to_w_max()
    {
        var cc = AfterLossAt(100, T0);
        cc.OnAck(T0, Mss, cc.CongestionWindow, Rtt); // the first ACK in congestion avoidance starts the epoch
        Assert.Equal(T0, cc.EpochStart);
        // cwnd_epoch = β·W_max, so K = ∛(W_max·(1 − β)/C) = ∛75.
        Assert.Equal(Math.Cbrt(100 * (1 - Beta) / C), cc.KSeconds, 12);
        Assert.Equal(Math.Cbrt(75), cc.KSeconds, 12);
    }

    [Fact]
    public void Each_ack_moves_cwnd_a_cwnd_th_of_the_way_to_the_target_one_rtt_ahead()
    {
        var cc = AfterLossAt(100, T0);
        double k = Math.Cbrt(75);
        double rtt = Rtt.TotalSeconds;

        // At t = 0 the curve is at cwnd_epoch = 70 exactly, so W_est (70 + α/70 after this ACK) is above it: the
        // Reno-friendly region applies and cwnd = W_est (§4.3).
        cc.OnAck(T0, Mss, cc.CongestionWindow, Rtt);
        double expected = 70 + 3 * (1 - Beta) / (1 + Beta) / 70;
        Assert.Equal(expected, cc.WindowSegments, 9);
        Assert.Equal(expected, cc.RenoEstimateSegments, 9);

        // A second later the curve is far above W_est: the concave region's rule, aiming one RTT ahead (§4.2, §4.4).

        cc.OnAck(T0 + TimeSpan.FromSeconds(1), Mss, cc.CongestionWindow, Rtt);
        expected += (W(1 + rtt, k, 100) - expected) / expected;
        Assert.Equal(expected, cc.WindowSegments, 9);

        // Far beyond K the target is clamped to 1.5·cwnd.
        cc.OnAck(T0 + TimeSpan.FromSeconds(30), Mss, cc.CongestionWindow, Rtt);
        expected += (1.5 * expected - expected) / expected;
        Assert.Equal(expected, cc.WindowSegments, 9);
    }

    [Fact]
    public void The_window_follows_the_cubic_curve_through_the_concave_and_convex_regions()
    {
        var cc = AfterLossAt(100, T0);
        var clock = new AckClock(cc, Mss, Rtt, T0);
        double k = Math.Cbrt(75);
        bool sawConcave = false, sawConvex = false;
        double previousGrowth = double.NaN;
        for (int round = 1; round <= 70; round++)
        {
            double before = cc.WindowSegments;
            clock.Round();
            double t = (clock.Now - cc.EpochStart!.Value).TotalSeconds;
            double curve = W(t, k, 100);
            double renoEstimate = cc.RenoEstimateSegments;
            // Each ACK aims at W(t' + RTT) for its own time t', so after a round of ACKs cwnd lies between the curve now
            // (less a small lag) and the curve one RTT ahead, which it never passes — unless the Reno-friendly estimate
            // is higher (§4.3: from about 6 s here, once W_est passed cwnd_prior and grows one segment per RTT).
            Assert.InRange(cc.WindowSegments, Math.Max(curve, renoEstimate) - 2, Math.Max(W(t + Rtt.TotalSeconds, k, 100), renoEstimate) + 1e-9);
            double growth = cc.WindowSegments - before;
            if (t < k - 0.5) { Assert.True(cc.WindowSegments < 100); sawConcave = true; }
            if (t > k + 1) { Assert.True(cc.WindowSegments > 100); Assert.True(growth >= previousGrowth - 0.05); sawConvex = true; }
            previousGrowth = growth;
        }
        Assert.True(sawConcave && sawConvex);
    }

    [Fact]
    public void Near_w_max_growth_is_slower_than_far_from_it()
    {
        var cc = AfterLossAt(100, T0);
        var clock = new AckClock(cc, Mss, Rtt, T0);
        double k = Math.Cbrt(75);
        var growth = new List<(double T, double Growth)>();
        for (int round = 0; round < 60; round++)
        {
            double before = cc.WindowSegments;
            clock.Round();
            growth.Add(((clock.Now - T0).TotalSeconds, cc.WindowSegments - before));
        }
        double early = growth.First(g => g.T >= 0.5).Growth;
        double plateau = growth.First(g => g.T >= k).Growth;
        double late = growth.First(g => g.T >= k + 1.5).Growth;
        Assert.True(plateau < early / 4);
        Assert.True(plateau < late / 4);
    }

    [Fact]
    public void With_short_round_trips_the_reno_friendly_estimate_wins()
    {
        var rtt = TimeSpan.FromMilliseconds(10);
        var cc = new Cubic(Mss);
        cc.OnEnterRecovery(T0, 20 * Mss); // W_max = 10 (the initial window), ssthresh = 14
        cc.OnExitRecovery(T0);
        var clock = new AckClock(cc, Mss, rtt, T0);
        for (int round = 0; round < 100; round++) clock.Round();
        double t = (clock.Now - T0).TotalSeconds;
        double k = Math.Cbrt(Math.Max(10 - 14, 0) / C);
        double cubicWindow = W(t, k, 10);
        // After 1 s (100 RTTs) the cubic curve has grown 0.4 segments; Reno would have added about one per RTT.
        Assert.True(cubicWindow < 15);
        Assert.InRange(cc.WindowSegments, 14 + 90, 14 + 101);
        Assert.Equal(cc.RenoEstimateSegments, cc.WindowSegments, 9);
    }

    [Fact]
    public void Reno_friendly_alpha_grows_slower_until_cwnd_prior_is_reached()
    {
        // W_max = cwnd_prior = 100, ssthresh 70: with α = 3(1 − β)/(1 + β) ≈ 0.53 segments per RTT.
        var cc = AfterLossAt(100, T0);
        var clock = new AckClock(cc, Mss, TimeSpan.FromMilliseconds(1), T0);
        for (int round = 0; round < 10; round++) clock.Round();
        double alpha = 3 * (1 - Beta) / (1 + Beta);
        Assert.InRange(cc.RenoEstimateSegments, 70 + 10 * alpha - 0.5, 70 + 10 * alpha + 0.5);
    }

    [Fact]
    public void A_stretch_ack_does_not_carry_the_window_past_the_target()
    {
        var cc = AfterLossAt(100, T0);
        cc.OnAck(T0, Mss, cc.CongestionWindow, Rtt);
        double before = cc.WindowSegments;
        cc.OnAck(T0 + TimeSpan.FromSeconds(1), 500 * Mss, cc.CongestionWindow, Rtt);
        Assert.Equal(W(1 + Rtt.TotalSeconds, Math.Cbrt(75), 100), cc.WindowSegments, 9);
        Assert.True(cc.WindowSegments > before);
    }

    [Fact]
    public void Fast_convergence_lowers_w_max_when_the_window_did_not_regain_it()
    {
        var cc = AfterLossAt(100, T0); // W_max 100, cwnd 70
        cc.OnEnterRecovery(T0 + TimeSpan.FromSeconds(1), 70 * Mss);
        Assert.Equal(70 * (1 + Beta) / 2, cc.WMaxSegments, 9);
        Assert.Equal(49 * Mss, cc.SlowStartThreshold);
    }

    [Fact]
    public void Without_fast_convergence_w_max_is_the_window_before_the_loss()
    {
        var cc = AfterLossAt(100, T0);
        var clock = new AckClock(cc, Mss, Rtt, T0);
        while (cc.WindowSegments < 120) clock.Round();
        double before = cc.WindowSegments;
        cc.OnEnterRecovery(clock.Now, cc.CongestionWindow);
        Assert.Equal(before, cc.WMaxSegments, 9);
    }

    [Fact]
    public void A_timeout_resets_to_one_segment_and_restarts_the_curve_from_the_new_window()
    {
        var cc = new Cubic(Mss);
        while (cc.CongestionWindow < 100 * Mss) cc.OnAck(T0, Mss, cc.CongestionWindow, Rtt);
        cc.OnRetransmissionTimeout(T0, 100 * Mss);
        Assert.Equal(Mss, cc.CongestionWindow);
        Assert.Equal(70 * Mss, cc.SlowStartThreshold);
        Assert.False(cc.InRecovery);

        var clock = new AckClock(cc, Mss, Rtt, T0);
        while (cc.CongestionWindow < 70 * Mss) clock.Ack();
        Assert.Equal(70 * Mss, cc.CongestionWindow);
        Assert.Null(cc.EpochStart);
        clock.Advance(Rtt);
        clock.Ack();
        // RFC 9438 §4.8: after a timeout W_max is the window at the start of avoidance and K = 0: convex from there.
        Assert.Equal(clock.Now, cc.EpochStart);
        Assert.Equal(0, cc.KSeconds);
        Assert.Equal(70, cc.WMaxSegments, 6);
    }

    [Fact]
    public void An_application_limited_sender_does_not_grow_the_window_or_advance_the_curve()
    {
        var cc = AfterLossAt(100, T0);
        cc.OnAck(T0, Mss, cc.CongestionWindow, Rtt);
        double window = cc.WindowSegments;
        cc.OnAck(T0 + TimeSpan.FromSeconds(3), Mss, 10 * Mss, Rtt); // only 10 of 70 segments in flight
        Assert.Equal(window, cc.WindowSegments);
        Assert.Equal(T0 + TimeSpan.FromSeconds(3), cc.EpochStart);
    }

    [Fact]
    public void A_new_mss_keeps_the_window_in_bytes()
    {
        var cc = AfterLossAt(100, T0);
        cc.SetMaxSegmentSize(500);
        Assert.Equal(70 * Mss, cc.CongestionWindow);
        Assert.Equal(70 * Mss, cc.SlowStartThreshold);
        Assert.Equal(200, cc.WMaxSegments, 9);
    }
}
