using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>Batch receives: one request takes every queued datagram (up to a maximum), oldest first, and a waiting batch gets
/// the whole burst that arrives in one pass.</summary>
public sealed class UdpBatchReceiveTests
{
    private static readonly NetEndpoint ToB = new(StackPair.B4, 7000);

    /// <summary>A sender on A (port 7001) and a receiver on B (port 7000).</summary>
    private static (UdpSocket A, UdpSocket B) Bind(StackPair pair) =>
        (pair.Scheduler.Await(pair.A.BindUdpAsync(7001)), pair.Scheduler.Await(pair.B.BindUdpAsync(7000)));

    [Fact]
    public void A_batch_takes_the_queued_datagrams_in_order_up_to_its_maximum()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (a, b) = Bind(pair);
        for (byte i = 1; i <= 5; i++) s.Await(a.SendAsync(new[] { i }, ToB));

        IReadOnlyList<Datagram> first = s.Await(b.ReceiveBatchAsync(maxDatagrams: 3));
        IReadOnlyList<Datagram> rest = s.Await(b.ReceiveBatchAsync(maxDatagrams: 3));

        Assert.Equal(new byte[] { 1, 2, 3 }, first.Select(d => d.Data.Span[0]));
        Assert.Equal(new byte[] { 4, 5 }, rest.Select(d => d.Data.Span[0]));
        Assert.All(first.Concat(rest), d => Assert.Equal(new NetEndpoint(StackPair.A4, 7001), d.Source));
    }

    [Fact]
    public void A_waiting_batch_gets_the_burst_that_arrives_in_one_pass()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (a, b) = Bind(pair);
        Task<IReadOnlyList<Datagram>> batch = b.ReceiveBatchAsync();
        s.AdvanceBy(1);
        Assert.False(batch.IsCompleted);

        // Three sends submitted before the engine runs: A emits them in one pass, B takes them in one.
        Task[] sends = [a.SendAsync("x"u8.ToArray(), ToB), a.SendAsync("yy"u8.ToArray(), ToB), a.SendAsync("zzz"u8.ToArray(), ToB)];
        IReadOnlyList<Datagram> got = s.Await(batch);

        Assert.All(sends, t => Assert.True(t.IsCompletedSuccessfully));
        Assert.Equal([1, 2, 3], got.Select(d => d.Data.Length));
    }

    [Fact]
    public void A_Received_subscriber_that_stops_leaves_the_datagrams_it_did_not_see_in_the_socket()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (a, b) = Bind(pair);
        for (byte i = 1; i <= 3; i++) s.Await(a.SendAsync(new[] { i }, ToB));

        var seen = new List<byte>();
        using (b.Received.Take(1).Subscribe(d => seen.Add(d.Data.Span[0]))) s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);

        Assert.Equal(new byte[] { 1 }, seen);
        Assert.Equal(2, s.Await(b.ReceiveAsync()).Data.Span[0]);
        Assert.Equal(3, s.Await(b.ReceiveAsync()).Data.Span[0]);
    }

    [Fact]
    public void Datagrams_longer_than_the_maximum_length_are_cut_and_flagged()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (a, b) = Bind(pair);
        s.Await(a.SendAsync(new byte[10], ToB));

        Datagram d = Assert.Single(s.Await(b.ReceiveBatchAsync(maxLength: 4)));

        Assert.Equal(4, d.Data.Length);
        Assert.True(d.Truncated);
        Assert.Equal(10, d.OriginalLength);
    }

    [Fact]
    public void A_batch_of_no_datagrams_is_a_bad_request()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        UdpSocket b = s.Await(pair.B.BindUdpAsync(7000));
        var error = Assert.Throws<NetstackException>(() => s.Await(b.ReceiveBatchAsync(maxDatagrams: 0)));
        Assert.Equal(NetstackErrorKind.BadRequest, error.Error.Kind);
    }
}
