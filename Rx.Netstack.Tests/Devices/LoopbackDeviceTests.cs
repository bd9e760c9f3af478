using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

public sealed class LoopbackDeviceTests
{
    [Fact]
    public void Transmitted_frames_come_back_later_on_the_scheduler_not_reentrantly()
    {
        var scheduler = new TestScheduler();
        var loop = new LoopbackDevice(scheduler);
        var seen = new List<byte[]>();
        bool inTransmit = false;
        bool reentered = false;
        loop.Received.Subscribe(f =>
        {
            reentered |= inTransmit;
            seen.Add(f.ToArray());
        });

        var frame = new byte[] { 4, 5, 6 };
        inTransmit = true;
        loop.Transmit.OnNext(frame);
        inTransmit = false;
        frame[0] = 0; // the device kept a copy
        Assert.Empty(seen);

        scheduler.Start();
        Assert.Equal(new byte[] { 4, 5, 6 }, Assert.Single(seen));
        Assert.False(reentered);
    }

    [Fact]
    public void A_receiver_that_transmits_gets_its_frame_in_a_later_delivery()
    {
        var scheduler = new TestScheduler();
        var loop = new LoopbackDevice(scheduler);
        var seen = new List<byte>();
        loop.Received.Subscribe(f =>
        {
            seen.Add(f.Span[0]);
            if (f.Span[0] < 3) loop.Transmit.OnNext(new[] { (byte)(f.Span[0] + 1) });
        });
        loop.Transmit.OnNext(new byte[] { 0 });
        scheduler.Start();
        Assert.Equal(new byte[] { 0, 1, 2, 3 }, seen);
    }

    [Fact]
    public void Mtu_defaults_to_65535_and_is_enforced()
    {
        var scheduler = new TestScheduler();
        Assert.Equal(65535, new LoopbackDevice(scheduler).Mtu);

        var small = new LoopbackDevice(scheduler, mtu: 576);
        int received = 0;
        small.Received.Subscribe(_ => received++);
        small.Transmit.OnNext(new byte[576]);
        small.Transmit.OnNext(new byte[577]);
        scheduler.Start();
        Assert.Equal(1, received);
        Assert.Equal(1, small.DroppedOversize);
    }

    [Fact]
    public void A_full_queue_drops_and_counts()
    {
        var scheduler = new TestScheduler();
        var loop = new LoopbackDevice(scheduler, capacity: 2);
        int received = 0;
        loop.Received.Subscribe(_ => received++);
        for (int i = 0; i < 5; i++) loop.Transmit.OnNext(new byte[10]);
        scheduler.Start();
        Assert.Equal(2, received);
        Assert.Equal(3, loop.DroppedQueueFull);
    }

    [Fact]
    public void Dispose_completes_received()
    {
        var scheduler = new TestScheduler();
        var loop = new LoopbackDevice(scheduler);
        bool completed = false;
        int frames = 0;
        loop.Received.Subscribe(_ => frames++, () => completed = true);
        loop.Transmit.OnNext(new byte[1]);
        loop.Dispose();
        scheduler.Start();
        Assert.True(completed);
        Assert.Equal(0, frames);
        loop.Transmit.OnNext(new byte[1]); // after close: ignored, not counted as a full queue
        Assert.Equal(0, loop.Dropped);
    }
}
