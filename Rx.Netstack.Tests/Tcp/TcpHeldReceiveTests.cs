using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Held receive: between two stacks on a synchronous pipe, large in-order payloads stay in the sender's handed-over frame
/// until read (no copy into the receive ring), count against the receive buffer like ring bytes, and give way to the ring
/// (in order) as soon as anything else arrives. And a reader that waited copies on its own thread when continuations run on
/// the thread pool.
/// </summary>
public sealed class TcpHeldReceiveTests
{
    private const int Buffer = 64 * 1024;
    private static readonly TcpSettings Settings = new() { SendBufferSize = Buffer, ReceiveBufferSize = Buffer };

    private static StackPair Pair(bool inline = true) =>
        new(mtu: 65535, configure: o => o with { RunContinuationsInline = inline }, checksumOffload: ChecksumOffload.Both);

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Fact]
    public void Large_payloads_are_held_fill_the_window_and_read_back_intact()
    {
        using var pair = Pair();
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp(settings: Settings);
        byte[] data = Pattern(3 * Buffer, 1);

        Task send = client.SendAsync(data); // the receiver reads nothing yet
        s.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
        var info = s.Await(server.GetInfoAsync());
        Assert.InRange(info.ReceiveQueued, Buffer - 1024, Buffer); // held bytes fill the buffer (to window-scale rounding) …
        Assert.InRange(info.ReceiveWindow, 0, Buffer - info.ReceiveQueued); // … and close the window like ring bytes
        Assert.True(pair.B.TcpCounters.SegmentsHeld > 0);

        byte[] received = pair.ReadExactly(server, data.Length, bufferSize: 10_000); // reads that end mid-segment
        s.Await(send);
        Assert.Equal(data, received);
        Assert.Equal(0, s.Await(server.GetInfoAsync()).ReceiveQueued);
    }

    [Fact]
    public void A_small_segment_after_held_ones_moves_them_into_the_ring_and_order_is_kept()
    {
        using var pair = Pair();
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp(settings: Settings);
        byte[] big = Pattern(20_000, 2), small = Pattern(100, 3), more = Pattern(30_000, 4);

        s.Await(client.SendAsync(big));    // held
        s.Await(client.SendAsync(small));  // too small to hold: the held bytes go into the ring first
        s.Await(client.SendAsync(more));   // held again, after the ring's bytes
        s.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
        Assert.Equal(big.Length + small.Length + more.Length, s.Await(server.GetInfoAsync()).ReceiveQueued);

        byte[] received = pair.ReadExactly(server, big.Length + small.Length + more.Length, bufferSize: 7_000);
        Assert.Equal(big.Concat(small).Concat(more).ToArray(), received);
    }

    [Fact]
    public void Aborting_and_closing_with_held_bytes_unread_lets_go_of_them()
    {
        using var pair = Pair();
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp(settings: Settings);
        s.Await(client.SendAsync(Pattern(Buffer, 5)));
        s.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
        Assert.True(pair.B.TcpCounters.SegmentsHeld > 0);

        s.Await(server.AbortAsync());
        s.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
        Assert.Throws<NetstackException>(() => s.Await(client.SendAsync(new byte[1]))); // the client saw the reset

        // The stacks go on: a new connection moves data through held frames again.
        var (client2, server2) = pair.ConnectTcp(port: 81, settings: Settings);
        byte[] data = Pattern(100_000, 6);
        Task send = client2.SendAsync(data);
        Assert.Equal(data, pair.ReadExactly(server2, data.Length));
        s.Await(send);
    }

    [Fact]
    public void With_continuations_on_the_thread_pool_a_waiting_reader_gets_held_bytes_through_a_second_ask()
    {
        using var pair = Pair(inline: false);
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp(settings: Settings);
        var buffer = new byte[Buffer];
        Task<int> read = server.ReadAsync(buffer).AsTask();
        s.AdvanceBy(1); // the read waits
        long commandsBefore = pair.B.GetStats().CommandsProcessed;
        byte[] data = Pattern(40_000, 7);

        s.AwaitOnThePool(client.SendAsync(data));
        int n = s.AwaitOnThePool(read);

        Assert.Equal(data.AsSpan(0, n).ToArray(), buffer.AsSpan(0, n).ToArray());
        Assert.True(n >= 4096);
        // The waiting read was answered "readable" and asked again (one more command), copying on its own thread; placed
        // directly in its buffer, there would have been none.
        Assert.Equal(1, pair.B.GetStats().CommandsProcessed - commandsBefore);
    }

    [Fact]
    public void Through_the_command_API_a_waiting_receive_is_always_answered_with_the_bytes()
    {
        using var pair = Pair(inline: false);
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp(settings: Settings);
        var buffer = new byte[Buffer];
        var replies = new List<Reply>();
        using var receiving = pair.B.Execute(new Command.TcpStream.ReceiveInto(server.Handle, buffer)).Subscribe(replies.Add);
        s.AdvanceBy(1);
        byte[] data = Pattern(40_000, 8);
        s.AwaitOnThePool(client.SendAsync(data));
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);

        int n = Assert.IsType<Reply.ReceivedInto>(Assert.Single(replies)).Count;
        Assert.Equal(data.AsSpan(0, n).ToArray(), buffer.AsSpan(0, n).ToArray());
    }
}
