using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class RttEstimatorTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromTicks((long)(ms * TimeSpan.TicksPerMillisecond));

    private static RttEstimator Create(double minMs = 200, double granularityMs = 10) =>
        new(TimeSpan.FromSeconds(1), Ms(minMs), TimeSpan.FromSeconds(60), Ms(granularityMs));

    [Fact]
    public void Before_any_sample_the_initial_rto_applies()
    {
        var rtt = Create();
        Assert.Equal(TimeSpan.FromSeconds(1), rtt.Rto);
        Assert.Null(rtt.SmoothedRtt);
        Assert.Null(rtt.LatestRtt);
        Assert.Equal(TimeSpan.Zero, rtt.RttVariance);
        Assert.Equal(0, rtt.BackoffCount);
    }

    [Fact]
    public void First_sample_sets_srtt_to_r_and_rttvar_to_half_r()
    {
        var rtt = Create();
        rtt.AddSample(Ms(100));
        Assert.Equal(Ms(100), rtt.SmoothedRtt);
        Assert.Equal(Ms(50), rtt.RttVariance);
        Assert.Equal(Ms(100), rtt.LatestRtt);
        // RTO = 100 + max(10, 4·50) = 300 ms.
        Assert.Equal(Ms(300), rtt.Rto);
    }

    [Fact]
    public void Second_sample_updates_rttvar_with_the_old_srtt_then_srtt()
    {
        var rtt = Create();
        rtt.AddSample(Ms(100));
        rtt.AddSample(Ms(200));
        // RTTVAR = 3/4·50 + 1/4·|100 − 200| = 62.5 (it would be 59.375 if SRTT were updated first).
        Assert.Equal(Ms(62.5), rtt.RttVariance);
        // SRTT = 7/8·100 + 1/8·200 = 112.5.
        Assert.Equal(Ms(112.5), rtt.SmoothedRtt);
        // RTO = 112.5 + 4·62.5 = 362.5.
        Assert.Equal(Ms(362.5), rtt.Rto);
        Assert.Equal(Ms(200), rtt.LatestRtt);
    }

    [Fact]
    public void Third_sample_follows_the_same_recurrence()
    {
        var rtt = Create();
        rtt.AddSample(Ms(100));
        rtt.AddSample(Ms(200));
        rtt.AddSample(Ms(80));
        // RTTVAR = 3/4·62.5 + 1/4·|112.5 − 80| = 46.875 + 8.125 = 55; SRTT = 7/8·112.5 + 10 = 108.4375.
        Assert.Equal(Ms(55), rtt.RttVariance);
        Assert.Equal(Ms(108.4375), rtt.SmoothedRtt);
        Assert.Equal(Ms(108.4375 + 220), rtt.Rto);
    }

    [Fact]
    public void Clock_granularity_is_the_floor_of_the_variance_term()
    {
        var rtt = Create(minMs: 50);
        for (int i = 0; i < 40; i++) rtt.AddSample(Ms(100));
        Assert.Equal(Ms(100), rtt.SmoothedRtt);
        Assert.True(rtt.RttVariance < Ms(2.5));
        Assert.Equal(Ms(110), rtt.Rto);
    }

    [Fact]
    public void Rto_is_rounded_up_to_the_minimum()
    {
        var rtt = Create(minMs: 200);
        rtt.AddSample(Ms(1));
        Assert.Equal(Ms(200), rtt.Rto);
    }

    [Fact]
    public void Rto_is_capped_at_the_maximum()
    {
        var rtt = Create();
        rtt.AddSample(TimeSpan.FromSeconds(40));
        Assert.Equal(TimeSpan.FromSeconds(60), rtt.Rto);
    }

    [Fact]
    public void Back_off_doubles_up_to_the_maximum_and_keeps_counting()
    {
        var rtt = Create();
        rtt.AddSample(Ms(100)); // RTO 300 ms
        double expected = 300;
        for (int i = 1; i <= 12; i++)
        {
            rtt.BackOff();
            expected = Math.Min(expected * 2, 60_000);
            Assert.Equal(Ms(expected), rtt.Rto);
            Assert.Equal(i, rtt.BackoffCount);
        }
        Assert.Equal(TimeSpan.FromSeconds(60), rtt.Rto);
        Assert.Equal(Ms(300), rtt.BaseRto);
    }

    [Fact]
    public void Back_off_before_any_sample_doubles_the_initial_rto()
    {
        var rtt = Create();
        rtt.BackOff();
        Assert.Equal(TimeSpan.FromSeconds(2), rtt.Rto);
        rtt.BackOff();
        Assert.Equal(TimeSpan.FromSeconds(4), rtt.Rto);
    }

    [Fact]
    public void A_sample_clears_the_back_off()
    {
        var rtt = Create();
        rtt.AddSample(Ms(100));
        rtt.BackOff();
        rtt.BackOff();
        Assert.Equal(Ms(1200), rtt.Rto);
        rtt.AddSample(Ms(100));
        Assert.Equal(0, rtt.BackoffCount);
        // RTTVAR = 3/4·50 + 0 = 37.5; SRTT 100; RTO = 100 + 150.
        Assert.Equal(Ms(250), rtt.Rto);
    }

    [Fact]
    public void After_a_handshake_timeout_without_samples_the_rto_can_be_reset_to_three_seconds()
    {
        var rtt = Create();
        rtt.BackOff();
        rtt.ClearBackoff();
        rtt.ResetTo(TimeSpan.FromSeconds(3));
        Assert.Equal(TimeSpan.FromSeconds(3), rtt.Rto);
        rtt.AddSample(Ms(100));
        rtt.ResetTo(TimeSpan.FromSeconds(3));
        Assert.Equal(Ms(300), rtt.Rto);
    }

    [Fact]
    public void Invalid_bounds_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RttEstimator(TimeSpan.FromSeconds(1), TimeSpan.Zero, TimeSpan.FromSeconds(60), Ms(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RttEstimator(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), Ms(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RttEstimator(TimeSpan.Zero, Ms(200), TimeSpan.FromSeconds(60), Ms(1)));
    }
}
