using System.Buffers;
using System.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// Where received frames wait for their pass: one process-wide pool sized for bursts. <see cref="ArrayPool{T}.Shared"/> keeps
/// only a few dozen arrays per size per core; a TCP window arriving at once (180 frames of 1500 bytes for 256 KiB) overflowed
/// it, so every frame past that allocated a new array and the GC cleared it — measured as allocation per segment in
/// <c>bench tcp</c> at MTU 1500. This pool keeps up to <see cref="ArraysPerSize"/> arrays of each size, so a steady flow
/// recycles them; what it keeps is the peak of frames that waited at once. In front of it each thread keeps a few arrays of
/// <see cref="SmallArrayLength"/> bytes (every frame of an MTU-1500 link): a frame handed over synchronously (an in-memory pipe,
/// a pass run on the sender's thread) is rented and returned on one thread, and then costs no lock — the shared pool takes
/// a lock per bucket on each rent and return.
/// </summary>
internal static class InboxBufferPool
{
    /// <summary>Arrays kept per size (a power of two up to 128 KiB).</summary>
    public const int ArraysPerSize = 1024;

    /// <summary>The largest array the pool keeps (a frame is at most a 64 KiB IP packet).</summary>
    private const int MaxArrayLength = 128 * 1024;

    /// <summary>The pool (thread-safe; rent on a device's thread, return on the pass's).</summary>
    private static readonly ArrayPool<byte> Shared = ArrayPool<byte>.Create(MaxArrayLength, ArraysPerSize);

    /// <summary>The array length the per-thread cache holds: frames of up to this many bytes come from it.</summary>
    private const int SmallArrayLength = 2048;

    /// <summary>How many arrays a thread keeps (128 KiB); past that they go back to the shared pool.</summary>
    private const int ArraysPerThread = 64;

    /// <summary>This thread's cached arrays, all of <see cref="SmallArrayLength"/> bytes (created on first return).</summary>
    [ThreadStatic] private static byte[]?[]? t_cache;

    /// <summary>How many of <see cref="t_cache"/>'s slots are filled.</summary>
    [ThreadStatic] private static int t_cached;

    /// <summary>Buffers rented and not yet returned, process-wide (kept in debug builds only, for the assertion in <see cref="Return"/>).</summary>
    private static long s_outstanding;

    /// <summary>A buffer of at least <paramref name="length"/> bytes for a frame.</summary>
    public static byte[] Rent(int length)
    {
        Debug.Assert(length is > 0 and <= MaxArrayLength, "an inbox frame is between 1 byte and the largest array the pool keeps");
        CountOutstanding(+1);
        if (length > SmallArrayLength) return Shared.Rent(length);
        if (t_cached > 0)
        {
            byte[]?[] cache = t_cache!; // non-null once anything was cached
            byte[] array = cache[--t_cached]!;
            cache[t_cached] = null;
            return array;
        }
        return Shared.Rent(SmallArrayLength);
    }

    /// <summary>Gives back a buffer from <see cref="Rent"/>, once its frame was processed.</summary>
    public static void Return(byte[] buffer)
    {
        CountOutstanding(-1);
        if (buffer.Length == SmallArrayLength && t_cached < ArraysPerThread)
        {
            (t_cache ??= new byte[ArraysPerThread][])[t_cached++] = buffer;
            return;
        }
        Shared.Return(buffer);
    }

    [Conditional("DEBUG")]
    private static void CountOutstanding(int change) =>
        Debug.Assert(Interlocked.Add(ref s_outstanding, change) >= 0, "an inbox buffer was returned twice, or one not rented here");
}
