using Rx.Netstack.Commands;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;
using Xunit.Abstractions;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>SYN flood (RFC 4987): spoofed SYNs from a test prefix at B's listener while A, a real client, connects.</summary>
[Collection(SerialCollection.Name)]
public sealed class SynFloodTests(ITestOutputHelper output)
{
    private const int Backlog = 128;

    [Fact]
    public void Hundred_thousand_spoofed_syns_keep_memory_bounded_and_a_real_client_connects_through_syn_cookies()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listen = (Reply.Listening)s.Await(pair.B.Execute(new Command.TcpListen.Listen(new NetEndpoint(NetAddress.AnyV4, 80), Backlog)));
        Reply? accepted = null;
        pair.B.Execute(new Command.TcpListen.Accept(listen.Listener)).Subscribe(r => accepted = r);
        long memoryBefore = GC.GetTotalMemory(forceFullCollection: true);

        var random = new Random(4987);
        Reply? connected = null;
        int maxSockets = 0;
        const int Total = 100_000, Batch = 2000;
        for (int sent = 0; sent < Total; sent += Batch)
        {
            for (int i = 0; i < Batch; i++)
            {
                // Sources inside 198.18.0.0/15 (RFC 2544 benchmarking), random ports and ISNs.
                var source = NetAddress.V4(0xC612_0000u | (uint)random.Next(1 << 17));
                var syn = new TcpHeader((ushort)random.Next(1024, 65536), 80, TcpFlags.Syn)
                {
                    Sequence = new SeqNumber((uint)random.NextInt64()), Window = 65535, MaxSegmentSize = 1460,
                };
                pair.DeviceA.Transmit.OnNext(Forge.Tcp(source, StackPair.B4, syn));
            }
            if (sent == Total / 2)
                pair.A.Execute(new Command.TcpStream.Connect(new NetEndpoint(StackPair.B4, 80))).Subscribe(r => connected = r);
            s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
            maxSockets = Math.Max(maxSockets, pair.B.SocketCount);
            // The listener, the SYN queue (the first Backlog SYNs; every later one gets a cookie) and the one real connection.
            Assert.InRange(pair.B.SocketCount, 1, 1 + Backlog + 1);
        }

        var stats = pair.B.GetStats();
        long memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"{Total:N0} spoofed SYNs; B held at most {maxSockets} sockets; SYN cookies sent {stats.SynCookiesSent:N0}, accepted {stats.SynCookiesAccepted}; " +
            $"managed memory {memoryBefore / 1024:N0} KiB before, {memoryAfter / 1024:N0} KiB after");
        Assert.True(stats.SynCookiesSent >= Total - Backlog, $"cookies sent: {stats.SynCookiesSent}");

        // The real client got through during the flood, by cookie, and the connection carries data.
        var c = Assert.IsType<Reply.Connected>(connected);
        Assert.Equal(1, stats.SynCookiesAccepted);
        var a = Assert.IsType<Reply.Accepted>(accepted);
        s.Await(pair.A.Execute(new Command.TcpStream.Send(c.Socket, "through the flood"u8.ToArray())));
        var data = Assert.IsType<Reply.Data>(s.Await(pair.B.Execute(new Command.TcpStream.Receive(a.Socket))));
        Assert.Equal("through the flood"u8.ToArray(), data.Bytes.ToArray());
        // Bounded: no per-SYN state kept beyond the SYN queue (docs/reliability.md measured 0.4 MiB of growth; a byte per SYN is 0.1 MiB).
        Assert.InRange(memoryAfter - memoryBefore, long.MinValue, 2 * 1024 * 1024);

        // Once the half-open connections give up, only the listener and the real connection remain.
        s.AdvanceBy(TimeSpan.FromMinutes(3).Ticks);
        Assert.Equal(2, pair.B.SocketCount);
    }

    [Fact]
    public void A_cookie_ack_that_finds_the_accept_queue_full_is_dropped_not_reset_and_admitted_when_it_comes_again()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var listen = (Reply.Listening)s.Await(pair.B.Execute(new Command.TcpListen.Listen(new NetEndpoint(NetAddress.AnyV4, 80), 2)));
        var fromB = new List<(TcpHeader Header, int Length)>();
        var synAckSequence = new Dictionary<int, SeqNumber>(); // B's ISN (or cookie) per peer port
        using var tap = pair.DeviceA.Received.Subscribe(f =>
        {
            if (!Forge.TryReadTcp(f.ToArray(), out _, out _, out TcpHeader h, out int n)) return;
            fromB.Add((h, n));
            if (h.Has(TcpFlags.Syn)) synAckSequence[h.DestinationPort] = h.Sequence;
        });
        var peer = NetAddress.Parse("198.18.0.1"); // RFC 2544 benchmarking range: B answers into the pipe, A drops it
        TcpHeader Syn(int i) => new((ushort)(2000 + i), 80, TcpFlags.Syn) { Sequence = new SeqNumber(1000u * (uint)(i + 1)), Window = 65535, MaxSegmentSize = 1460 };
        TcpHeader AckOf(int i) => new((ushort)(2000 + i), 80, TcpFlags.Ack)
        {
            Sequence = Syn(i).Sequence + 1, Acknowledgment = synAckSequence[2000 + i] + 1,
            Window = 65535,
        };
        void Send(TcpHeader header, byte[]? payload = null)
        {
            pair.DeviceA.Transmit.OnNext(Forge.Tcp(peer, StackPair.B4, header, payload));
            s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        }

        // Two SYNs fill the SYN queue; the third is answered with a cookie. Then the first two complete: the accept queue is full.
        for (int i = 0; i < 3; i++) Send(Syn(i));
        Assert.Equal(1, pair.B.GetStats().SynCookiesSent);
        Send(AckOf(0));
        Send(AckOf(1));

        // The cookie's ACK meets the full accept queue: dropped and counted, no RST (Linux does the same).
        fromB.Clear();
        Send(AckOf(2));
        Assert.DoesNotContain(fromB, x => x.Header.Has(TcpFlags.Rst));
        var stats = pair.B.GetStats();
        Assert.Equal((1L, 0L), (stats.Drops[Diagnostics.DropReason.TcpListenOverflow], stats.SynCookiesAccepted));

        // The application accepts one; the peer's next segment (data, acknowledging the same cookie) is admitted.
        Assert.IsType<Reply.Accepted>(s.Await(pair.B.Execute(new Command.TcpListen.Accept(listen.Listener))));
        Send(AckOf(2) with { Flags = TcpFlags.Ack | TcpFlags.Psh }, "late"u8.ToArray());
        Assert.Equal(1, pair.B.GetStats().SynCookiesAccepted);
        Assert.IsType<Reply.Accepted>(s.Await(pair.B.Execute(new Command.TcpListen.Accept(listen.Listener))));
        var third = Assert.IsType<Reply.Accepted>(s.Await(pair.B.Execute(new Command.TcpListen.Accept(listen.Listener))));
        Assert.Equal(2002, third.Remote.Port);
        Assert.Equal("late"u8.ToArray(), Assert.IsType<Reply.Data>(s.Await(pair.B.Execute(new Command.TcpStream.Receive(third.Socket)))).Bytes.ToArray());
    }

    [Fact]
    public void Without_syn_cookies_a_full_syn_queue_drops_syns_and_counts_them()
    {
        using var pair = new StackPair(configure: o => o with { EnableSynCookies = false });
        var s = pair.Scheduler;
        s.Await(pair.B.Execute(new Command.TcpListen.Listen(new NetEndpoint(NetAddress.AnyV4, 80), 4)));
        for (int i = 0; i < 10; i++)
        {
            var syn = new TcpHeader((ushort)(2000 + i), 80, TcpFlags.Syn) { Sequence = new SeqNumber(1000u * (uint)i), Window = 1000 };
            pair.DeviceA.Transmit.OnNext(Forge.Tcp(NetAddress.Parse("198.18.0.1"), StackPair.B4, syn));
        }
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(1 + 4, pair.B.SocketCount);
        Assert.Equal(6, pair.B.GetStats().Drops[Diagnostics.DropReason.TcpListenOverflow]);
        Assert.Equal(0, pair.B.GetStats().SynCookiesSent);
    }
}
