using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Reactive.Linq;

namespace Rx.Netstack.Devices;

/// <summary>
/// An in-memory link with N queues on one side and a single end on the other: the multi-queue side is for a stack with
/// <see cref="NetstackOptions.Engines"/> engines (<see cref="Netstack.AttachQueues"/>), the single end for its peer. It picks
/// the queue of a frame to the multi-queue side as a Linux TUN does without a steering program (the kernel's "automq"):
/// the queue that last sent a packet of the same flow, else a symmetric hash of the addresses and ports — not the stack's
/// hash, so the stack's own steering is exercised (docs/sharding.md).
/// </summary>
/// <remarks>
/// Each queue is one end of a synchronous <see cref="PipeDevice"/> pair; frames from all queues reach the single end's
/// <see cref="Peer"/> serialized (one at a time). <see cref="Dispose"/> closes every queue.
/// </remarks>
public sealed class MultiQueuePipe : IMultiQueuePacketDevice, IDisposable
{
    /// <summary>The pairs: A is queue k, B the peer's side of it.</summary>
    private readonly (PipeDevice A, PipeDevice B)[] _pairs;

    /// <summary>Flow → the queue that last sent on it (the kernel's tun flow table).</summary>
    private readonly ConcurrentDictionary<uint, int> _flows = new();

    private readonly QueueEnd[] _queues;

    private MultiQueuePipe((PipeDevice A, PipeDevice B)[] pairs)
    {
        _pairs = pairs;
        _queues = [.. pairs.Select((p, i) => new QueueEnd(this, p.A, i))];
        Peer = new PeerEnd(this);
    }

    /// <summary>Creates a link with <paramref name="queues"/> queues.</summary>
    /// <param name="queues">Queues on the multi-queue side (1..64).</param>
    /// <param name="mtu">The largest frame.</param>
    /// <param name="checksumOffload">As <see cref="PipeDevice.CreatePair"/>.</param>
    /// <param name="tcpSegmentationOffload">As <see cref="PipeDevice.CreatePair"/>.</param>
    public static MultiQueuePipe Create(int queues, int mtu = 1500, ChecksumOffload checksumOffload = ChecksumOffload.None, bool tcpSegmentationOffload = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queues, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(queues, 64);
        var pairs = new (PipeDevice, PipeDevice)[queues];
        for (int i = 0; i < queues; i++) pairs[i] = PipeDevice.CreatePair(mtu, checksumOffload: checksumOffload, tcpSegmentationOffload: tcpSegmentationOffload);
        return new MultiQueuePipe(pairs);
    }

    /// <inheritdoc />
    public IReadOnlyList<IPacketDevice> Queues => _queues;

    /// <summary>The other end: a single-queue device for the peer stack.</summary>
    public IPacketDevice Peer { get; }

    /// <summary>Frames the peer sent, per queue they were handed to.</summary>
    public IReadOnlyList<long> FramesPerQueue => [.. _queues.Select(q => Interlocked.Read(ref q.FramesIn))];

    /// <inheritdoc />
    public void Dispose()
    {
        foreach ((PipeDevice a, _) in _pairs) a.Dispose();
    }

    /// <summary>
    /// A flow key that is the same in both directions: the sum of the addresses and of the ports (TCP and UDP; other packets
    /// by their addresses).
    /// </summary>
    internal static uint FlowKey(ReadOnlySpan<byte> packet)
    {
        if (packet.IsEmpty) return 0;
        int version = packet[0] >> 4;
        int addressOffset, addressLength, protocol, transport;
        if (version == 4 && packet.Length >= 20)
        {
            (addressOffset, addressLength, protocol, transport) = (12, 4, packet[9], (packet[0] & 0x0F) * 4);
            if ((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x1FFF) != 0) protocol = 0; // a later fragment has no ports
        }
        else if (version == 6 && packet.Length >= 40) (addressOffset, addressLength, protocol, transport) = (8, 16, packet[6], 40);
        else return 0;
        uint key = 0;
        for (int i = 0; i < addressLength; i += 4)
            key += BinaryPrimitives.ReadUInt32BigEndian(packet[(addressOffset + i)..]) + BinaryPrimitives.ReadUInt32BigEndian(packet[(addressOffset + addressLength + i)..]);
        if (protocol is 6 or 17 && packet.Length >= transport + 4)
            key += (uint)(BinaryPrimitives.ReadUInt16BigEndian(packet[transport..]) + BinaryPrimitives.ReadUInt16BigEndian(packet[(transport + 2)..])) * 0x9E3779B1u;
        return key ^ (key >> 15);
    }

    /// <summary>Queue k: its frames to the peer teach the flow table.</summary>
    private sealed class QueueEnd(MultiQueuePipe pipe, PipeDevice end, int index) : IPacketDevice, IObserver<ReadOnlyMemory<byte>>
    {
        public long FramesIn;

        public IObservable<ReadOnlyMemory<byte>> Received => end.Received.Do(_ => Interlocked.Increment(ref FramesIn));
        public IObserver<ReadOnlyMemory<byte>> Transmit => this;
        public int Mtu => end.Mtu;
        public ChecksumOffload ChecksumOffload => end.ChecksumOffload;
        public bool TcpSegmentationOffload => end.TcpSegmentationOffload;

        public void OnNext(ReadOnlyMemory<byte> frame)
        {
            uint key = FlowKey(frame.Span);
            if (!pipe._flows.TryGetValue(key, out int queue) || queue != index) pipe._flows[key] = index;
            end.Transmit.OnNext(frame);
        }

        public void OnError(Exception error) => end.Transmit.OnError(error);
        public void OnCompleted() => end.Transmit.OnCompleted();
    }

    /// <summary>The single end: receives every queue's frames (serialized), sends each frame to its flow's queue.</summary>
    private sealed class PeerEnd(MultiQueuePipe pipe) : IPacketDevice, IObserver<ReadOnlyMemory<byte>>
    {
        private readonly IObservable<ReadOnlyMemory<byte>> _received = pipe._pairs.Select(p => p.B.Received).Merge();

        public IObservable<ReadOnlyMemory<byte>> Received => _received;
        public IObserver<ReadOnlyMemory<byte>> Transmit => this;
        public int Mtu => pipe._pairs[0].B.Mtu;
        public ChecksumOffload ChecksumOffload => pipe._pairs[0].B.ChecksumOffload;
        public bool TcpSegmentationOffload => pipe._pairs[0].B.TcpSegmentationOffload;

        public void OnNext(ReadOnlyMemory<byte> frame)
        {
            uint key = FlowKey(frame.Span);
            int queue = pipe._flows.TryGetValue(key, out int learned) ? learned : (int)(key % (uint)pipe._pairs.Length);
            pipe._pairs[queue].B.Transmit.OnNext(frame);
        }

        public void OnError(Exception error)
        {
            foreach ((_, PipeDevice b) in pipe._pairs) b.Transmit.OnError(error);
        }

        public void OnCompleted()
        {
            foreach ((_, PipeDevice b) in pipe._pairs) b.Transmit.OnCompleted();
        }
    }
}
