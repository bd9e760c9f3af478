using System.Security.Cryptography;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A slow <see cref="TcpConnection.Received"/> subscriber on two stacks in virtual time: its notifications are delivered on a
/// scheduler of their own (a second <see cref="Microsoft.Reactive.Testing.TestScheduler"/>, as a UI thread would be) that the
/// test lets run once per virtual 100 ms, so each chunk is held until then — exactly what a slow <c>OnNext</c> does, and the
/// next chunk is asked for only after it returns. The sender must stall on a zero window, memory must stay within the
/// connection's buffers, and every byte must arrive. No thread pool, no real time.
/// </summary>
public sealed class TcpSlowReceiverTests
{
    private const int Buffer = 64 * 1024;
    // A whole number of full segments (1448 payload bytes with timestamps): otherwise the last few hundred bytes of the window
    // stay open until the sender's SWS-override timer (RFC 9293 §3.8.6.2.1) and the window is tiny but not zero.
    private const int ReceiveBuffer = 45 * 1448;
    private static readonly TimeSpan ChunkPeriod = TimeSpan.FromMilliseconds(100);

    [Fact]
    public void A_slow_Received_subscriber_closes_the_window_the_sender_stalls_and_no_byte_is_lost()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var settings = new TcpSettings { SendBufferSize = Buffer, ReceiveBufferSize = ReceiveBuffer };
        var listener = s.Await(TcpConnectionListener.ListenAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 80), settings: settings));
        var accept = listener.AcceptAsync();
        var client = s.Await(TcpConnection.ConnectAsync(pair.A, new NetEndpoint(StackPair.B4, 80), settings: settings));
        var server = s.Await(accept);

        byte[] data = new byte[4 << 20];
        new Random(11).NextBytes(data);

        // The slow subscriber: delivered on a consumer scheduler the test runs only once per chunk period.
        var consumer = new Microsoft.Reactive.Testing.TestScheduler();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long consumed = 0;
        int inOnNext = 0, maxInOnNext = 0, largestChunk = 0, chunks = 0;
        bool completed = false;
        Exception? failed = null;
        using var subscription = server.ReceivedOn(consumer).Subscribe(chunk =>
        {
            maxInOnNext = Math.Max(maxInOnNext, ++inOnNext);
            largestChunk = Math.Max(largestChunk, chunk.Length);
            chunks++;
            hash.AppendData(chunk.Span);
            consumed += chunk.Length;
            inOnNext--;
        }, e => failed = e, () => completed = true);

        // The sender pushes 4 MB in one SendAsync, then closes.
        Task send = client.SendAsync(data);
        Task? closed = null; // the close follows the send (started by the loop below, on this thread)

        // Sample both ends every 10 ms on the engine (replies arrive while the scheduler runs).
        int minReceiveWindow = int.MaxValue, maxReceiveQueued = 0, maxSendQueued = 0;
        bool senderSawZeroWindow = false;
        void Sample()
        {
            pair.B.Execute(new Command.TcpStream.GetInfo(server.Handle)).Subscribe(r =>
            {
                if (r is not Reply.Info { Connection: var info }) return;
                minReceiveWindow = Math.Min(minReceiveWindow, info.ReceiveWindow);
                maxReceiveQueued = Math.Max(maxReceiveQueued, info.ReceiveQueued);
            });
            pair.A.Execute(new Command.TcpStream.GetInfo(client.Handle)).Subscribe(r =>
            {
                if (r is not Reply.Info { Connection: var info }) return;
                senderSawZeroWindow |= info.SendWindow == 0 && info.State == TcpState.Established;
                maxSendQueued = Math.Max(maxSendQueued, info.SendQueued);
            });
        }

        long consumedWhenSendCompleted = -1;
        bool sendDoneAtOneSecond = true;
        long start = s.Clock;
        var limit = TimeSpan.FromSeconds(30);
        while (!completed && failed is null && s.Clock - start < limit.Ticks)
        {
            for (int ms = 0; ms < ChunkPeriod.TotalMilliseconds; ms++)
            {
                s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
                if (ms % 10 == 0) Sample();
                if (send.IsCompleted && consumedWhenSendCompleted < 0)
                {
                    consumedWhenSendCompleted = consumed;
                    closed = client.CloseAsync();
                }
            }
            if (s.Clock - start >= TimeSpan.FromSeconds(1).Ticks && s.Clock - start < TimeSpan.FromSeconds(1.1).Ticks)
                sendDoneAtOneSecond = send.IsCompleted;
            // One chunk per period: the consumer takes what was delivered to it (its next request reaches the engine then).
            consumer.AdvanceBy(1);
        }

        Assert.Null(failed);
        Assert.True(completed, $"not complete after {limit}: consumed {consumed} of {data.Length}");
        Assert.Equal(SHA256.HashData(data), hash.GetHashAndReset());
        Assert.Equal(data.Length, consumed);
        Assert.True(closed is { IsCompletedSuccessfully: true });

        // The reader set the pace: at most one chunk per 100 ms, each at most the receive buffer.
        Assert.Equal(1, maxInOnNext);
        Assert.InRange(largestChunk, 1, ReceiveBuffer);
        Assert.True(TimeSpan.FromTicks(s.Clock - start) >= ChunkPeriod * (chunks - 1));
        Assert.True(chunks >= data.Length / ReceiveBuffer);

        // Back-pressure: the receiver advertised a zero window, the sender saw it, and SendAsync waited for the reader.
        Assert.Equal(0, minReceiveWindow);
        Assert.True(senderSawZeroWindow);
        Assert.False(sendDoneAtOneSecond);
        Assert.True(consumedWhenSendCompleted >= data.Length - (Buffer + 2 * ReceiveBuffer),
            $"SendAsync completed when the reader had consumed only {consumedWhenSendCompleted} bytes");

        // Memory stayed within the connection's buffers on both ends.
        Assert.InRange(maxReceiveQueued, 1, ReceiveBuffer);
        Assert.InRange(maxSendQueued, 1, Buffer);
    }
}
