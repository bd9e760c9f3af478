using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>
    /// Attaches a multi-queue link: with <see cref="NetstackOptions.Engines"/> engines, engine k sends through queue k, and every
    /// queue's frames are steered to the engine their flow belongs to (docs/sharding.md). A one-engine stack takes a
    /// one-queue link. Dispose the result to detach.
    /// </summary>
    /// <exception cref="ArgumentException">The link has not one queue per engine, or its MTU is below 576.</exception>
    public IDisposable AttachQueues(IMultiQueuePacketDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(_passes.IsDisposed, this);
        foreach (IPacketDevice queue in device.Queues)
            if (queue.Mtu < 576 && queue.Mtu != 0)
                throw new ArgumentException($"Device MTU {queue.Mtu} is below the IPv4 minimum of 576.", nameof(device));
        if (_shards is { } shards) return shards.Attach(device);
        if (device.Queues.Count != 1)
            throw new ArgumentException($"The stack has 1 engine but the device has {device.Queues.Count} queues: give each engine one (NetstackOptions.Engines).", nameof(device));
        return _ip.Attach(device.Queues[0]);
    }

    /// <summary>The engines of a sharded stack (null with one engine).</summary>
    internal ShardSet? Shards => _shards;

    /// <summary>This engine's pass scheduler (the sharded facade submits to each engine's).</summary>
    internal PassScheduler Passes => _passes;

    /// <summary>Makes this engine the home of a sharded stack: TCP it reassembled is moved on to the flow's engine.</summary>
    internal void JoinShards(IpLayer.PacketMover mover) => _ip.JoinShards(mover);

    /// <summary>Makes this engine use <paramref name="home"/>'s path MTU cache: one for the whole sharded stack.</summary>
    internal void SharePathMtuOf(Netstack home) => _ip.SharePathMtu(home._ip.PathMtu);

    /// <summary>Attaches one engine's port (no checks: the facade made them).</summary>
    internal IDisposable AttachEngine(IPacketDevice port) => _ip.Attach(port);

    /// <summary>This engine's own counters (of a sharded stack, <see cref="GetStats"/> sums every engine's).</summary>
    internal NetstackStats EngineStats() => SnapshotStats();

    /// <summary>Routes a request: to this engine, or of a sharded stack to the engine it belongs to.</summary>
    private void Route(PendingRequest request)
    {
        if (_shards is { } shards) shards.Submit(request);
        else _passes.Submit(request);
    }
}
