using CsCheck;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

public sealed class ImpairedLinkPropertyTests
{
    [Fact]
    public void Without_loss_or_corruption_every_frame_arrives_intact_and_never_early()
    {
        Gen.Select(Gen.Int[0, 20], Gen.OneOf(Gen.Const(0), Gen.Int[0, 20]), Gen.OneOf(Gen.Const(0.0), Gen.Double[0, 0.5]), Gen.Double[0, 0.5], Gen.Int[0, 200_000], Gen.Int)
            .Sample((delayMs, jitterMs, reordering, duplication, bandwidth, seed) =>
            {
                var scheduler = new TestScheduler();
                var (a, b) = PipeDevice.CreatePair(mtu: 2000);
                var options = new ImpairmentOptions
                {
                    Delay = TimeSpan.FromMilliseconds(delayMs), Jitter = TimeSpan.FromMilliseconds(jitterMs),
                    Reordering = reordering, Duplication = duplication, BandwidthBytesPerSecond = bandwidth,
                };
                var link = new ImpairedLink(a, scheduler, options, seed: seed);
                var sentAt = new Dictionary<int, long>();
                var arrivals = new List<(int Id, long At, int Length)>();
                b.Received.Subscribe(f => arrivals.Add((f.Span[0] << 8 | f.Span[1], scheduler.Clock, f.Length)));

                var random = new Random(seed);
                for (int id = 0; id < 100; id++)
                {
                    long at = 1 + id * TimeSpan.TicksPerMillisecond / 2;
                    var frame = new byte[2 + random.Next(1000)];
                    frame[0] = (byte)(id >> 8);
                    frame[1] = (byte)id;
                    sentAt[id] = at;
                    scheduler.ScheduleAbsolute(frame, at, (_, f) =>
                    {
                        link.Transmit.OnNext(f);
                        return System.Reactive.Disposables.Disposable.Empty;
                    });
                }
                scheduler.Start();

                var counters = link.OutboundCounters;
                Assert.Equal(100 + counters.Duplicated, arrivals.Count);
                Assert.Equal(arrivals.Count, counters.Delivered);
                Assert.Equal(Enumerable.Range(0, 100), arrivals.Select(x => x.Id).Distinct().Order());
                Assert.All(arrivals, x => Assert.True(x.At >= sentAt[x.Id] + options.Delay.Ticks, $"frame {x.Id} arrived early"));
                if (reordering == 0 && jitterMs == 0)
                    Assert.Equal(arrivals.Select(x => x.Id).Order(), arrivals.Select(x => x.Id)); // nothing overtakes
            }, iter: 60);
    }
}
