using System.Buffers;
using System.Numerics;

namespace Rx.Netstack.Tcp;

/// <summary>
/// A ring of bytes over an array rented lazily from a pool (on the first write) and returned by <see cref="Release"/> when
/// empty, so an idle connection holds no buffer; its capacity changes only by <see cref="Grow"/> (buffer auto-tuning).
/// Offsets are counted from the oldest byte.
/// Bytes beyond <see cref="Count"/> may be written with <see cref="WriteAt"/> (out-of-order data) and made part of the ring
/// later with <see cref="Commit"/>.
/// </summary>
internal sealed class ByteRing
{
    private readonly ArrayPool<byte> _pool;
    private byte[]? _buffer;
    private int _head;
    private int _count;

    /// <summary>Creates an empty ring of <paramref name="capacity"/> bytes; nothing is rented yet.</summary>
    public ByteRing(int capacity, ArrayPool<byte> pool)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _pool = pool;
    }

    /// <summary>The most bytes the ring holds (raised only by <see cref="Grow"/>).</summary>
    public int Capacity { get; private set; }

    /// <summary>Bytes held.</summary>
    public int Count => _count;

    /// <summary>Room left.</summary>
    public int Free => Capacity - _count;

    /// <summary>True while an array is rented.</summary>
    public bool IsAllocated => _buffer is not null;

    /// <summary>Appends as much of <paramref name="data"/> as fits; returns how many bytes were taken.</summary>
    public int Append(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, Free);
        if (n == 0) return 0;
        WriteAt(_count, data[..n]);
        _count += n;
        return n;
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> from the oldest byte without changing <see cref="Count"/>.</summary>
    public void WriteAt(int offset, ReadOnlySpan<byte> data)
    {
        if ((uint)offset > (uint)Capacity || data.Length > Capacity - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), "The write does not fit in the ring.");
        if (data.IsEmpty) return;
        byte[] buffer = _buffer ??= _pool.Rent(Capacity);
        int start = (_head + offset) % Capacity;
        int first = Math.Min(data.Length, Capacity - start);
        data[..first].CopyTo(buffer.AsSpan(start));
        data[first..].CopyTo(buffer);
    }

    /// <summary>Makes <paramref name="n"/> bytes already written past the end part of the ring.</summary>
    public void Commit(int n)
    {
        if (n < 0 || n > Free) throw new ArgumentOutOfRangeException(nameof(n));
        _count += n;
    }

    /// <summary>Copies <c>destination.Length</c> bytes starting at <paramref name="offset"/> without consuming them.</summary>
    public void CopyTo(int offset, Span<byte> destination)
    {
        GetSpans(offset, destination.Length, out ReadOnlySpan<byte> first, out ReadOnlySpan<byte> second);
        first.CopyTo(destination);
        second.CopyTo(destination[first.Length..]);
    }

    /// <summary>
    /// The <paramref name="length"/> bytes at <paramref name="offset"/> in place, without copying: <paramref name="first"/> up to the
    /// end of the array and <paramref name="second"/> from its start (empty unless the range wraps). Valid until the ring changes.
    /// </summary>
    public void GetSpans(int offset, int length, out ReadOnlySpan<byte> first, out ReadOnlySpan<byte> second)
    {
        if (offset < 0 || length < 0 || length > _count - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), "The range is not in the ring.");
        first = second = default;
        if (length == 0) return;
        byte[] buffer = _buffer!;
        int start = (_head + offset) % Capacity;
        int firstLength = Math.Min(length, Capacity - start);
        first = buffer.AsSpan(start, firstLength);
        second = buffer.AsSpan(0, length - firstLength);
    }

    /// <summary>Copies out and consumes up to <c>destination.Length</c> bytes.</summary>
    public int Read(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, _count);
        if (n == 0) return 0;
        CopyTo(0, destination[..n]);
        Discard(n);
        return n;
    }

    /// <summary>Drops the oldest <paramref name="n"/> bytes.</summary>
    public void Discard(int n)
    {
        if (n < 0 || n > _count) throw new ArgumentOutOfRangeException(nameof(n));
        _head = (_head + n) % Capacity;
        _count -= n; // the head is not reset: out-of-order bytes may sit past the end
    }

    /// <summary>
    /// Raises <see cref="Capacity"/> to <paramref name="capacity"/>, keeping every byte at its offset from the oldest, those past
    /// <see cref="Count"/> (<see cref="WriteAt"/>, out-of-order data) included: a rented array is replaced by a larger one, the
    /// old ring copied to its start, and the old array returned. A ring never shrinks.
    /// </summary>
    public void Grow(int capacity)
    {
        if (capacity <= Capacity) return;
        if (_buffer is not null)
        {
            byte[] larger = _pool.Rent(capacity);
            _buffer.AsSpan(_head, Capacity - _head).CopyTo(larger);
            _buffer.AsSpan(0, _head).CopyTo(larger.AsSpan(Capacity - _head));
            _pool.Return(_buffer);
            _buffer = larger;
            _head = 0;
        }
        Capacity = capacity;
    }

    /// <summary>
    /// Buffer auto-tuning's step: grows to the power of two at or above <paramref name="wanted"/> bytes, at most
    /// <paramref name="limit"/>; a ring already that large stays as it is.
    /// </summary>
    public void GrowToward(long wanted, int limit)
    {
        if (wanted <= Capacity || limit <= Capacity) return;
        Grow((int)Math.Min(limit, (long)BitOperations.RoundUpToPowerOf2((ulong)wanted)));
    }

    /// <summary>Returns the array to the pool if the ring is empty (the caller knows no out-of-order bytes are held).</summary>
    public void Release()
    {
        if (_count != 0 || _buffer is null) return;
        _pool.Return(_buffer);
        _buffer = null;
        _head = 0;
    }

    /// <summary>Empties the ring and returns its array.</summary>
    public void Clear()
    {
        _count = 0;
        _head = 0;
        Release();
    }
}
