namespace Rx.Netstack;

/// <summary>
/// A link with several queues, each an <see cref="IPacketDevice"/> of its own with its own reader thread (a Linux TUN
/// interface opened with <c>IFF_MULTI_QUEUE</c>, an in-memory pipe with N queues): a stack with
/// <see cref="NetstackOptions.Engines"/> engines gives each engine one queue (see docs/sharding.md).
/// </summary>
/// <remarks>
/// All queues carry the same link: the same MTU and offloads. The link may hand a frame to any queue; the stack moves a frame
/// that reached the wrong engine to the right one, so both directions of a flow are processed by one engine. What an engine
/// transmits leaves through its own queue only, so a queue's <see cref="IPacketDevice.Transmit"/> is called by one thread at a time.
/// </remarks>
public interface IMultiQueuePacketDevice
{
    /// <summary>The queues, in engine order.</summary>
    IReadOnlyList<IPacketDevice> Queues { get; }
}
