using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Back-pressure through <see cref="TcpDuplexPipe"/>: when the application does not read <c>Input</c>, the bytes held are
/// bounded by the pipe thresholds plus the TCP buffers, the peer's writer stalls, and nothing is lost once reading starts.
/// </summary>
[Collection(SerialCollection.Name)] // its pumps run on the thread pool while virtual time advances: run it alone
public sealed class TcpDuplexPipeTests
{
    private const int TcpBuffer = 16 * 1024;
    private const int Pause = 64 * 1024, Resume = 32 * 1024;
    private const int ReadSlack = 4096; // the receive pump's one pending read

    private static readonly PipeOptions Options = new(pauseWriterThreshold: Pause, resumeWriterThreshold: Resume, useSynchronizationContext: false);
    private static readonly TcpSettings Settings = new() { SendBufferSize = TcpBuffer, ReceiveBufferSize = TcpBuffer };

    private static (TcpConnection Client, TcpConnection Server) Connect(StackPair pair)
    {
        var s = pair.Scheduler;
        var listener = s.Await(TcpListener.ListenAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 80), settings: Settings));
        var accept = listener.AcceptAsync();
        var client = s.Await(TcpConnection.ConnectAsync(pair.A, new NetEndpoint(StackPair.B4, 80), settings: Settings));
        return (client, s.Await(accept));
    }

    /// <summary>
    /// Advances virtual time in 1 ms steps until <paramref name="until"/> holds or <paramref name="span"/> passed. Writers and
    /// pumps resume on the thread pool, so each step waits (up to 1 ms of real time) for <paramref name="progress"/> to move;
    /// after <paramref name="quietSteps"/> steps without progress it stops waiting and returns false.
    /// </summary>
    private static bool Run(TestScheduler s, TimeSpan span, Func<long> progress, Func<bool>? until = null, int quietSteps = 200)
    {
        long end = s.Clock + span.Ticks;
        int quiet = 0;
        while (s.Clock < end)
        {
            if (until?.Invoke() == true) return true;
            long before = progress();
            s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
            if (quiet < quietSteps && !SpinWait.SpinUntil(() => progress() != before || until?.Invoke() == true, TimeSpan.FromMilliseconds(1))) quiet++;
            else if (quiet < quietSteps) quiet = 0;
        }
        return until?.Invoke() == true;
    }

    [Fact(Skip = "Quarantined: whether the writer has stalled by 1 s of virtual time depends on thread-pool timing (the pump's last read can land after the check); fails about half the runs. To be made deterministic.")]
    public void A_peer_writing_to_a_pipe_nobody_reads_stalls_within_the_pipe_threshold_and_TCP_buffers()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair);
        var pipe = server.AsDuplexPipe(Options, Options);

        byte[] data = RandomNumberGenerator.GetBytes(1 << 20);
        long accepted = 0;
        var send = Task.Run(async () =>
        {
            for (int off = 0; off < data.Length; off += 4096)
            {
                await client.SendAsync(data.AsMemory(off, 4096));
                Interlocked.Add(ref accepted, 4096);
            }
        });
        // A lossless pipe moves 1 MiB in a few ms of virtual time, but nobody reads pipe.Input: the writer stalls, and stays
        // stalled for seconds (persist probes go out, no more data is taken).
        Run(s, TimeSpan.FromSeconds(1), () => Interlocked.Read(ref accepted));
        long stalledAt = Interlocked.Read(ref accepted);
        Run(s, TimeSpan.FromSeconds(3), () => Interlocked.Read(ref accepted));
        Assert.False(send.IsCompleted);
        Assert.Equal(stalledAt, Interlocked.Read(ref accepted));
        var serverInfo = s.Await(server.GetInfoAsync());
        var clientInfo = s.Await(client.GetInfoAsync());
        Assert.Equal(0, serverInfo.ReceiveWindow); // back-pressure reached TCP: the window is closed
        Assert.Equal(0, clientInfo.SendWindow);
        Assert.Equal(TcpBuffer, serverInfo.ReceiveQueued);
        // Bytes the writer got rid of: the server's receive buffer, the pipe up to its pause threshold (plus the pump's read),
        // the client's send buffer, and the one 4 KiB send in progress.
        long bound = TcpBuffer + Pause + ReadSlack + TcpBuffer;
        Assert.InRange(Interlocked.Read(ref accepted), TcpBuffer, bound);
        Assert.InRange(serverInfo.BytesReceived - TcpBuffer, Pause, Pause + ReadSlack);

        // Reading starts: everything arrives intact.
        var received = new MemoryStream();
        var read = Task.Run(async () =>
        {
            while (received.Length < data.Length)
            {
                ReadResult r = await pipe.Input.ReadAsync();
                foreach (var segment in r.Buffer) received.Write(segment.Span);
                pipe.Input.AdvanceTo(r.Buffer.End);
            }
        });
        Assert.True(Run(s, TimeSpan.FromSeconds(30), () => received.Length, () => read.IsCompleted && send.IsCompleted));
        Assert.True(read.IsCompleted && send.IsCompleted);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
    }

    [Fact]
    public void Writing_to_a_pipe_whose_peer_does_not_read_makes_FlushAsync_wait()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair);
        var pipe = server.AsDuplexPipe(Options, Options);

        byte[] data = RandomNumberGenerator.GetBytes(1 << 20);
        long flushed = 0;
        var write = Task.Run(async () =>
        {
            for (int off = 0; off < data.Length; off += 4096)
            {
                await pipe.Output.WriteAsync(data.AsMemory(off, 4096));
                Interlocked.Add(ref flushed, 4096);
            }
        });
        // The client never reads: FlushAsync stops completing, and stays so for seconds.
        Run(s, TimeSpan.FromSeconds(1), () => Interlocked.Read(ref flushed));
        long stalledAt = Interlocked.Read(ref flushed);
        Run(s, TimeSpan.FromSeconds(3), () => Interlocked.Read(ref flushed));
        Assert.False(write.IsCompleted);
        Assert.Equal(stalledAt, Interlocked.Read(ref flushed));
        var clientInfo = s.Await(client.GetInfoAsync());
        Assert.Equal(0, clientInfo.ReceiveWindow);
        // The client's receive buffer, the server's send buffer, the output pipe up to its pause threshold, one write.
        Assert.InRange(Interlocked.Read(ref flushed), Pause - 4096, TcpBuffer + TcpBuffer + Pause + 4096);

        var received = new MemoryStream();
        var read = Task.Run(async () =>
        {
            var buffer = new byte[8192];
            while (received.Length < data.Length)
            {
                int n = await client.ReadAsync(buffer);
                received.Write(buffer, 0, n);
            }
        });
        Assert.True(Run(s, TimeSpan.FromSeconds(30), () => received.Length, () => read.IsCompleted && write.IsCompleted));
        Assert.True(read.IsCompleted && write.IsCompleted);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
    }
}
