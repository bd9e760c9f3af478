using System.Buffers;
using Rx.Netstack.Engine;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    // Held receive. An in-order payload that arrived in another stack's handed-over transmit buffer (an in-memory pipe, see
    // TransmitBuffer) stays in that buffer until it is read, instead of being copied into the receive ring and out again —
    // Linux keeps a queue of received skbs the same way, and the reader copies out of them. Held bytes always follow the
    // bytes in the ring, and count against the receive buffer exactly like them. Anything that is not a plain in-order
    // append (out-of-order data, a payload that cannot be held) first moves the held bytes into the ring (SpillHeld), so the
    // ring stays the one place where the complicated cases are handled.

    /// <summary>Payloads held at most; the next in-order payload spills them into the ring.</summary>
    private const int MaxHeldSegments = 8;

    /// <summary>Shorter payloads are copied: holding a 64 KiB buffer for a few bytes would waste it.</summary>
    private const int MinHeldPayload = 4 * 1024;

    private HeldSegment[]? _held; // rented while anything is held
    private int _heldHead, _heldCount, _heldBytes;

    private struct HeldSegment
    {
        public TransmitBuffer Buffer;
        public int Start;
        public int Length;
    }

    /// <summary>Receive buffer still free: the ring's room less the bytes held in frames.</summary>
    private int ReceiveFree => _recvRing.Free - _heldBytes;

    /// <summary>Bytes received in order and not read: in the ring, then held.</summary>
    private int ReceiveQueued => _recvRing.Count + _heldBytes;

    /// <summary>Keeps <paramref name="data"/> (the next in-order bytes) in <paramref name="frame"/>, the handed-over buffer it
    /// arrived in; false when it cannot.</summary>
    private bool TryHold(ReadOnlySpan<byte> data, TransmitBuffer? frame)
    {
        if (frame is null || !CanHold(data, frame)) return false;
        frame.TryLocate(data, out int start);
        _held ??= ArrayPool<HeldSegment>.Shared.Rent(MaxHeldSegments);
        frame.AddHolder();
        _held[(_heldHead + _heldCount) % MaxHeldSegments] = new HeldSegment { Buffer = frame, Start = start, Length = data.Length };
        _heldCount++;
        _heldBytes += data.Length;
        _ctx.Counters.SegmentsHeld++;
        return true;
    }

    /// <summary>True when <paramref name="data"/> (the next in-order bytes) may be held in <paramref name="frame"/>.</summary>
    private bool CanHold(ReadOnlySpan<byte> data, TransmitBuffer? frame) =>
        _heldCount < MaxHeldSegments && data.Length >= MinHeldPayload && _recvOutOfOrder.Count == 0
        && frame is not null && frame.TryLocate(data, out _);

    /// <summary>Copies out and consumes up to <c>destination.Length</c> held bytes (called after the ring is empty).</summary>
    private int ReadHeld(Span<byte> destination)
    {
        int total = 0;
        while (_heldCount > 0 && total < destination.Length)
        {
            ref HeldSegment head = ref _held![_heldHead];
            int n = Math.Min(head.Length, destination.Length - total);
            head.Buffer.Array.AsSpan(head.Start, n).CopyTo(destination[total..]);
            total += n;
            _heldBytes -= n;
            head.Start += n;
            head.Length -= n;
            if (head.Length == 0) DropHeldHead();
        }
        return total;
    }

    /// <summary>Moves every held byte into the ring (which has room: held bytes were counted against it).</summary>
    private void SpillHeld()
    {
        while (_heldCount > 0)
        {
            ref HeldSegment head = ref _held![_heldHead];
            _recvRing.WriteAt(_recvRing.Count, head.Buffer.Array.AsSpan(head.Start, head.Length));
            _recvRing.Commit(head.Length);
            _heldBytes -= head.Length;
            DropHeldHead();
        }
    }

    /// <summary>Lets go of every held frame, unread bytes and all (the connection failed).</summary>
    private void DiscardHeld()
    {
        while (_heldCount > 0)
        {
            _heldBytes -= _held![_heldHead].Length;
            DropHeldHead();
        }
    }

    private void DropHeldHead()
    {
        HeldSegment[] held = _held!;
        TransmitBuffer.Return(held[_heldHead].Buffer);
        held[_heldHead] = default;
        _heldHead = (_heldHead + 1) % MaxHeldSegments;
        if (--_heldCount > 0) return;
        _heldHead = 0;
        ArrayPool<HeldSegment>.Shared.Return(held);
        _held = null;
    }
}
