using Rx.Netstack.Commands;

namespace Rx.Netstack.Engine;

/// <summary>
/// What the two packet sockets (<see cref="UdpSocketState"/>, <see cref="RawSocketState"/>) share: a bounded queue of whole
/// received packets, the receives waiting for one, and how they close — the queue's buffer goes back to the pool and the
/// waiting receives fail.
/// </summary>
/// <typeparam name="TMeta">What is kept beside each packet (addresses for UDP; nothing for raw).</typeparam>
internal abstract class PacketSocketState<TMeta> : SocketState where TMeta : struct
{
    protected PacketSocketState(PassScheduler passes, int bufferSize, int queueLength) : base(passes) =>
        Received = new PacketRing<TMeta>(bufferSize, queueLength);

    /// <summary>Packets received and not yet read, oldest first.</summary>
    public PacketRing<TMeta> Received { get; }

    /// <summary>Receives waiting for a packet, oldest first.</summary>
    public WaitQueue Receivers { get; } = new();

    /// <inheritdoc />
    public override void FailAll(NetstackError error)
    {
        FailQueue(Receivers, error);
        IsClosed = true;
        Received.Release();
    }
}
