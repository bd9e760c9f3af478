using System.Buffers;
using System.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// A bounded queue of whole packets (UDP datagrams, raw IP packets) over one byte ring plus a ring of metadata entries,
/// like smoltcp's packet buffer: a packet is stored contiguously, so when it does not fit before the end of the byte ring
/// it starts again at zero and the skipped tail counts as used until it is read. The byte array is rented only while
/// packets are held and returned when the ring empties, so an idle socket holds no buffer.
/// </summary>
internal sealed class PacketRing<TMeta> where TMeta : struct
{
    private readonly int _capacity;
    private readonly Entry[] _entries;
    private byte[]? _bytes;
    private int _head, _count;      // metadata ring
    private int _read, _write, _used; // byte ring: _used counts stored bytes and skipped tails

    private struct Entry
    {
        public TMeta Meta;
        public int Offset, Length, Skipped;
    }

    public PacketRing(int byteCapacity, int packetCapacity)
    {
        _capacity = byteCapacity;
        _entries = new Entry[packetCapacity];
    }

    public int Count => _count;
    public bool IsEmpty => _count == 0;

    /// <summary>Stores a copy of <paramref name="data"/>; false when there is no room (the caller counts the drop).</summary>
    public bool TryEnqueue(in TMeta meta, ReadOnlySpan<byte> data)
    {
        if (_count == _entries.Length || data.Length > _capacity) return false;
        if (_count == 0) _read = _write = _used = 0;
        int skipped = 0;
        int offset;
        if (_write >= _read && !(_used > 0 && _write == _read))
        {
            // Free space is [_write, capacity) and [0, _read).
            if (_capacity - _write >= data.Length) offset = _write;
            else if (_read >= data.Length) { skipped = _capacity - _write; offset = 0; }
            else return false;
        }
        else
        {
            // Wrapped: free space is [_write, _read).
            if (_read - _write >= data.Length) offset = _write;
            else return false;
        }
        _bytes ??= ArrayPool<byte>.Shared.Rent(_capacity);
        data.CopyTo(_bytes.AsSpan(offset));
        ref Entry entry = ref _entries[(_head + _count) % _entries.Length];
        entry.Meta = meta;
        entry.Offset = offset;
        entry.Length = data.Length;
        entry.Skipped = skipped;
        _count++;
        _write = offset + data.Length;
        if (_write == _capacity) _write = 0;
        _used += data.Length + skipped;
        AssertAccounting();
        return true;
    }

    /// <summary>The oldest packet without removing it.</summary>
    public bool TryPeek(out TMeta meta, out ReadOnlySpan<byte> data)
    {
        if (_count == 0)
        {
            meta = default;
            data = default;
            return false;
        }
        ref Entry entry = ref _entries[_head];
        meta = entry.Meta;
        data = _bytes.AsSpan(entry.Offset, entry.Length);
        return true;
    }

    /// <summary>Removes the oldest packet.</summary>
    public void Dequeue()
    {
        if (_count == 0) return;
        ref Entry entry = ref _entries[_head];
        _used -= entry.Length + entry.Skipped;
        _read = entry.Offset + entry.Length;
        if (_read == _capacity) _read = 0;
        entry = default;
        _head = (_head + 1) % _entries.Length;
        if (--_count == 0) Release();
        AssertAccounting();
    }

    /// <summary>The ring's accounting: packets within the entry ring, bytes (stored and skipped) within the byte ring, both
    /// read and write offsets inside it, and an empty ring holding no bytes.</summary>
    [Conditional("DEBUG")]
    private void AssertAccounting()
    {
        Debug.Assert(_count >= 0 && _count <= _entries.Length, "packet count within the entry ring");
        Debug.Assert(_used >= 0 && _used <= _capacity, "bytes used within the byte ring");
        Debug.Assert(_read >= 0 && _read < Math.Max(_capacity, 1) && _write >= 0 && _write < Math.Max(_capacity, 1), "offsets inside the byte ring");
        Debug.Assert(_count > 0 || (_used == 0 && _bytes is null), "an empty ring holds no bytes and no array");
        Debug.Assert(_count == 0 || _bytes is not null, "a ring with packets has its array");
    }

    /// <summary>Drops everything and returns the byte array to the pool.</summary>
    public void Release()
    {
        _head = _count = _read = _write = _used = 0;
        if (_bytes is null) return;
        ArrayPool<byte>.Shared.Return(_bytes);
        _bytes = null;
    }
}
