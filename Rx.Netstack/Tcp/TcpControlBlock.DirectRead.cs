using Rx.Netstack.Engine;

namespace Rx.Netstack.Tcp;

/// <summary>A waiting reader's own buffer, which the control block may fill directly (see <see cref="TcpControlBlock.OfferReadBuffer"/>).</summary>
internal interface IReadBufferClaim
{
    /// <summary>Where the reader wants its bytes.</summary>
    Memory<byte> ReadBuffer { get; }

    /// <summary>True when the reader would rather copy on its own thread: data that can be held in its frame is not placed.</summary>
    bool CopiesOnOwnThread { get; }

    /// <summary>Claims the reader for this data (it can no longer be cancelled); false when it was cancelled or answered already.</summary>
    bool TryClaim();
}

internal sealed partial class TcpControlBlock
{
    // Direct placement. While a reader waits with its own buffer and nothing is buffered, in-order data is copied straight
    // into that buffer instead of into the receive ring and out again: one copy per byte less on a bulk receive (what Linux
    // does for a reader blocked in recv()). The bytes count as read at once, so the window stays open. The reader is claimed
    // before the first byte goes in, so a cancellation racing with it cannot lose the bytes: the read completes instead.
    // The reader and the count placed are the receiver's (DirectReader, DirectCount).

    /// <summary>
    /// Offers a waiting reader's buffer for in-order data that arrives while the receive ring is empty. The engine answers
    /// the reader with <see cref="TakeDirectRead"/> in the same pass.
    /// </summary>
    public void OfferReadBuffer(IReadBufferClaim reader)
    {
        if (_rcv.DirectCount > 0 || ReferenceEquals(_rcv.DirectReader, reader)) return;
        _rcv.DirectReader = reader;
    }

    /// <summary>The bytes placed in the offered reader's buffer, and that reader; 0 (and no reader) when none were. Ends the offer
    /// when bytes were placed.</summary>
    public int TakeDirectRead(out IReadBufferClaim? reader)
    {
        reader = null;
        if (_rcv.DirectCount == 0) return 0;
        reader = _rcv.DirectReader;
        int n = _rcv.DirectCount;
        _rcv.DirectReader = null;
        _rcv.DirectCount = 0;
        return n;
    }

    /// <summary>
    /// Places as much of <paramref name="data"/> (in order, at RCV.NXT) as the offered buffer takes; returns the count.
    /// <paramref name="frame"/> is the handed-over buffer the data lies in, if any.
    /// </summary>
    private int PlaceDirect(ReadOnlySpan<byte> data, TransmitBuffer? frame)
    {
        if (_rcv.DirectReader is not { } reader || _rcv.Queued > 0 || _rcv.OutOfOrder.Count > 0) return 0;
        if (reader.CopiesOnOwnThread && _rcv.DirectCount == 0 && CanHold(data, frame)) return 0; // held instead; the reader copies it
        Memory<byte> buffer = reader.ReadBuffer;
        int n = Math.Min(data.Length, buffer.Length - _rcv.DirectCount);
        if (n <= 0) return 0;
        if (_rcv.DirectCount == 0 && !reader.TryClaim())
        {
            _rcv.DirectReader = null; // cancelled meanwhile: the data goes to the ring
            return 0;
        }
        data[..n].CopyTo(buffer.Span[_rcv.DirectCount..]);
        _rcv.DirectCount += n;
        return n;
    }
}
