using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// How a sender blocked on a full send buffer is woken (the write-space rule, as Linux's sk_stream_write_space): only once
/// its whole rest or a third of the buffer fits, not for every ACK that frees a segment — and large transfers over a pipe
/// that carries TCP super-segments whole (segmentation offload) arrive intact.
/// </summary>
public sealed class TcpSendBufferTests
{
    private const int Buffer = 12 * 1024; // a third is 4 KiB

    [Fact]
    public void A_blocked_send_is_answered_once_a_third_of_the_buffer_is_free_not_for_each_segment_acknowledged()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var settings = new TcpSettings { SendBufferSize = Buffer, ReceiveBufferSize = Buffer };
        var (client, server) = pair.ConnectTcp(settings: settings);
        // Fill the server's receive buffer and then the client's send buffer.
        s.Await(client.SendAsync(new byte[2 * Buffer]));

        var replies = new List<Reply>();
        using var blocked = pair.A.Execute(new Command.TcpStream.Send(client.Handle, new byte[8192])).Subscribe(replies.Add);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Empty(replies);

        // The server reads 3 KiB (enough for a window update): 3 KiB more cross, the ACK frees 3 KiB of the client's buffer —
        // less than a third of it and less than the 8 KiB waiting, so the sender stays asleep.
        Assert.Equal(3072, pair.ReadExactly(server, 3072, bufferSize: 3072).Length);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.InRange(s.Await(client.GetInfoAsync()).SendQueued, Buffer - 3072, Buffer - 1); // whole segments went
        Assert.Empty(replies);

        // Another 3 KiB read frees about 6 KiB in all: the sender takes all of it in one go.
        Assert.Equal(3072, pair.ReadExactly(server, 3072, bufferSize: 3072).Length);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        var sent = Assert.IsType<Reply.Sent>(Assert.Single(replies));
        Assert.InRange(sent.Bytes, Buffer / 3, 6144);
        Assert.Equal(Buffer, s.Await(client.GetInfoAsync()).SendQueued);
    }

    [Fact]
    public void A_send_whose_rest_fits_is_answered_even_below_a_third_of_the_buffer()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var settings = new TcpSettings { SendBufferSize = Buffer, ReceiveBufferSize = Buffer };
        var (client, server) = pair.ConnectTcp(settings: settings);
        s.Await(client.SendAsync(new byte[2 * Buffer]));

        var replies = new List<Reply>();
        using var blocked = pair.A.Execute(new Command.TcpStream.Send(client.Handle, new byte[1000])).Subscribe(replies.Add);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Empty(replies);
        pair.ReadExactly(server, 3072, bufferSize: 3072); // frees 3 KiB of the client's buffer
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.Equal(1000, Assert.IsType<Reply.Sent>(Assert.Single(replies)).Bytes);
    }

    [Fact]
    public void Over_a_pipe_with_segmentation_offload_super_segments_cross_whole_and_a_large_transfer_arrives_intact()
    {
        using var pair = new StackPair(mtu: 1500, checksumOffload: ChecksumOffload.Both, segmentationOffload: true);
        var s = pair.Scheduler;
        var settings = new TcpSettings { SendBufferSize = 256 * 1024, ReceiveBufferSize = 256 * 1024 };
        var (client, server) = pair.ConnectTcp(settings: settings);
        int longest = 0;
        using var watch = pair.DeviceB.Received.Subscribe(f => longest = Math.Max(longest, f.Length));
        byte[] data = new byte[4 << 20];
        new Random(9).NextBytes(data);

        Task send = client.SendAsync(data);
        byte[] received = pair.ReadExactly(server, data.Length);
        s.Await(send);

        Assert.Equal(data, received);
        Assert.InRange(longest, 1501, 65535);
        Assert.Equal(0, pair.DeviceA.Dropped);
        var stats = pair.A.GetStats();
        Assert.InRange(stats.FramesOut, 1, data.Length / 1460 / 4); // far fewer frames than 1,460-byte segments
        Assert.Equal(0, stats.TcpRetransmissions);
    }
}
