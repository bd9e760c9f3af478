using Rx.Netstack.Engine;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// The inbox pool's per-thread cache: a frame returned on a thread is what the next frame of its size class rented there
/// gets (no lock, no new array), and a small frame never takes a full frame's array (a burst of SYNs stays small). Serial: one
/// test counts on the process-wide pool's buckets, which tests running beside it would draw on.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class InboxBufferPoolTests
{
    [Theory]
    [InlineData(52, 128)]   // a pure ACK with timestamps
    [InlineData(128, 128)]
    [InlineData(1500, 2048)] // a full frame of an MTU-1500 link
    [InlineData(1025, 2048)]
    [InlineData(2048, 2048)]
    public void A_frame_returned_on_this_thread_is_rented_again_for_the_same_size_class(int length, int arrayLength)
    {
        // Earlier tests on this thread may have filled its cache: empty it first (64 arrays a size), keeping what it held.
        var held = new List<byte[]>();
        for (int i = 0; i <= 64; i++) held.Add(InboxBufferPool.Rent(length));
        byte[] first = held[^1];
        held.RemoveAt(held.Count - 1);
        Assert.Equal(arrayLength, first.Length);
        InboxBufferPool.Return(first);
        byte[] again = InboxBufferPool.Rent(length);
        Assert.Same(first, again);
        InboxBufferPool.Return(again);
        foreach (byte[] array in held) InboxBufferPool.Return(array);
    }

    [Theory]
    [InlineData(44)]
    [InlineData(129)]
    [InlineData(1024)]
    public void A_small_frame_never_takes_a_full_frame_array(int length)
    {
        // A full frame's array is cached on this thread first: a smaller frame must still get an array of its own size class.
        byte[] full = InboxBufferPool.Rent(1500);
        InboxBufferPool.Return(full);
        byte[] small = InboxBufferPool.Rent(length);
        Assert.NotSame(full, small);
        Assert.True(small.Length < 2048, $"a {length}-byte frame got a {small.Length}-byte array");
        InboxBufferPool.Return(small);
    }

    [Fact]
    public void A_larger_frame_comes_from_the_shared_pool()
    {
        byte[] big = InboxBufferPool.Rent(9000);
        Assert.True(big.Length >= 9000);
        InboxBufferPool.Return(big);
    }

    [Fact]
    public void Arrays_cached_by_a_thread_that_ended_go_back_to_the_shared_pool()
    {
        // Each thread keeps up to 64 full-frame arrays, which the shared pool (1,024 arrays a size) counts as rented. Twenty
        // threads that each cached 64 and ended would hold 1,280 of them: without handing them back, the 2 KiB bucket ran dry
        // and a full frame got a 4 KiB array.
        for (int t = 0; t < 20; t++)
        {
            var thread = new Thread(() =>
            {
                var arrays = new byte[64][];
                for (int i = 0; i < arrays.Length; i++) arrays[i] = InboxBufferPool.Rent(1500);
                foreach (byte[] array in arrays) InboxBufferPool.Return(array);
            });
            thread.Start();
            thread.Join();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();

        var rented = new List<byte[]>();
        var lengths = new List<int>();
        var check = new Thread(() =>
        {
            for (int i = 0; i < 128; i++) rented.Add(InboxBufferPool.Rent(1500));
            lengths.AddRange(rented.Select(a => a.Length).Distinct());
            foreach (byte[] array in rented) InboxBufferPool.Return(array);
        });
        check.Start();
        check.Join();
        Assert.Equal([2048], lengths);
    }
}
