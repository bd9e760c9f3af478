using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.TcpAlgorithms;

/// <summary>The RFC 5961 §7 challenge-ACK budget: one per one-second window, fixed or drawn at random (CVE-2016-5696).</summary>
public class ChallengeAckLimiterTests
{
    private static Instant At(double milliseconds) => new((long)(milliseconds * TimeSpan.TicksPerMillisecond));

    private static int TakeAll(ChallengeAckLimiter limiter, Instant now, int tries)
    {
        int taken = 0;
        for (int i = 0; i < tries; i++) taken += limiter.TryTake(now) ? 1 : 0;
        return taken;
    }

    [Fact]
    public void A_fixed_budget_allows_exactly_per_second_in_each_window_and_renews_a_second_after_the_window_began()
    {
        var limiter = new ChallengeAckLimiter(perSecond: 10);
        Assert.Equal(10, TakeAll(limiter, At(5), 25));
        Assert.Equal(0, TakeAll(limiter, At(1004.9), 5)); // the window began at 5 ms: still in it
        Assert.Equal(10, TakeAll(limiter, At(1005), 25));
        Assert.Equal(10, limiter.WindowBudget);
    }

    [Fact]
    public void A_jittered_budget_varies_between_windows_within_half_to_one_and_a_half_times_and_averages_per_second()
    {
        var limiter = new ChallengeAckLimiter(perSecond: 1000, new Random(5961));
        var budgets = new List<int>();
        for (int window = 0; window < 200; window++)
        {
            int taken = TakeAll(limiter, At(window * 1000.0), 2000);
            Assert.Equal(limiter.WindowBudget, taken);
            budgets.Add(taken);
        }
        Assert.All(budgets, b => Assert.InRange(b, 500, 1499));
        Assert.True(budgets.Distinct().Count() > 150, "the budget barely varies: an attacker could count on it");
        Assert.InRange(budgets.Average(), 950, 1050);
    }

    [Fact]
    public void A_budget_of_one_a_second_never_rounds_to_nothing()
    {
        var limiter = new ChallengeAckLimiter(perSecond: 1, new Random(1));
        for (int window = 0; window < 20; window++)
            Assert.Equal(1, TakeAll(limiter, At(window * 1000.0), 3));
    }
}
