using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class CongestionControlTests
{
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
