using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

public sealed class ImpairedLinkTests
{
    private static readonly long Ms = TimeSpan.TicksPerMillisecond;

    /// <summary>An impaired end A of a synchronous pipe; what reaches B is recorded with its virtual time.</summary>
    private sealed class Rig : IDisposable
    {
        public void Dispose() => Link.Dispose();

        public readonly TestScheduler Scheduler = new();
        public readonly PipeDevice B;
        public readonly ImpairedLink Link;
        public readonly List<(long At, byte[] Frame)> AtB = new();
        public readonly List<(long At, byte[] Frame)> AtLink = new();
        public bool BCompleted;

        public Rig(ImpairmentOptions? outbound, ImpairmentOptions? inbound = null, int seed = 42)
        {
            var (a, b) = PipeDevice.CreatePair(mtu: 65535);
            B = b;
            Link = new ImpairedLink(a, Scheduler, outbound, inbound, seed);
            b.Received.Subscribe(f => AtB.Add((Scheduler.Clock, f.ToArray())), () => BCompleted = true);
            Link.Received.Subscribe(f => AtLink.Add((Scheduler.Clock, f.ToArray())));
        }

        public void SendAt(long at, params byte[] frame) =>
            Scheduler.ScheduleAbsolute(frame, at, (_, f) =>
            {
                Link.Transmit.OnNext(f);
                return System.Reactive.Disposables.Disposable.Empty;
            });

        public void SendNumbered(int count, long spacing)
        {
            for (int i = 0; i < count; i++) SendAt(1 + i * spacing, (byte)(i >> 8), (byte)i);
        }
    }

    private static int Number(byte[] frame) => frame[0] << 8 | frame[1];

    [Fact]
    public void Without_impairment_frames_pass_synchronously_and_uncopied()
    {
        var rig = new Rig(null);
        var frame = new byte[] { 1, 2, 3 };
        ReadOnlyMemory<byte> seen = default;
        rig.B.Received.Subscribe(f => seen = f);
        rig.Link.Transmit.OnNext(frame);
        Assert.True(seen.Span == frame.AsSpan());
        Assert.Equal(1, rig.Link.OutboundCounters.Delivered);
        Assert.True(rig.Link.Outbound.IsNone);
    }

    [Fact]
    public void A_fixed_delay_is_exact()
    {
        var rig = new Rig(new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(50) });
        rig.SendAt(1000, 7);
        rig.SendAt(3000, 8);
        rig.Scheduler.Start();
        Assert.Equal(new[] { 1000 + 50 * Ms, 3000 + 50 * Ms }, rig.AtB.Select(x => x.At));
        Assert.Equal(new byte[] { 7 }, rig.AtB[0].Frame);
    }

    [Fact]
    public void Jitter_stays_within_its_bound_and_is_repeatable()
    {
        long[] Arrivals(int seed)
        {
            var rig = new Rig(new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10), Jitter = TimeSpan.FromMilliseconds(5) }, seed: seed);
            for (int i = 0; i < 200; i++) rig.SendAt(1 + i * 100 * Ms, (byte)i); // far apart: no overtaking
            rig.Scheduler.Start();
            return rig.AtB.Select((x, i) => x.At - (1 + i * 100 * Ms)).ToArray();
        }

        long[] delays = Arrivals(1);
        Assert.Equal(200, delays.Length);
        Assert.All(delays, d => Assert.InRange(d, 10 * Ms, 15 * Ms));
        Assert.True(delays.Distinct().Count() > 150, "jitter should vary the delay");
        Assert.Equal(delays, Arrivals(1));
        Assert.NotEqual(delays, Arrivals(2));
    }

    [Fact]
    public void Loss_over_ten_thousand_frames_matches_the_probability()
    {
        var rig = new Rig(new ImpairmentOptions { Loss = 0.25 }, seed: 7);
        var frame = new byte[64];
        for (int i = 0; i < 10_000; i++) rig.Link.Transmit.OnNext(frame);

        var c = rig.Link.OutboundCounters;
        Assert.Equal(10_000, c.Offered);
        Assert.InRange(c.Lost, 2350, 2650); // ±3 standard deviations (43) is 2370..2630
        Assert.Equal(c.Offered - c.Lost, c.Delivered);
        Assert.Equal(c.Delivered, rig.AtB.Count);
    }

    [Fact]
    public void The_same_seed_gives_the_same_outcome()
    {
        var options = new ImpairmentOptions
        {
            Loss = 0.1, Delay = TimeSpan.FromMilliseconds(3), Jitter = TimeSpan.FromMilliseconds(4), Duplication = 0.05,
            Reordering = 0.1, Corruption = 0.05, BandwidthBytesPerSecond = 1_000_000,
        };
        string Run(int seed)
        {
            var rig = new Rig(options, seed: seed);
            rig.SendNumbered(2000, Ms);
            rig.Scheduler.Start();
            return string.Join(";", rig.AtB.Select(x => $"{x.At}:{Convert.ToHexString(x.Frame)}")) + "|" + rig.Link.OutboundCounters;
        }

        string first = Run(123);
        Assert.Equal(first, Run(123));
        Assert.NotEqual(first, Run(124));
    }

    [Fact]
    public void Bandwidth_serialises_frames_one_after_another()
    {
        // 1000 bytes/s: a 100-byte frame takes 100 ms on the wire, then 5 ms to propagate.
        var rig = new Rig(new ImpairmentOptions { BandwidthBytesPerSecond = 1000, Delay = TimeSpan.FromMilliseconds(5) });
        rig.SendAt(10 * Ms, new byte[100]);
        rig.SendAt(10 * Ms, new byte[100]);
        rig.SendAt(10 * Ms, new byte[50]);
        rig.SendAt(1000 * Ms, new byte[10]); // the link is idle again by then
        rig.Scheduler.Start();
        Assert.Equal(new[] { 115 * Ms, 215 * Ms, 265 * Ms, 1015 * Ms }, rig.AtB.Select(x => x.At));
    }

    [Fact]
    public void Duplication_delivers_extra_copies()
    {
        var rig = new Rig(new ImpairmentOptions { Duplication = 1 });
        rig.Link.Transmit.OnNext(new byte[] { 9 });
        Assert.Equal(2, rig.AtB.Count);
        Assert.Equal(1, rig.Link.OutboundCounters.Duplicated);
        Assert.Equal(2, rig.Link.OutboundCounters.Delivered);
    }

    [Fact]
    public void Corruption_flips_exactly_one_bit_of_a_copy()
    {
        var rig = new Rig(new ImpairmentOptions { Corruption = 1 });
        var original = Enumerable.Range(0, 40).Select(i => (byte)i).ToArray();
        var sent = original.ToArray();
        for (int i = 0; i < 50; i++) rig.Link.Transmit.OnNext(sent);

        Assert.Equal(original, sent); // the sender's buffer is untouched
        Assert.Equal(50, rig.Link.OutboundCounters.Corrupted);
        foreach (var (_, frame) in rig.AtB)
        {
            int differingBits = frame.Zip(original, (x, y) => System.Numerics.BitOperations.PopCount((uint)(x ^ y))).Sum();
            Assert.Equal(1, differingBits);
        }
        Assert.True(rig.AtB.Select(x => Convert.ToHexString(x.Frame)).Distinct().Count() > 10, "the flipped bit should vary");
    }

    [Fact]
    public void Reordering_holds_frames_back_so_later_ones_pass_them()
    {
        var rig = new Rig(new ImpairmentOptions { Reordering = 0.2, ReorderDelay = TimeSpan.FromMilliseconds(10) }, seed: 3);
        rig.SendNumbered(500, Ms);
        rig.Scheduler.Start();

        var order = rig.AtB.Select(x => Number(x.Frame)).ToList();
        Assert.Equal(Enumerable.Range(0, 500), order.Order()); // nothing lost or duplicated
        Assert.NotEqual(Enumerable.Range(0, 500), order);
        long held = rig.Link.OutboundCounters.Reordered;
        Assert.InRange(held, 60, 140);
        // A held frame arrives exactly ReorderDelay after it was sent.
        int late = rig.AtB.Count(x => x.At - (1 + Number(x.Frame) * Ms) == 10 * Ms);
        Assert.Equal(held, late);
    }

    [Fact]
    public void Directions_are_impaired_independently()
    {
        var rig = new Rig(outbound: null, inbound: new ImpairmentOptions { Loss = 1 });
        rig.Link.Transmit.OnNext(new byte[] { 1 });
        rig.B.Transmit.OnNext(new byte[] { 2 });
        Assert.Single(rig.AtB);
        Assert.Empty(rig.AtLink);
        Assert.Equal(1, rig.Link.InboundCounters.Lost);
        Assert.Equal(0, rig.Link.OutboundCounters.Lost);

        // One direction's random choices do not depend on the other direction's traffic.
        string Outcome(bool withInboundTraffic)
        {
            var r = new Rig(new ImpairmentOptions { Loss = 0.5 }, new ImpairmentOptions { Loss = 0.5 }, seed: 9);
            for (byte i = 0; i < 100; i++)
            {
                r.Link.Transmit.OnNext(new[] { i });
                if (withInboundTraffic) r.B.Transmit.OnNext(new[] { i });
            }
            return string.Join(",", r.AtB.Select(x => x.Frame[0]));
        }
        Assert.Equal(Outcome(false), Outcome(true));
    }

    [Fact]
    public void Inbound_delay_applies_to_received_frames()
    {
        var rig = new Rig(outbound: null, inbound: new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(20) });
        rig.Scheduler.ScheduleAbsolute(0, 100, (_, _) =>
        {
            rig.B.Transmit.OnNext(new byte[] { 5 });
            return System.Reactive.Disposables.Disposable.Empty;
        });
        rig.Scheduler.Start();
        Assert.Equal(100 + 20 * Ms, Assert.Single(rig.AtLink).At);
    }

    [Fact]
    public void Completion_waits_for_frames_in_flight()
    {
        var rig = new Rig(new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(5) });
        rig.SendAt(100, 1);
        rig.Scheduler.ScheduleAbsolute(0, 200, (_, _) =>
        {
            rig.Link.Transmit.OnCompleted();
            return System.Reactive.Disposables.Disposable.Empty;
        });
        rig.Scheduler.AdvanceTo(300);
        Assert.False(rig.BCompleted);
        rig.Scheduler.Start();
        Assert.Single(rig.AtB);
        Assert.True(rig.BCompleted);
    }

    [Fact]
    public void Dispose_discards_frames_in_flight()
    {
        var rig = new Rig(new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(5) });
        bool completed = false;
        rig.Link.Received.Subscribe(_ => { }, () => completed = true);
        rig.Link.Transmit.OnNext(new byte[] { 1 });
        rig.Link.Dispose();
        rig.Scheduler.Start();
        Assert.Empty(rig.AtB);
        Assert.Equal(1, rig.Link.OutboundCounters.Discarded);
        Assert.True(completed);
    }

    [Fact]
    public void Invalid_options_are_rejected()
    {
        var (a, _) = PipeDevice.CreatePair();
        var scheduler = new TestScheduler();
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImpairedLink(a, scheduler, new ImpairmentOptions { Loss = 1.5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImpairedLink(a, scheduler, null, new ImpairmentOptions { Delay = TimeSpan.FromTicks(-1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImpairedLink(a, scheduler, new ImpairmentOptions { Corruption = double.NaN }));
    }

    [Fact]
    public void The_inner_devices_checksum_offload_passes_through_less_the_directions_that_corrupt()
    {
        var scheduler = new TestScheduler();
        var (a, _) = PipeDevice.CreatePair(checksumOffload: ChecksumOffload.Both);
        Assert.Equal(ChecksumOffload.Both, ((IPacketDevice)new ImpairedLink(a, scheduler, new ImpairmentOptions { Loss = 0.5 })).ChecksumOffload);
        Assert.Equal(ChecksumOffload.Transmit,
            ((IPacketDevice)new ImpairedLink(a, scheduler, inbound: new ImpairmentOptions { Corruption = 0.1 })).ChecksumOffload);
        Assert.Equal(ChecksumOffload.Receive,
            ((IPacketDevice)new ImpairedLink(a, scheduler, outbound: new ImpairmentOptions { Corruption = 0.1 })).ChecksumOffload);
        var (plain, _) = PipeDevice.CreatePair();
        Assert.Equal(ChecksumOffload.None, ((IPacketDevice)new ImpairedLink(plain, scheduler)).ChecksumOffload);
    }
}
