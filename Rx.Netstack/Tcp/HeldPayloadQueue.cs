using System.Buffers;
using System.Runtime.InteropServices;
using Rx.Netstack.Engine;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Received in-order payloads kept in the frames they arrived in, after the bytes of the receive ring (the receiver's
/// <c>Held</c>). A payload that came in another stack's handed-over transmit buffer (an in-memory pipe, see
/// <see cref="TransmitBuffer"/>) stays there until it is read instead of being copied into the ring and out again — Linux
/// keeps a queue of received skbs the same way, and the reader copies out of them. The queue holds up to
/// <see cref="Capacity"/> payloads of at least <see cref="MinPayload"/> bytes, and its array is rented only while it holds one.
/// </summary>
/// <remarks>
/// Held bytes count against the receive buffer exactly like the ring's. Anything that is not a plain in-order append
/// (out-of-order data, a payload that cannot be held) first moves the held bytes into the ring (<see cref="SpillInto"/>),
/// so the ring stays the one place where the complicated cases are handled. A frame goes back to its pool when its last
/// holder (sender, inbox, this queue) lets go.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
internal struct HeldPayloadQueue
{
    /// <summary>Payloads held at most; the next in-order payload spills them into the ring.</summary>
    public const int Capacity = 8;

    /// <summary>Shorter payloads are copied: holding a 64 KiB buffer for a few bytes would waste it.</summary>
    public const int MinPayload = 4 * 1024;

    private HeldPayload[]? _entries; // a ring of Capacity entries, rented while anything is held
    private int _head;               // the oldest entry
    private int _count;              // entries held

    /// <summary>Bytes held, not yet read.</summary>
    public int Bytes { readonly get; private set; }

    /// <summary>Payloads held.</summary>
    public readonly int Count => _count;

    /// <summary>True while the entry array is rented.</summary>
    public readonly bool IsAllocated => _entries is not null;

    private struct HeldPayload
    {
        public TransmitBuffer Buffer;
        public int Start;
        public int Length;
    }

    /// <summary>True when <paramref name="data"/> is long enough, lies in <paramref name="frame"/> and there is room.</summary>
    public readonly bool CanHold(ReadOnlySpan<byte> data, TransmitBuffer? frame) =>
        _count < Capacity && data.Length >= MinPayload && frame is not null && frame.TryLocate(data, out _);

    /// <summary>Keeps <paramref name="data"/> in <paramref name="frame"/>, which it lies in (<see cref="CanHold"/> said so).</summary>
    public void Hold(ReadOnlySpan<byte> data, TransmitBuffer frame)
    {
        frame.TryLocate(data, out int start);
        _entries ??= ArrayPool<HeldPayload>.Shared.Rent(Capacity);
        frame.AddHolder();
        _entries[(_head + _count) % Capacity] = new HeldPayload { Buffer = frame, Start = start, Length = data.Length };
        _count++;
        Bytes += data.Length;
    }

    /// <summary>Copies out and consumes up to <c>destination.Length</c> held bytes, oldest first; returns how many.</summary>
    public int Read(Span<byte> destination)
    {
        int total = 0;
        while (_count > 0 && total < destination.Length)
        {
            ref HeldPayload head = ref _entries![_head];
            int n = Math.Min(head.Length, destination.Length - total);
            head.Buffer.Array.AsSpan(head.Start, n).CopyTo(destination[total..]);
            total += n;
            Bytes -= n;
            head.Start += n;
            head.Length -= n;
            if (head.Length == 0) DropHead();
        }
        return total;
    }

    /// <summary>Moves every held byte to the end of <paramref name="ring"/> (which has room: held bytes were counted against it).</summary>
    public void SpillInto(ByteRing ring)
    {
        while (_count > 0)
        {
            ref HeldPayload head = ref _entries![_head];
            ring.WriteAt(ring.Count, head.Buffer.Array.AsSpan(head.Start, head.Length));
            ring.Commit(head.Length);
            Bytes -= head.Length;
            DropHead();
        }
    }

    /// <summary>Lets go of every held frame, unread bytes and all (the connection failed).</summary>
    public void Discard()
    {
        while (_count > 0)
        {
            Bytes -= _entries![_head].Length;
            DropHead();
        }
    }

    private void DropHead()
    {
        HeldPayload[] entries = _entries!;
        TransmitBuffer.Return(entries[_head].Buffer);
        entries[_head] = default;
        _head = (_head + 1) % Capacity;
        if (--_count > 0) return;
        _head = 0;
        ArrayPool<HeldPayload>.Shared.Return(entries);
        _entries = null;
    }
}
