using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Many losses in one window (RFC 6675 vs RFC 6582): SACK resends exactly the holes in about one round trip; NewReno without
/// SACK repairs one hole per round trip, runs into the retransmission timeout (only the first partial ACK restarts it) and
/// goes back N, resending data the receiver already holds.
/// </summary>
public sealed class TcpSackRecoveryTests
{
    private const uint IsnA = 1_000_000;
    private const int Segment = 1448; // 1460 − 12 bytes of timestamps
    private const int Segments = 400;

    private readonly record struct Outcome(long SegmentsRetransmitted, long BytesRetransmitted, long Timeouts, TimeSpan Took);

    private static Outcome Run(bool sack, int[] lost)
    {
        var settings = new TcpSettings
        {
            EnableSack = sack,
            SendBufferSize = 512 * 1024,
            ReceiveBufferSize = 512 * 1024,
            CongestionControl = CongestionControlAlgorithm.NewReno,
        };
        var toLose = new HashSet<int>(lost);
        var dropped = new HashSet<int>();
        bool Drop(bool toB, TcpHeader h, int len)
        {
            if (!toB || len == 0) return false;
            int index = (h.Sequence - new SeqNumber(IsnA + 1)) / Segment;
            return toLose.Contains(index) && dropped.Add(index); // first transmissions only
        }
        byte[] data = new byte[Segments * Segment];
        new Random(21).NextBytes(data);
        // A 3 MB/s bottleneck (two full 1,500-byte packets a millisecond) spaces the segments, so the receiver ACKs each one with
        // fresh SACK blocks (packets due at the same instant are all delivered before either side emits, which would coalesce
        // their ACKs).
        var link = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(20), BandwidthBytesPerSecond = 3_000_000 };
        var pair = new TcpPair(settings, settings, link, seed: 21, isnA: IsnA)
        {
            DropFilter = Drop,
        };
        var app = new StreamExchange(data, []);
        pair.Application = app.Run;
        Assert.True(pair.RunUntil(app.Done, TimeSpan.FromMinutes(5)));
        Assert.Equal(data, app.ReceivedByB);
        Assert.Equal(lost.Length, dropped.Count);
        return new Outcome(pair.ContextA.Counters.SegmentsRetransmitted, pair.RetransmittedBytes[0], pair.ContextA.Counters.Timeouts,
            pair.Now - default(Instant));
    }

    [Fact]
    public void Twenty_losses_in_one_window_SACK_resends_only_the_holes_NewReno_goes_back_N_after_the_timeout()
    {
        // Every third segment from 100 on: twenty holes inside one window (the flight is well over 60 segments by then).
        int[] lost = Enumerable.Range(0, 20).Select(i => 100 + 3 * i).ToArray();
        var withSack = Run(sack: true, lost);
        var withoutSack = Run(sack: false, lost);

        Assert.Equal(lost.Length, withSack.SegmentsRetransmitted);
        Assert.Equal(lost.Length * Segment, withSack.BytesRetransmitted);
        Assert.Equal(0, withSack.Timeouts);

        Assert.True(withoutSack.Timeouts >= 1, $"{withoutSack}");
        Assert.True(withSack.SegmentsRetransmitted < withoutSack.SegmentsRetransmitted, $"{withSack} vs {withoutSack}");
        Assert.True(withSack.BytesRetransmitted < withoutSack.BytesRetransmitted, $"{withSack} vs {withoutSack}");
        Assert.True(withSack.Took < withoutSack.Took, $"{withSack} vs {withoutSack}");
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.Bbr)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_wide_window_at_5_percent_loss_resends_only_what_was_lost(CongestionControlAlgorithm cc)
    {
        // A 1 MiB window at 5 % loss holds about 35 holes. With room for 32 SACKed ranges the sender forgot the oldest
        // (RACK then marked SACKed data lost) and the receiver dropped out-of-order segments past its 32nd hole: BBR resent
        // 1.6 times what the link lost (Linux's receiver reported the duplicates by D-SACK). Seeded, so the figures repeat.
        var settings = new TcpSettings { CongestionControl = cc, SendBufferSize = 2 << 20, ReceiveBufferSize = 1 << 20 };
        var link = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(5), BandwidthBytesPerSecond = 100_000_000, Loss = 0.05 };
        var pair = new TcpPair(settings, settings, link, seed: 3);
        byte[] data = new byte[8_000_000];
        new Random(1).NextBytes(data);
        using var app = new StreamExchange(data, []);
        pair.Application = app.Run;
        Assert.True(pair.RunUntil(app.Done, TimeSpan.FromMinutes(10)));
        Assert.Equal(data, app.ReceivedByB);

        TcpCounters a = pair.ContextA.Counters, b = pair.ContextB.Counters;
        long lost = pair.LinkLosses[0];
        Assert.True(lost > 0.04 * pair.PacketsSent[0], $"the link lost {lost} of {pair.PacketsSent[0]} packets");
        Assert.True(a.SegmentsRetransmitted <= lost * 21 / 20, $"{a.SegmentsRetransmitted} segments resent for {lost} lost");
        Assert.Equal(0, b.OutOfOrderDropped);
        Assert.True(b.DuplicateSacksSent <= lost / 20, $"the receiver saw {b.DuplicateSacksSent} duplicates");
    }
}
