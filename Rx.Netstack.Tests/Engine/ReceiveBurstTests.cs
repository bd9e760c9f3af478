using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A device's read burst (<see cref="ReceiveBurst"/>): the frames delivered inside it wait in the inbox and are processed by one
/// pass when it ends, so the round's coalescer (GRO) merges their runs — a segment with a bad checksum never joins a run and is
/// counted as the stack counts it; without a burst every frame gets its pass and nothing merges. On a stack with its own event
/// loop the owed pass runs on the delivering thread when the burst ends.
/// </summary>
public sealed class ReceiveBurstTests : IDisposable
{
    private static readonly NetAddress Client = NetAddress.Parse("10.0.0.1"), Server = NetAddress.Parse("10.0.0.2");
    private const int PayloadLength = 1448;

    private readonly CountingScheduler _scheduler = new();
    private readonly SinkDevice _device = new();
    private readonly Netstack _stack;
    private readonly TcpControlBlock _tcb;
    private readonly SeqNumber _serverIsn;
    private SeqNumber _next = new(1001);

    public ReceiveBurstTests()
    {
        _stack = new Netstack(new NetstackOptions
        {
            Addresses = [new(Server, 24)],
            Tcp = new TcpSettings { ReceiveBufferSize = 256 * 1024 },
            RunContinuationsInline = true,
        }, _scheduler);
        _stack.Attach(_device);
        (_tcb, _serverIsn) = TcpFrames.Establish(_stack, _device, Client, Server);
    }

    /// <summary>The next in-order data segment of the connection, full-sized, checksums right; pushed if <paramref name="push"/>.</summary>
    private byte[] NextSegment(bool push = false)
    {
        TcpFlags flags = push ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack;
        byte[] frame = TcpFrames.Build(Client, Server, new TcpHeader(40000, 80, flags) { Window = 65535 }, PayloadLength);
        TcpFrames.Rewrite(frame, Client, Server, _next, _serverIsn + 1);
        _next += PayloadLength;
        return frame;
    }

    private int Drain()
    {
        byte[] buffer = new byte[256 * 1024];
        return _tcb.Receive(buffer);
    }

    [Fact]
    public void Frames_of_a_burst_wait_for_its_end_then_one_pass_merges_them()
    {
        NetstackStats before = _stack.GetStats();
        long passesAsked = _scheduler.Immediate, acks = _device.SentFrames;
        using (ReceiveBurst.Begin())
        {
            for (int i = 0; i < 8; i++) _device.Inject(NextSegment());
            Assert.Equal(passesAsked, _scheduler.Immediate); // no pass yet: the frames wait in the inbox
            Assert.Equal(before.TcpIn, _stack.GetStats().TcpIn);
        }

        NetstackStats after = _stack.GetStats();
        Assert.Equal(passesAsked + 1, _scheduler.Immediate);
        Assert.Equal(before.Passes + 1, after.Passes);
        Assert.Equal(before.TcpIn + 8, after.TcpIn);
        Assert.Equal(before.SegmentsCoalesced + 8, after.SegmentsCoalesced);
        Assert.Equal(acks + 1, _device.SentFrames); // one ACK for the run
        Assert.Equal(8 * PayloadLength, Drain());
    }

    [Fact]
    public void A_burst_of_several_runs_is_acknowledged_once_per_quarter_of_the_window_not_once_per_run()
    {
        // Runs of 5 full segments (a pushed segment ends a run), 8 of them. The window is 65,535 bytes (no window scaling
        // here), so an ACK may wait for the round while under 16,383 bytes are unacknowledged: runs 1–2 wait, run 3 goes at
        // once and acknowledges all three, and so on; the last two go with the round's flush. 3 ACKs where one per run made 8.
        long acks = _device.SentFrames;
        using (ReceiveBurst.Begin())
        {
            for (int i = 0; i < 40; i++) _device.Inject(NextSegment(push: i % 5 == 4));
        }

        Assert.Equal(40, _stack.GetStats().SegmentsCoalesced);
        Assert.Equal(acks + 3, _device.SentFrames);
        Assert.True(TcpHeader.TryParse(_device.LastSent[Ipv4Header.HeaderLength..], Server, Client, out TcpHeader ack, out _) == WireError.None);
        Assert.Equal(_next, ack.Acknowledgment); // the last ACK covers the whole burst
        Assert.Equal(40 * PayloadLength, Drain());
    }

    [Fact]
    public void An_ack_owed_for_more_than_volume_goes_after_its_run_not_with_the_round()
    {
        // A run that fills the hole below an out-of-order segment is acknowledged at once (RFC 5681 §4.2), so its ACK leaves
        // before the next run of the burst is even looked at: the burst gets one ACK per run here, two in all.
        SeqNumber holeAt = _next;
        NextSegment();
        NextSegment();
        _device.Inject(NextSegment()); // out of order: a duplicate ACK at once
        SeqNumber after = _next;
        _next = holeAt;
        long acks = _device.SentFrames;
        using (ReceiveBurst.Begin())
        {
            _device.Inject(NextSegment());
            _device.Inject(NextSegment()); // fills the hole: this run and the segment above it are now in order
            _next = after;
            _device.Inject(NextSegment());
            _device.Inject(NextSegment());
        }

        Assert.Equal(acks + 2, _device.SentFrames);
        Assert.True(TcpHeader.TryParse(_device.LastSent[Ipv4Header.HeaderLength..], Server, Client, out TcpHeader ack, out _) == WireError.None);
        Assert.Equal(_next, ack.Acknowledgment);
        Assert.Equal(5 * PayloadLength, Drain());
    }

    [Fact]
    public void Without_a_burst_every_frame_gets_its_pass_and_nothing_merges()
    {
        NetstackStats before = _stack.GetStats();
        for (int i = 0; i < 8; i++) _device.Inject(NextSegment());
        NetstackStats after = _stack.GetStats();
        Assert.Equal(before.Passes + 8, after.Passes);
        Assert.Equal(before.SegmentsCoalesced, after.SegmentsCoalesced);
        Assert.Equal(8 * PayloadLength, Drain());
    }

    [Fact]
    public void A_segment_with_a_bad_checksum_in_a_burst_is_never_merged_and_is_counted_as_the_stack_counts_it()
    {
        // The device once verified each segment before merging; the round does it now: the bad segment ends the run, reaches
        // IP and TCP alone and is dropped there, and its good retransmission starts a run of its own.
        byte[] first = NextSegment();
        SeqNumber secondAt = _next;
        byte[] bad = NextSegment();
        bad[^1] ^= 0xFF;
        _next = secondAt;
        byte[] second = NextSegment(), third = NextSegment();
        NetstackStats before = _stack.GetStats();
        using (ReceiveBurst.Begin())
        {
            foreach (byte[] frame in new[] { first, bad, second, third }) _device.Inject(frame);
        }

        NetstackStats after = _stack.GetStats();
        Assert.Equal(before.Drops.GetValueOrDefault(DropReason.TcpMalformed) + 1, after.Drops.GetValueOrDefault(DropReason.TcpMalformed));
        Assert.Equal(before.SegmentsCoalesced + 2, after.SegmentsCoalesced); // second and third; first was alone
        Assert.Equal(3 * PayloadLength, Drain());
    }

    [Fact]
    public void Bursts_nest_and_only_the_outermost_end_runs_the_pass()
    {
        long passes = _stack.GetStats().Passes;
        using (ReceiveBurst.Begin())
        {
            using (ReceiveBurst.Begin())
            {
                _device.Inject(NextSegment());
                _device.Inject(NextSegment());
            }
            Assert.Equal(passes, _stack.GetStats().Passes);
            _device.Inject(NextSegment());
        }
        Assert.Equal(passes + 1, _stack.GetStats().Passes);
        Assert.Equal(3, _stack.GetStats().SegmentsCoalesced);
    }

    [Fact]
    public void Blocking_for_a_stack_is_refused_inside_a_burst_and_a_burst_ends_on_its_own_thread()
    {
        Assert.False(_stack.IsOnEngineThread);
        ReceiveBurst burst = ReceiveBurst.Begin();
        Assert.True(_stack.IsOnEngineThread); // a synchronous Stream.Read here throws instead of waiting for the owed pass
        Exception? elsewhere = null;
        var thread = new Thread(() => elsewhere = Record.Exception(burst.Dispose));
        thread.Start();
        thread.Join();
        Assert.IsType<InvalidOperationException>(elsewhere);
        burst.Dispose();
        Assert.False(_stack.IsOnEngineThread);
        default(ReceiveBurst).Dispose(); // ends nothing
    }

    [Fact]
    public async Task On_a_stack_with_its_own_loop_the_pass_runs_on_the_delivering_thread_when_the_burst_ends()
    {
        using var stack = new Netstack(new NetstackOptions { Addresses = [new(Server, 24)] });
        using var device = new SinkDevice();
        stack.Attach(device);
        await using UdpSocket socket = await stack.BindUdpAsync(7000);
        byte[] datagram = new byte[8 + 100];
        NetstackStats before = stack.GetStats();
        using (ReceiveBurst.Begin())
        {
            for (int i = 0; i < 4; i++) device.Inject(Udp(datagram));
            Assert.Equal(before.UdpIn, stack.GetStats().UdpIn);
        }

        // The engine was idle, so the owed pass ran here, inside Dispose, and took all four.
        NetstackStats after = stack.GetStats();
        Assert.Equal(before.UdpIn + 4, after.UdpIn);
        Assert.Equal(before.PassesOnCaller + 1, after.PassesOnCaller);
        for (int i = 0; i < 4; i++) await socket.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>A UDP datagram from the client to port 7000 of the server.</summary>
    private static byte[] Udp(byte[] datagram)
    {
        byte[] packet = new byte[Ipv4Header.HeaderLength + datagram.Length];
        int length = UdpHeader.Emit(packet.AsSpan(Ipv4Header.HeaderLength), new UdpHeader(5000, 7000), datagram.Length - UdpHeader.HeaderLength, Client, Server);
        Ipv4Header.Emit(packet, new Ipv4Header(Client, Server, IpProtocol.Udp), length);
        return packet;
    }

    public void Dispose()
    {
        _stack.Dispose();
        _device.Dispose();
    }

    /// <summary>Runs work at once and counts it; timers never fire (none is needed here).</summary>
    private sealed class CountingScheduler : IScheduler
    {
        public long Immediate { get; private set; }

        public DateTimeOffset Now { get; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action)
        {
            Immediate++;
            return action(this, state);
        }

        public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action) => Disposable.Empty;

        public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action) => Disposable.Empty;
    }
}
