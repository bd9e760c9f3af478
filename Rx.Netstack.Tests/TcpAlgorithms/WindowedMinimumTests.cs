using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public sealed class WindowedMinimumTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    private static Instant At(double seconds) => new((long)(seconds * TimeSpan.TicksPerSecond));
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void Empty_until_the_first_sample_then_the_least_one()
    {
        var min = new WindowedMinimum();
        Assert.Null(min.Value);
        min.Update(At(0), Ms(30), Window);
        min.Update(At(1), Ms(10), Window);
        min.Update(At(2), Ms(20), Window);
        Assert.Equal(Ms(10), min.Value);
    }

    [Fact]
    public void A_minimum_older_than_the_window_gives_way_to_the_samples_since()
    {
        var min = new WindowedMinimum();
        min.Update(At(0), Ms(10), Window);
        // The path got longer: 40 ms from here on, one sample every 10 s.
        for (int s = 10; s <= 300; s += 10) min.Update(At(s), Ms(40), Window);
        Assert.Equal(Ms(10), min.Value); // 300 s: the 10 ms sample is still in the window
        min.Update(At(310), Ms(40), Window);
        Assert.Equal(Ms(40), min.Value);
    }

    [Fact]
    public void After_expiry_the_least_of_the_remaining_samples_takes_over_not_just_the_newest()
    {
        var min = new WindowedMinimum();
        min.Update(At(0), Ms(10), Window);
        min.Update(At(100), Ms(25), Window); // a quarter window on: kept in reserve
        for (int s = 110; s <= 300; s += 10) min.Update(At(s), Ms(40), Window);
        min.Update(At(301), Ms(40), Window);
        Assert.Equal(Ms(25), min.Value);
    }

    [Fact]
    public void A_gap_longer_than_the_window_starts_afresh()
    {
        var min = new WindowedMinimum();
        min.Update(At(0), Ms(10), Window);
        min.Update(At(400), Ms(50), Window);
        Assert.Equal(Ms(50), min.Value);
    }
}
