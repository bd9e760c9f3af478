using CsCheck;
using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Tcp;

public class TcpTransferTests
{
    private static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static (TcpPair Pair, StreamExchange App, bool Finished) Transfer(TcpSettings settings, ImpairmentOptions link, int seed,
        int bytesAtoB, int bytesBtoA, TimeSpan? limit = null, Func<bool, TcpHeader, int, bool>? drop = null,
        uint isnA = 1_000_000, uint isnB = 2_000_000, int readChunk = 64 * 1024)
    {
        var pair = new TcpPair(settings, settings, link, seed, isnA: isnA, isnB: isnB) { DropFilter = drop };
        var app = new StreamExchange(RandomBytes(bytesAtoB, seed), RandomBytes(bytesBtoA, seed + 1), readChunk);
        pair.Application = app.Run;
        bool finished = pair.RunUntil(app.Done, limit ?? TimeSpan.FromMinutes(30));
        return (pair, app, finished);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Bulk_transfer_both_ways_over_a_clean_link(CongestionControlAlgorithm cc)
    {
        var settings = new TcpSettings { CongestionControl = cc };
        var (pair, app, finished) = Transfer(settings, TcpPair.CleanLink, 1, 300_000, 100_000);
        Assert.True(finished, $"A {pair.A.State}, B {pair.B?.State}");
        Assert.Equal(RandomBytes(300_000, 1), app.ReceivedByB);
        Assert.Equal(RandomBytes(100_000, 2), app.ReceivedByA);
        Assert.Equal(0, pair.RetransmittedBytes[0]);
        // 300 kB over a 20 ms RTT with a 16 KiB window: about 19 windows, so well under a second.
        Assert.True(pair.Now < TcpTestPeer.At(1000), $"took {pair.Now}");
    }

    [Fact]
    public void Large_buffers_with_window_scaling_fill_a_long_fat_pipe()
    {
        var settings = new TcpSettings { SendBufferSize = 1 << 20, ReceiveBufferSize = 1 << 20 };
        // 100 ms RTT, 15 MB/s: 10 full 1,500-byte packets a millisecond (about 116 Mbit/s of payload), so the bandwidth-delay
        // product is about 1.4 MB.
        var link = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(50), BandwidthBytesPerSecond = 15_000_000 };
        var (pair, app, finished) = Transfer(settings, link, 3, 4_000_000, 0);
        Assert.True(finished);
        Assert.Equal(RandomBytes(4_000_000, 3), app.ReceivedByB);
        Assert.Equal(5, pair.B!.GetInfo(pair.Now).ReceiveWindowScale);
        // A 64 KiB window would need 4 MB / 64 KiB · 100 ms ≈ 6.1 s; a scaled 1 MiB window does it far faster.
        Assert.True(pair.Now < TcpTestPeer.At(2000), $"took {pair.Now}");
    }

    [Fact]
    public void Transfer_works_with_sequence_numbers_wrapping_on_both_sides()
    {
        var (pair, app, finished) = Transfer(new TcpSettings(), TcpPair.CleanLink with { Loss = 0.02 }, 5, 200_000, 200_000,
            isnA: 0xFFFF_FF00, isnB: 0xFFFF_0000);
        Assert.True(finished);
        Assert.Equal(RandomBytes(200_000, 5), app.ReceivedByB);
        Assert.Equal(RandomBytes(200_000, 6), app.ReceivedByA);
        _ = pair;
    }

    private static (TimeSpan Took, long Retransmitted, long Timeouts) LossyWindow(bool sack)
    {
        // Five segments lost from one window (first transmissions only), with a bandwidth limit so the window is large.
        var settings = new TcpSettings
        {
            EnableSack = sack,
            SendBufferSize = 256 * 1024,
            ReceiveBufferSize = 256 * 1024,
            CongestionControl = CongestionControlAlgorithm.NewReno,
        };
        var lost = new HashSet<int> { 60, 63, 66, 69, 72 };
        var dropped = new HashSet<int>();
        const uint isnA = 1_000_000;
        bool Drop(bool toB, TcpHeader h, int len)
        {
            if (!toB || len == 0) return false;
            int index = (h.Sequence - new SeqNumber(isnA + 1)) / 1448;
            return lost.Contains(index) && dropped.Add(index);
        }
        // A 3 MB/s bottleneck spaces the segments, so the receiver ACKs each with fresh SACK blocks: segments due at the same
        // instant are all delivered before either side emits, and one ACK for a burst names only the three newest ranges —
        // RACK would then rightly take the unnamed ones for lost.
        var link = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(20), BandwidthBytesPerSecond = 3_000_000 };
        var (pair, app, finished) = Transfer(settings, link, 7, 200 * 1448, 0, drop: Drop, isnA: isnA);
        Assert.True(finished);
        Assert.Equal(RandomBytes(200 * 1448, 7), app.ReceivedByB);
        Assert.Equal(5, dropped.Count);
        return (pair.Now - default(Instant), pair.RetransmittedBytes[0], pair.ContextA.Counters.Timeouts);
    }

    [Fact]
    public void SACK_repairs_several_losses_in_one_window_in_about_one_RTT_without_needless_retransmission()
    {
        var withSack = LossyWindow(sack: true);
        var withoutSack = LossyWindow(sack: false);
        // Exactly the five lost segments are resent with SACK (1448-byte payloads with timestamps on).
        Assert.Equal(5 * 1448, withSack.Retransmitted);
        Assert.Equal(0, withSack.Timeouts);
        Assert.True(withSack.Retransmitted <= withoutSack.Retransmitted, $"{withSack} vs {withoutSack}");
        // NewReno without SACK repairs one hole per partial ACK; the bottleneck spaces the holes' ACKs, so it takes at least
        // two round trips (40 ms each) more than SACK's repair of all five at once.
        Assert.True(withoutSack.Took - withSack.Took >= TimeSpan.FromMilliseconds(2 * 40), $"{withSack} vs {withoutSack}");
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Small_buffers_and_slow_readers_deliver_intact_through_zero_windows(CongestionControlAlgorithm cc)
    {
        Gen.Select(Gen.Int[0, int.MaxValue], Gen.Int[0, 30_000], Gen.Int[1, 8_000], Gen.Int[1, 8_000], Gen.Int[1, 3_000], Gen.Int[0, 5], Gen.Bool)
            .Sample((seed, bytes, sendBuffer, receiveBuffer, readChunk, lossPct, sack) =>
            {
                var settings = new TcpSettings
                {
                    CongestionControl = cc,
                    EnableSack = sack,
                    SendBufferSize = sendBuffer,
                    ReceiveBufferSize = receiveBuffer,
                };
                var link = TcpPair.CleanLink with { Loss = lossPct / 100.0, Jitter = TimeSpan.FromMilliseconds(seed % 20) };
                var (pair, app, finished) = Transfer(settings, link, seed, bytes, bytes / 2, TimeSpan.FromHours(4), readChunk: readChunk);
                Assert.True(finished, $"seed {seed} bytes {bytes} snd {sendBuffer} rcv {receiveBuffer} chunk {readChunk} loss {lossPct}% sack {sack}: " +
                    $"A {pair.A.State}/{pair.A.Error}, B {pair.B?.State}/{pair.B?.Error} at {pair.Now}");
                Assert.Equal(RandomBytes(bytes, seed), app.ReceivedByB);
                Assert.Equal(RandomBytes(bytes / 2, seed + 1), app.ReceivedByA);
            }, iter: 60);
    }

    /// <summary>
    /// A found case (seed 1433051959, CUBIC, SACK, 2 % loss, a 22-byte receive buffer): RACK resends the first segment at a
    /// timeout at once (RFC 8985 §6.3). When that resend took a full MSS from SND.UNA — more than was ever sent — it pushed
    /// new data past the peer's 22-byte window and SND.MAX with it; the peer dropped what lay beyond its window, and each
    /// backed-off timeout then moved only a window's worth: the transfer did not finish in hours.
    /// </summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(100, 7)]
    [InlineData(1000, 100)]
    [InlineData(5000, 3000)]
    [InlineData(8000, 1)]
    [InlineData(8000, 3000)]
    public void A_tiny_window_with_loss_and_SACK_finishes_when_timeouts_resend_only_what_was_sent(int sendBuffer, int readChunk)
    {
        const int seed = 1433051959, bytes = 24879;
        var settings = new TcpSettings
        {
            CongestionControl = CongestionControlAlgorithm.Cubic,
            EnableSack = true,
            SendBufferSize = sendBuffer,
            ReceiveBufferSize = 22,
        };
        var link = TcpPair.CleanLink with { Loss = 0.02, Jitter = TimeSpan.FromMilliseconds(seed % 20) };
        var (pair, app, finished) = Transfer(settings, link, seed, bytes, bytes / 2, TimeSpan.FromHours(4), readChunk: readChunk);
        Assert.True(finished, $"A {pair.A.State}/{pair.A.Error}, B {pair.B?.State}/{pair.B?.Error} at {pair.Now} timeouts {pair.ContextA.Counters.Timeouts}");
        Assert.Equal(RandomBytes(bytes, seed), app.ReceivedByB);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void Random_streams_arrive_intact_under_loss_duplication_and_reordering(CongestionControlAlgorithm cc)
    {
        Gen.Select(Gen.Int[0, int.MaxValue], Gen.Int[0, 60_000], Gen.Int[0, 60_000], Gen.Int[0, 10], Gen.Int[0, 5], Gen.Int[0, 30], Gen.Bool)
            .Sample((seed, aToB, bToA, lossPct, dupPct, jitterMs, sack) =>
            {
                var settings = new TcpSettings
                {
                    CongestionControl = cc,
                    EnableSack = sack,
                    EnableTimestamps = seed % 3 != 0,
                    NoDelay = seed % 2 == 0,
                };
                var link = TcpPair.CleanLink with
                {
                    Loss = lossPct / 100.0,
                    Duplication = dupPct / 100.0,
                    Jitter = TimeSpan.FromMilliseconds(jitterMs),
                };
                var (pair, app, finished) = Transfer(settings, link, seed, aToB, bToA, TimeSpan.FromHours(2));
                Assert.True(finished, $"seed {seed} a→b {aToB} b→a {bToA} loss {lossPct}% dup {dupPct}% jitter {jitterMs} ms sack {sack}: A {pair.A.State}/{pair.A.Error}, B {pair.B?.State}/{pair.B?.Error} at {pair.Now}");
                Assert.Equal(RandomBytes(aToB, seed), app.ReceivedByB);
                Assert.Equal(RandomBytes(bToA, seed + 1), app.ReceivedByA);
            }, iter: 60);
    }
}
