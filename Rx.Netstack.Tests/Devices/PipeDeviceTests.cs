using System.Reactive.Concurrency;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

public sealed class PipeDeviceTests
{
    [Fact]
    public void Synchronous_pipe_hands_the_same_frame_to_the_other_end_in_both_directions()
    {
        var (a, b) = PipeDevice.CreatePair();
        var atB = new List<byte[]>();
        var atA = new List<byte[]>();
        b.Received.Subscribe(f => atB.Add(f.ToArray()));
        a.Received.Subscribe(f => atA.Add(f.ToArray()));

        a.Transmit.OnNext(new byte[] { 1, 2, 3 });
        Assert.Single(atB); // delivered before OnNext returned
        b.Transmit.OnNext(new byte[] { 9 });

        Assert.Equal(new byte[] { 1, 2, 3 }, atB[0]);
        Assert.Equal(new byte[] { 9 }, Assert.Single(atA));
        Assert.False(a.IsQueued);
    }

    [Fact]
    public void Synchronous_mode_borrows_the_callers_buffer()
    {
        var (a, b) = PipeDevice.CreatePair();
        var frame = new byte[] { 5, 6 };
        ReadOnlyMemory<byte> seen = default;
        b.Received.Subscribe(f => seen = f);
        a.Transmit.OnNext(frame);
        Assert.True(seen.Span == frame.AsSpan()); // same memory, no copy
    }

    [Fact]
    public void Frames_longer_than_the_mtu_are_dropped_and_counted()
    {
        var (a, b) = PipeDevice.CreatePair(mtu: 100);
        int received = 0;
        b.Received.Subscribe(_ => received++);
        a.Transmit.OnNext(new byte[100]);
        a.Transmit.OnNext(new byte[101]);
        Assert.Equal(1, received);
        Assert.Equal(1, a.DroppedOversize);
        Assert.Equal(1, a.Dropped);
        Assert.Equal(0, b.Dropped);
    }

    [Fact]
    public void Synchronous_mode_allocates_nothing_per_frame()
    {
        var (a, b) = PipeDevice.CreatePair();
        long sum = 0;
        b.Received.Subscribe(f => sum += f.Span[0]);
        var frame = new ReadOnlyMemory<byte>(new byte[1500]);
        a.Transmit.OnNext(frame); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) a.Transmit.OnNext(frame);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Queued_mode_copies_and_delivers_on_the_scheduler()
    {
        var scheduler = new TestScheduler();
        var (a, b) = PipeDevice.CreatePair(capacity: 4, scheduler: scheduler);
        var seen = new List<(long At, byte[] Frame)>();
        b.Received.Subscribe(f => seen.Add((scheduler.Clock, f.ToArray())));

        var frame = new byte[] { 1, 2, 3 };
        scheduler.AdvanceTo(100);
        a.Transmit.OnNext(frame);
        frame[0] = 42; // the caller reuses its buffer at once: the queue must hold a copy
        Assert.Empty(seen);

        scheduler.AdvanceTo(101);
        Assert.Equal(new byte[] { 1, 2, 3 }, Assert.Single(seen).Frame);
        Assert.Equal(101, seen[0].At); // TestScheduler runs "now" work one tick later
        Assert.True(a.IsQueued);
    }

    [Fact]
    public void Queued_mode_drops_and_counts_when_full_and_keeps_order()
    {
        var scheduler = new TestScheduler();
        var (a, b) = PipeDevice.CreatePair(capacity: 3, scheduler: scheduler);
        var seen = new List<byte>();
        b.Received.Subscribe(f => seen.Add(f.Span[0]));

        for (byte i = 0; i < 5; i++) a.Transmit.OnNext(new[] { i });
        scheduler.Start();

        Assert.Equal(new byte[] { 0, 1, 2 }, seen);
        Assert.Equal(2, a.DroppedQueueFull);
        Assert.Equal(2, a.Dropped);

        // The queue drained: there is room again.
        a.Transmit.OnNext(new byte[] { 7 });
        scheduler.Start();
        Assert.Equal(7, seen[^1]);
    }

    [Fact]
    public void Queued_mode_reuses_pooled_buffers_in_steady_state()
    {
        var scheduler = new TestScheduler();
        var (a, b) = PipeDevice.CreatePair(capacity: 64, scheduler: scheduler);
        long sum = 0;
        b.Received.Subscribe(f => sum += f.Length);
        var frame = new ReadOnlyMemory<byte>(new byte[1500]);

        void Burst()
        {
            for (int i = 0; i < 64; i++) a.Transmit.OnNext(frame);
            scheduler.Start();
        }

        Burst(); // fills the pool
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 20; round++) Burst();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // 1280 frames of 1500 bytes went through; only the scheduler's one work item per burst may allocate.
        Assert.True(allocated < 20 * 1024, $"allocated {allocated} bytes for 1280 frames");
        Assert.Equal(21 * 64 * 1500, sum);
    }

    [Fact]
    public void Disposing_one_end_completes_both_ends()
    {
        var (a, b) = PipeDevice.CreatePair();
        bool aDone = false, bDone = false;
        a.Received.Subscribe(_ => { }, () => aDone = true);
        b.Received.Subscribe(_ => { }, () => bDone = true);

        a.Dispose();

        Assert.True(aDone);
        Assert.True(bDone);
        int after = 0;
        b.Received.Subscribe(_ => after++);
        a.Transmit.OnNext(new byte[1]);
        Assert.Equal(0, after);
    }

    [Fact]
    public void Transmit_OnError_reaches_the_other_end()
    {
        var (a, b) = PipeDevice.CreatePair();
        Exception? seen = null;
        b.Received.Subscribe(_ => { }, e => seen = e);
        var boom = new InvalidOperationException("boom");
        a.Transmit.OnError(boom);
        Assert.Same(boom, seen);
    }

    [Fact]
    public void Queued_graceful_close_delivers_pending_frames_before_completion()
    {
        var scheduler = new TestScheduler();
        var (a, b) = PipeDevice.CreatePair(capacity: 8, scheduler: scheduler);
        var events = new List<string>();
        b.Received.Subscribe(f => events.Add($"frame {f.Span[0]}"), () => events.Add("completed"));

        a.Transmit.OnNext(new byte[] { 1 });
        a.Transmit.OnNext(new byte[] { 2 });
        a.Transmit.OnCompleted();
        Assert.Empty(events);
        scheduler.Start();

        Assert.Equal(["frame 1", "frame 2", "completed"], events);
    }

    [Fact]
    public void Queued_dispose_discards_pending_frames_and_completes_on_the_scheduler()
    {
        var scheduler = new TestScheduler();
        var (a, b) = PipeDevice.CreatePair(capacity: 8, scheduler: scheduler);
        var events = new List<string>();
        b.Received.Subscribe(f => events.Add("frame"), () => events.Add("b completed"));
        a.Received.Subscribe(f => events.Add("frame"), () => events.Add("a completed"));

        a.Transmit.OnNext(new byte[] { 1 });
        b.Dispose();
        scheduler.Start();

        Assert.Equal(2, events.Count);
        Assert.Contains("a completed", events);
        Assert.Contains("b completed", events);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_segmentation_offload_a_TCP_super_segment_crosses_whole_and_anything_else_oversized_is_dropped(bool queued)
    {
        var scheduler = new TestScheduler();
        var (a, b) = queued
            ? PipeDevice.CreatePair(mtu: 1500, capacity: 4, scheduler: scheduler, checksumOffload: ChecksumOffload.Both, tcpSegmentationOffload: true)
            : PipeDevice.CreatePair(mtu: 1500, checksumOffload: ChecksumOffload.Both, tcpSegmentationOffload: true);
        var lengths = new List<int>();
        b.Received.Subscribe(f => lengths.Add(f.Length));

        a.Transmit.OnNext(Packet(version: 4, protocol: 6, length: 64_000));  // IPv4 TCP super-segment
        a.Transmit.OnNext(Packet(version: 6, protocol: 6, length: 65_575));  // IPv6 TCP, the longest there is
        a.Transmit.OnNext(Packet(version: 4, protocol: 17, length: 1501));   // UDP: no offload for it
        a.Transmit.OnNext(Packet(version: 6, protocol: 6, length: 65_576));  // longer than any IP packet
        scheduler.Start();

        Assert.Equal([64_000, 65_575], lengths);
        Assert.Equal(2, a.DroppedOversize);
        Assert.True(a.TcpSegmentationOffload && b.TcpSegmentationOffload);
    }

    private static byte[] Packet(int version, byte protocol, int length)
    {
        var packet = new byte[length];
        packet[0] = (byte)(version << 4);
        if (version == 4) packet[9] = protocol;
        else packet[6] = protocol;
        return packet;
    }

    [Fact]
    public void Arguments_are_checked()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PipeDevice.CreatePair(mtu: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => PipeDevice.CreatePair(capacity: 0));
        Assert.Throws<ArgumentException>(() => PipeDevice.CreatePair(scheduler: ImmediateScheduler.Instance));
        // The stack sends super-segments only with transmit checksum offload: without it the option would mean nothing.
        Assert.Throws<ArgumentException>(() => PipeDevice.CreatePair(tcpSegmentationOffload: true));
    }
}
