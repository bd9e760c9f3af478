using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Performance;

/// <summary>
/// Receive coalescing (<see cref="NetstackOptions.CoalesceReceivedSegments"/>) keeps "0 bytes allocated per TCP data segment in
/// steady state": bursts of in-order segments wait in the inbox together and are merged by one round (the scheduler holds the
/// pass until the burst is in, or the device delivers it as a <see cref="ReceiveBurst"/>), the receive buffer is drained directly. A per-run or per-segment allocation in the merge, the
/// inbox or the receive path fails the test.
/// </summary>
public sealed class CoalescingAllocationTests : IDisposable
{
    private static readonly NetAddress Client = NetAddress.Parse("10.0.0.1"), Server = NetAddress.Parse("10.0.0.2");
    private const int PayloadLength = 1448, Burst = 8, Bursts = 1000;

    private readonly HoldingScheduler _scheduler = new();
    private readonly SinkDevice _device = new();
    private readonly Netstack _stack;
    private readonly TcpControlBlock _tcb;
    private readonly SeqNumber _serverIsn;

    public CoalescingAllocationTests()
    {
        _stack = new Netstack(new NetstackOptions
        {
            Addresses = [new(Server, 24)],
            Tcp = new TcpSettings { ReceiveBufferSize = 256 * 1024, SendBufferSize = 256 * 1024 },
            RunContinuationsInline = true,
            CoalesceReceivedSegments = true,
        }, _scheduler);
        _stack.Attach(_device);
        (_tcb, _serverIsn) = TcpFrames.Establish(_stack, _device, Client, Server);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bursts_of_data_segments_merged_in_the_round_allocate_nothing(bool receiveBurst)
    {
        byte[][] frames = [.. Enumerable.Range(0, Burst).Select(_ => Build(new TcpHeader(40000, 80, TcpFlags.Ack) { Window = 65535 }, PayloadLength))];
        byte[] drain = new byte[64 * 1024];
        SeqNumber next = new(1001);
        void OneBurst()
        {
            if (receiveBurst)
            {
                // As a TUN device in plain mode delivers a wake-up's reads: the pass runs when the burst ends.
                using (ReceiveBurst.Begin()) InjectAll();
            }
            else
            {
                _scheduler.Holding = true;
                InjectAll();
                _scheduler.Holding = false;
                _scheduler.RunHeld(); // one pass: the round takes the whole burst
            }
            if (_tcb.Receive(drain) != Burst * PayloadLength) throw new InvalidOperationException($"burst before {next.Value} was not delivered whole");
        }

        void InjectAll()
        {
            foreach (byte[] frame in frames)
            {
                Rewrite(frame, next, _serverIsn + 1);
                _device.Inject(frame);
                next += PayloadLength;
            }
        }

        for (int i = 0; i < 200; i++) OneBurst(); // warm-up: JIT, pools, the queue's segments at their steady size
        long acksBefore = _device.SentFrames;
        long allocated = long.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Bursts; i++) OneBurst();
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // Merged: one ACK per burst, not one per two segments.
        Assert.InRange(_device.SentFrames - acksBefore, 3 * Bursts, 3 * Bursts + 10);
        Assert.True(allocated == 0, $"{allocated} bytes allocated for {Bursts * Burst} segments in ({(double)allocated / (Bursts * Burst):F2} per segment)");
    }

    public void Dispose() => _stack.Dispose();

    private static byte[] Build(TcpHeader header, int payloadLength) => TcpFrames.Build(Client, Server, header, payloadLength);

    private static void Rewrite(byte[] frame, SeqNumber sequence, SeqNumber acknowledgment) =>
        TcpFrames.Rewrite(frame, Client, Server, sequence, acknowledgment);

    /// <summary>
    /// Runs work at once, or (while <see cref="Holding"/>) keeps the one pass the stack asks for until <see cref="RunHeld"/>;
    /// timers never fire (none is needed here). Keeps the state and action without a closure, so holding allocates nothing.
    /// </summary>
    private sealed class HoldingScheduler : IScheduler
    {
        private object? _heldState;
        private Delegate? _heldAction;

        public bool Holding { get; set; }

        public DateTimeOffset Now { get; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action)
        {
            if (!Holding) return action(this, state);
            if (_heldAction is not null) throw new InvalidOperationException("a second pass was asked for while one is pending");
            _heldState = state;
            _heldAction = action;
            return Disposable.Empty;
        }

        public void RunHeld()
        {
            if (_heldAction is not Func<IScheduler, Rx.Netstack.Engine.PassScheduler, IDisposable> action) return;
            var state = (Rx.Netstack.Engine.PassScheduler)_heldState!;
            _heldAction = null;
            _heldState = null;
            action(this, state);
        }

        public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action) => Disposable.Empty;

        public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action) => Disposable.Empty;
    }
}
