using System.Reactive.Disposables;

namespace Rx.Netstack.Engine;

/// <summary>
/// What one engine of a sharded stack attaches: its own queue of a multi-queue link for transmitting, and for receiving the
/// frames of every queue that belong to it (<see cref="FlowSharding.ShardOfPacket"/>). A frame the link handed to another
/// engine's queue is moved here from that queue's reader thread — the engine's inbox takes frames from any thread — so both
/// directions of a flow are always processed by one engine, whatever queue the link picked (docs/sharding.md).
/// </summary>
internal sealed class ShardPort : IPacketDevice
{
    /// <summary>This engine's queue: its transmit side, MTU and offloads.</summary>
    private readonly IPacketDevice _queue;

    /// <summary>The engine's device observer (set when the engine attaches; null before and after).</summary>
    private volatile IObserver<ReadOnlyMemory<byte>>? _engine;

    public ShardPort(IPacketDevice queue) => _queue = queue;

    public IObservable<ReadOnlyMemory<byte>> Received => System.Reactive.Linq.Observable.Create<ReadOnlyMemory<byte>>(observer =>
    {
        _engine = observer;
        return Disposable.Create(this, static port => port._engine = null);
    });

    public IObserver<ReadOnlyMemory<byte>> Transmit => _queue.Transmit;

    public int Mtu => _queue.Mtu;

    public ChecksumOffload ChecksumOffload => _queue.ChecksumOffload;

    public bool TcpSegmentationOffload => _queue.TcpSegmentationOffload;

    /// <summary>Frames read from one queue, steered to their engines' ports; the queue's end is this port's alone.</summary>
    public sealed class Steering(ShardPort[] ports, int queueIndex, FlowSharding sharding) : IObserver<ReadOnlyMemory<byte>>
    {
        /// <summary>Frames this queue received that belonged to another engine (moved there).</summary>
        public long Moved;

        public void OnNext(ReadOnlyMemory<byte> frame)
        {
            int shard = sharding.ShardOfPacket(frame.Span);
            if (shard != queueIndex) Interlocked.Increment(ref Moved);
            // Before every engine attached (or after it detached) there is no one to take it: the link dropped it, as it
            // drops frames while no stack listens.
            ports[shard]._engine?.OnNext(frame);
        }

        public void OnError(Exception error) => ports[queueIndex]._engine?.OnError(error);

        public void OnCompleted() => ports[queueIndex]._engine?.OnCompleted();
    }
}
