using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Direct placement: in-order data for a reader waiting with its own buffer goes straight into that buffer (the receive ring
/// stays empty and the window open), and a cancelled reader never takes bytes with it.
/// </summary>
public sealed class TcpDirectReadTests
{
    [Fact]
    public void Data_for_a_waiting_reader_lands_in_its_buffer_and_the_receive_buffer_stays_empty()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp();
        var buffer = new byte[8192];
        Task<int> read = server.ReadAsync(buffer).AsTask();
        s.AdvanceBy(1);
        Assert.False(read.IsCompleted);

        s.Await(client.SendAsync("straight in"u8.ToArray()));
        int n = s.Await(read);

        Assert.Equal("straight in", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        var info = s.Await(server.GetInfoAsync());
        Assert.Equal(0, info.ReceiveQueued);
        Assert.Equal(11, info.BytesReceived);
    }

    [Fact]
    public void A_reader_cancelled_before_data_arrives_takes_none_of_it_the_next_read_gets_all()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp();
        var first = new byte[100];
        using var cancel = new CancellationTokenSource();
        Task<int> abandoned = server.ReadAsync(first, cancel.Token).AsTask();
        s.AdvanceBy(1); // the reader waits, its buffer offered
        Task send = client.SendAsync("keep every byte"u8.ToArray());
        cancel.Cancel(); // before B's pass runs: the cancellation is taken first, the data must go to the ring

        // The cancelled task's continuations may finish on another thread: wait for it (bounded), then look.
        Assert.True(((IAsyncResult)abandoned).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5)));
        Assert.True(abandoned.IsCanceled, $"{abandoned.Status} {abandoned.Exception}");
        s.Await(send);
        var second = new byte[100];
        int n = s.Await(server.ReadAsync(second).AsTask());
        Assert.Equal("keep every byte", System.Text.Encoding.ASCII.GetString(second, 0, n));
        Assert.All(first, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Many_small_reads_and_a_large_transfer_arrive_intact_in_order()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = pair.ConnectTcp();
        byte[] data = new byte[300_000];
        new Random(11).NextBytes(data);
        Task send = client.SendAsync(data);
        byte[] received = pair.ReadExactly(server, data.Length, bufferSize: 777); // smaller than a segment: its rest goes to the ring
        s.Await(send);
        Assert.Equal(data, received);
    }
}
