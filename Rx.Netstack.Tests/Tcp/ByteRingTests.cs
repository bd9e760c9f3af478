using System.Buffers;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.Tcp;

public class ByteRingTests
{
    private sealed class CountingPool : ArrayPool<byte>
    {
        public int Rented, Returned;
        public override byte[] Rent(int minimumLength) { Rented++; return new byte[minimumLength + 7]; }
        public override void Return(byte[] array, bool clearArray = false) => Returned++;
    }

    [Fact]
    public void Rents_lazily_wraps_around_and_returns_when_empty()
    {
        var pool = new CountingPool();
        var ring = new ByteRing(10, pool);
        Assert.False(ring.IsAllocated);
        Assert.Equal(0, pool.Rented);
        Assert.Equal(7, ring.Append([1, 2, 3, 4, 5, 6, 7]));
        Assert.Equal(1, pool.Rented);
        var buf = new byte[5];
        Assert.Equal(5, ring.Read(buf));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, buf);
        Assert.Equal(8, ring.Append([8, 9, 10, 11, 12, 13, 14, 15, 16])); // wraps; only 8 fit
        var all = new byte[10];
        ring.CopyTo(0, all);
        Assert.Equal(new byte[] { 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }, all);
        ring.Discard(10);
        ring.Release();
        Assert.Equal(1, pool.Returned);
        Assert.False(ring.IsAllocated);
    }

    [Fact]
    public void Out_of_order_bytes_written_past_the_end_survive_reads_and_join_on_commit()
    {
        var ring = new ByteRing(8, new CountingPool());
        ring.Append([1, 2, 3]);
        ring.WriteAt(5, [6, 7]);   // a gap at offsets 3–4
        var head = new byte[3];
        Assert.Equal(3, ring.Read(head));
        ring.WriteAt(0, [4, 5]);   // the gap, now at the front
        ring.Commit(4);
        var rest = new byte[4];
        Assert.Equal(4, ring.Read(rest));
        Assert.Equal(new byte[] { 4, 5, 6, 7 }, rest);
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.WriteAt(7, [1, 2]));
    }

    [Fact]
    public void Growing_keeps_the_held_bytes_at_their_offsets_even_when_they_wrapped_and_returns_the_old_array()
    {
        var pool = new CountingPool();
        var ring = new ByteRing(8, pool);
        ring.Append([1, 2, 3, 4, 5, 6]);
        ring.Discard(4);
        ring.Append([7, 8, 9, 10, 11]); // 5..11 held, wrapped around the end of the 8-byte ring
        ring.Grow(16);
        Assert.Equal((16, 7, 9), (ring.Capacity, ring.Count, ring.Free));
        Assert.Equal((2, 1), (pool.Rented, pool.Returned));
        var held = new byte[7];
        ring.CopyTo(0, held);
        Assert.Equal(new byte[] { 5, 6, 7, 8, 9, 10, 11 }, held);
        Assert.Equal(9, ring.Append([12, 13, 14, 15, 16, 17, 18, 19, 20, 21])); // the new room, and no more
        ring.Grow(12); // never shrinks
        Assert.Equal(16, ring.Capacity);

        var empty = new ByteRing(8, pool);
        empty.Grow(32); // nothing rented yet: the larger array comes with the first write
        Assert.Equal(2, pool.Rented);
        Assert.Equal(32, empty.Append(new byte[40]));
    }
}
