using Rx.Netstack.Engine;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    // Held receive: an in-order payload that arrived in another stack's handed-over transmit buffer stays there until it
    // is read (the receiver's HeldPayloadQueue). Only a plain in-order append is held; the ring handles everything else.

    /// <summary>Keeps <paramref name="data"/> (the next in-order bytes) in <paramref name="frame"/>, the handed-over buffer it
    /// arrived in; false when it cannot.</summary>
    private bool TryHold(ReadOnlySpan<byte> data, TransmitBuffer? frame)
    {
        if (frame is null || !CanHold(data, frame)) return false;
        _rcv.Held.Hold(data, frame);
        _ctx.Counters.SegmentsHeld++;
        return true;
    }

    /// <summary>True when <paramref name="data"/> (the next in-order bytes) may be held in <paramref name="frame"/>: no
    /// out-of-order data waits in the ring (held bytes always follow the ring's) and the queue takes it.</summary>
    private bool CanHold(ReadOnlySpan<byte> data, TransmitBuffer? frame) =>
        _rcv.OutOfOrder.Count == 0 && _rcv.Held.CanHold(data, frame);
}
