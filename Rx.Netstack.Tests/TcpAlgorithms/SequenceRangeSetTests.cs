using CsCheck;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class SequenceRangeSetTests
{
    private static SeqNumber S(uint v) => new(v);

    [Fact]
    public void Adds_merge_overlapping_and_adjacent_ranges()
    {
        var set = new SequenceRangeSet(4);
        Assert.True(set.Add(S(100), S(200)));
        Assert.True(set.Add(S(300), S(400)));
        Assert.Equal(2, set.Count);
        Assert.True(set.Add(S(200), S(250))); // adjacent on the left range
        Assert.Equal(new SackBlock(S(100), S(250)), set[0]);
        Assert.True(set.Add(S(240), S(300))); // bridges both
        Assert.Equal(1, set.Count);
        Assert.Equal(new SackBlock(S(100), S(400)), set[0]);
    }

    [Fact]
    public void A_full_set_refuses_a_new_disjoint_range_but_accepts_a_merging_one()
    {
        var set = new SequenceRangeSet(2);
        Assert.True(set.Add(S(0), S(10)));
        Assert.True(set.Add(S(20), S(30)));
        Assert.False(set.Add(S(40), S(50)));
        Assert.Equal(2, set.Count);
        Assert.True(set.Add(S(30), S(45)));
        Assert.Equal(new SackBlock(S(20), S(45)), set[1]);
    }

    [Fact]
    public void Ranges_across_the_wrap_are_ordered_by_sequence_not_by_raw_value()
    {
        var set = new SequenceRangeSet();
        set.Add(S(10), S(20));
        set.Add(S(uint.MaxValue - 20), S(uint.MaxValue - 10));
        set.Add(S(uint.MaxValue - 5), S(5)); // crosses 2^32
        Assert.Equal(3, set.Count);
        Assert.Equal(S(uint.MaxValue - 20), set[0].Left);
        Assert.Equal(new SackBlock(S(uint.MaxValue - 5), S(5)), set[1]);
        Assert.Equal(S(20), set.HighestRight(S(0)));
        Assert.Equal(10L + 11L + 10L, set.BytesAtOrAfter(S(uint.MaxValue - 100)));
        set.RemoveBefore(S(uint.MaxValue - 2));
        Assert.Equal(2, set.Count);
        Assert.Equal(new SackBlock(S(uint.MaxValue - 2), S(5)), set[0]);
        Assert.Equal(S(5), set.ContiguousEnd(S(uint.MaxValue)));
    }

    [Fact]
    public void Queries_on_a_small_example()
    {
        var set = new SequenceRangeSet();
        set.Add(S(100), S(200));
        set.Add(S(300), S(400));
        Assert.Equal(S(200), set.ContiguousEnd(S(100)));
        Assert.Equal(S(200), set.ContiguousEnd(S(150)));
        Assert.Equal(S(200), set.ContiguousEnd(S(200)));
        Assert.Equal(S(99), set.ContiguousEnd(S(99)));
        Assert.True(set.Contains(S(120), S(180)));
        Assert.True(set.Contains(S(100), S(200)));
        Assert.False(set.Contains(S(150), S(350)));
        Assert.False(set.Contains(S(90), S(110)));
        Assert.Equal(150L, set.BytesAtOrAfter(S(150)));
        Assert.Equal(1, set.IndexOfRangeContaining(S(399)));
        Assert.Equal(-1, set.IndexOfRangeContaining(S(400)));
        Assert.Equal(S(400), set.HighestRight(S(7)));
        set.Clear();
        Assert.Equal(0, set.Count);
        Assert.Equal(S(7), set.HighestRight(S(7)));
        Assert.Throws<ArgumentOutOfRangeException>(() => set[0]);
    }

    [Fact]
    public void Operations_allocate_nothing()
    {
        var set = new SequenceRangeSet(8);
        void Run()
        {
            for (uint i = 0; i < 200; i++)
            {
                set.Add(S(i * 30), S(i * 30 + 10));
                set.Add(S(i * 30 + 5), S(i * 30 + 20));
                _ = set.Contains(S(i * 30), S(i * 30 + 3)) && set.ContiguousEnd(S(i * 30)) != S(0);
                _ = set.BytesAtOrAfter(S(i * 30));
                set.RemoveBefore(S(i * 30 - 60));
            }
            set.Clear();
        }
        Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    private enum OpKind { Add, AddAgain, RemoveBefore, Clear }

    private readonly record struct Op(OpKind Kind, int A, int B);

    [Fact]
    public void Behaves_like_a_set_of_covered_offsets()
    {
        var genBase = Gen.Select(Gen.UInt, Gen.Bool, (u, nearWrap) => nearWrap ? uint.MaxValue - u % 700 : u);
        var genOp = Gen.Select(Gen.Int[0, 3], Gen.Int[0, 600], Gen.Int[0, 80], (k, a, b) =>
            new Op(k == 3 && a > 20 ? OpKind.Add : (OpKind)k, a, b));
        // Fixed arrays (initial = capacity) and growing ones (a small array first, grown as ranges are added).
        var gen = Gen.Select(genBase, Gen.Int[1, 6], Gen.Int[0, 30], Gen.Bool, genOp.Array[1, 80]);
        gen.Sample((baseValue, initial, extra, grows, ops) => Run(baseValue, initial, grows ? initial + extra : initial, ops), iter: 3000);
    }

    private static void Run(uint baseValue, int initialCapacity, int capacity, Op[] ops)
    {
        SeqNumber At(int offset) => new(unchecked(baseValue + (uint)offset));
        var set = new SequenceRangeSet(initialCapacity, capacity);
        var model = new HashSet<int>();
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case OpKind.Add:
                case OpKind.AddAgain:
                {
                    var grown = new HashSet<int>(model);
                    for (int i = op.A; i < op.A + op.B; i++) grown.Add(i);
                    bool fits = Runs(grown).Count <= capacity;
                    Assert.Equal(fits, set.Add(At(op.A), At(op.A + op.B)));
                    if (fits) model = grown;
                    break;
                }
                case OpKind.RemoveBefore:
                    set.RemoveBefore(At(op.A));
                    model.RemoveWhere(x => x < op.A);
                    break;
                case OpKind.Clear:
                    set.Clear();
                    model.Clear();
                    break;
            }
            Check(set, model, At, op.A, op.B);
            Check(set, model, At, op.B * 7, op.B);
        }
    }

    private static void Check(SequenceRangeSet set, HashSet<int> model, Func<int, SeqNumber> at, int q, int length)
    {
        var runs = Runs(model);
        Assert.Equal(runs.Count, set.Count);
        for (int i = 0; i < runs.Count; i++)
            Assert.Equal(new SackBlock(at(runs[i].Start), at(runs[i].End)), set[i]);

        int end = q;
        while (model.Contains(end)) end++;
        Assert.Equal(at(end), set.ContiguousEnd(at(q)));

        int index = runs.FindIndex(r => r.Start <= q && q < r.End);
        Assert.Equal(index, set.IndexOfRangeContaining(at(q)));

        bool contained = length == 0
            ? model.Contains(q) || model.Contains(q - 1)
            : Enumerable.Range(q, length).All(model.Contains);
        Assert.Equal(contained, set.Contains(at(q), at(q + length)));

        Assert.Equal(model.Count(x => x >= q), set.BytesAtOrAfter(at(q)));
        Assert.Equal(model.Count == 0 ? at(-5) : at(model.Max() + 1), set.HighestRight(at(-5)));
    }

    private static List<(int Start, int End)> Runs(HashSet<int> covered)
    {
        var runs = new List<(int Start, int End)>();
        foreach (int x in covered.Order())
        {
            if (runs.Count > 0 && runs[^1].End == x) runs[^1] = (runs[^1].Start, x + 1);
            else runs.Add((x, x + 1));
        }
        return runs;
    }

    [Fact]
    public void A_growing_set_holds_ranges_past_its_first_array_up_to_its_capacity_and_reuses_the_larger_array()
    {
        var set = new SequenceRangeSet(2, 40);
        (bool FortyFirstRefused, bool MergedWhenFull, int Count, long Bytes) Fill()
        {
            for (uint i = 0; i < 40; i++) set.Add(S(i * 10), S(i * 10 + 5));
            bool refused = !set.Add(S(1000), S(1005)); // a 41st range
            bool merged = set.Add(S(395), S(1000));    // merging still works when full
            var seen = (refused, merged, set.Count, set.BytesAtOrAfter(S(0)));
            set.RemoveBefore(S(2000)); // empty: the rented array goes back to the pool
            return seen;
        }
        Assert.Equal((true, true, 40, 39 * 5 + 610L), Fill());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var again = Fill(); // grows through the same pooled arrays: nothing allocated
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((true, true, 40, 39 * 5 + 610L), again);
        Assert.Equal(0, allocated);
        Assert.True(set.IsEmpty);
        Assert.Equal(32, SequenceRangeSet.CapacityForWindow(16 * 1024));
        Assert.Equal(978, SequenceRangeSet.CapacityForWindow(1 << 20));
        Assert.Equal(4096, SequenceRangeSet.CapacityForWindow(64 << 20));
    }

    [Fact]
    public void The_array_is_allocated_at_the_first_insertion()
    {
        // An idle connection keeps two sets (out-of-order data, SACK scoreboard): 32 ranges each would be 2 × 280 bytes.
        var warm = new SequenceRangeSet(32);
        warm.Add(S(0), S(10));
        long start = GC.GetAllocatedBytesForCurrentThread();
        var set = new SequenceRangeSet(32);
        long empty = GC.GetAllocatedBytesForCurrentThread() - start;
        set.Add(S(0), S(10));
        long first = GC.GetAllocatedBytesForCurrentThread() - start - empty;
        set.Add(S(20), S(30));
        long second = GC.GetAllocatedBytesForCurrentThread() - start - empty - first;
        Assert.True(empty < 32 * 8, $"{empty} bytes for an empty set");
        Assert.True(first >= 32 * 8, $"{first} bytes for the first range");
        Assert.Equal(0, second);
        Assert.Equal(32, set.Capacity);
    }
}
