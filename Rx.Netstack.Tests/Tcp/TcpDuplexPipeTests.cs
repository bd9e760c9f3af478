using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Back-pressure through <see cref="TcpDuplexPipe"/>: when the application does not read <c>Input</c>, the bytes held are
/// bounded by the pipe thresholds plus the TCP buffers, the peer's writer stalls, and nothing is lost once reading starts.
/// Deterministic: the stacks resume continuations inline, the pipes use inline schedulers and the writers and readers are
/// started on the test's thread, so everything runs on the test's thread within the step of virtual time that caused it.
/// </summary>
public sealed class TcpDuplexPipeTests
{
    private const int TcpBuffer = 16 * 1024;
    private const int Pause = 64 * 1024, Resume = 32 * 1024;
    private const int ReadSlack = 4096; // the receive pump's last read, made before the pipe paused it

    private static readonly PipeOptions Options = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: Pause, resumeWriterThreshold: Resume, useSynchronizationContext: false);
    private static readonly TcpSettings Settings = new() { SendBufferSize = TcpBuffer, ReceiveBufferSize = TcpBuffer };

    private static (TcpConnection Client, TcpConnection Server) Connect(StackPair pair) => pair.ConnectTcp(80, settings: Settings);

    private static void Advance(TestScheduler s, TimeSpan span) => s.AdvanceBy(span.Ticks);

    /// <summary>Writes <paramref name="data"/> 4 KiB at a time with <paramref name="write"/>; <paramref name="written"/> counts what
    /// each completed write took.</summary>
    private static async Task WriteInChunks(byte[] data, Func<ReadOnlyMemory<byte>, Task> write, StrongBox<long> written)
    {
        for (int off = 0; off < data.Length; off += 4096)
        {
            await write(data.AsMemory(off, 4096)).ConfigureAwait(false);
            written.Value += 4096;
        }
    }

    /// <summary>Lets the writer run into the stall (1 s), then checks it takes nothing more for 3 s and has not finished.</summary>
    private static void AssertStaysStalled(TestScheduler s, Task writing, StrongBox<long> written)
    {
        Advance(s, TimeSpan.FromSeconds(1));
        long stalledAt = written.Value;
        Advance(s, TimeSpan.FromSeconds(3));
        Assert.False(writing.IsCompleted);
        Assert.Equal(stalledAt, written.Value);
    }

    [Fact]
    public void A_peer_writing_to_a_pipe_nobody_reads_stalls_within_the_pipe_threshold_and_TCP_buffers()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var (client, server) = Connect(pair);
        var pipe = server.AsDuplexPipe(Options, Options);

        byte[] data = RandomNumberGenerator.GetBytes(1 << 20);
        var accepted = new StrongBox<long>();
        Task send = WriteInChunks(data, chunk => client.SendAsync(chunk), accepted);
        // A lossless pipe moves 1 MiB in a few ms of virtual time, but nobody reads pipe.Input: the writer stalls. The last
        // bytes may trickle in after ~RTO, when the sender's SWS override timer sends into a window smaller than a segment
        // (RFC 9293 §3.8.6.2.1); from then on the window is zero and it stays stalled for seconds (persist probes go out, no
        // more data is taken).
        AssertStaysStalled(s, send, accepted);
        var serverInfo = s.Await(server.GetInfoAsync());
        var clientInfo = s.Await(client.GetInfoAsync());
        Assert.Equal(0, serverInfo.ReceiveWindow); // back-pressure reached TCP: the window is closed
        Assert.Equal(0, clientInfo.SendWindow);
        // Full but for less than a segment: with its writer waiting for a chunk's worth of room the sender may have nothing
        // left for the last few hundred bytes, and receiver-side SWS avoidance keeps the window shut over them.
        Assert.InRange(serverInfo.ReceiveQueued, TcpBuffer - 1460, TcpBuffer);
        // A blocked writer takes room only once its whole 4 KiB chunk (or a third of the buffer) fits: the send buffer may stay
        // short of full by less than a chunk.
        Assert.InRange(clientInfo.SendQueued, TcpBuffer - 4096 + 1, TcpBuffer);
        // Bytes the writer got rid of: the server's receive buffer, the pipe up to its pause threshold (plus the pump's last
        // read), the client's send buffer; part of the 4 KiB send in progress may be queued too, without counting.
        long bound = TcpBuffer + Pause + ReadSlack + TcpBuffer;
        Assert.InRange(accepted.Value, Pause, bound);
        Assert.InRange(serverInfo.BytesReceived - serverInfo.ReceiveQueued, Pause, Pause + ReadSlack);

        // Reading starts: everything arrives intact.
        var received = new MemoryStream();
        async Task ReadAll()
        {
            while (received.Length < data.Length)
            {
                ReadResult r = await pipe.Input.ReadAsync().ConfigureAwait(false);
                foreach (var segment in r.Buffer) received.Write(segment.Span);
                pipe.Input.AdvanceTo(r.Buffer.End);
            }
        }
        Task read = ReadAll();
        Assert.True(s.RunUntil(() => read.IsCompleted && send.IsCompleted, TimeSpan.FromSeconds(30)));
        Assert.True(read.IsCompletedSuccessfully, read.Exception?.ToString());
        Assert.True(send.IsCompletedSuccessfully, send.Exception?.ToString());
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
        var flushed = new StrongBox<long>();
        Task write = WriteInChunks(data, chunk => pipe.Output.WriteAsync(chunk).AsTask(), flushed);
        // The client never reads: FlushAsync stops completing, and stays so for seconds.
        AssertStaysStalled(s, write, flushed);
        var clientInfo = s.Await(client.GetInfoAsync());
        Assert.Equal(0, clientInfo.ReceiveWindow);
        // The client's receive buffer, the server's send buffer, the output pipe up to its pause threshold, one write.
        Assert.InRange(flushed.Value, Pause - 4096, TcpBuffer + TcpBuffer + Pause + 4096);

        var received = new MemoryStream();
        async Task ReadAll()
        {
            var buffer = new byte[8192];
            while (received.Length < data.Length)
            {
                int n = await client.ReadAsync(buffer).ConfigureAwait(false);
                received.Write(buffer, 0, n);
            }
        }
        Task read = ReadAll();
        Assert.True(s.RunUntil(() => read.IsCompleted && write.IsCompleted, TimeSpan.FromSeconds(30)));
        Assert.True(read.IsCompletedSuccessfully, read.Exception?.ToString());
        Assert.True(write.IsCompletedSuccessfully, write.Exception?.ToString());
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
    }
}
