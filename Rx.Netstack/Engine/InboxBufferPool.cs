using System.Buffers;
using System.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// Where received frames wait for their pass: one process-wide pool sized for bursts. <see cref="ArrayPool{T}.Shared"/> keeps
/// only a few dozen arrays per size per core; a TCP window arriving at once (180 frames of 1500 bytes for 256 KiB) overflowed
/// it, so every frame past that allocated a new array and the GC cleared it — measured as allocation per segment in
/// <c>bench tcp</c> at MTU 1500. This pool keeps up to <see cref="ArraysPerSize"/> arrays of each size, so a steady flow
/// recycles them; what it keeps is the peak of frames that waited at once. In front of it each thread keeps a few arrays of
/// the two sizes almost every frame of an MTU-1500 link takes (a pure ACK, a full segment): a frame handed over synchronously
/// (an in-memory pipe, a pass run on the sender's thread) is rented and returned on one thread, and then costs no lock — the
/// shared pool takes a lock per bucket on each rent and return.
/// </summary>
internal static class InboxBufferPool
{
    /// <summary>Arrays kept per size (a power of two up to 128 KiB).</summary>
    public const int ArraysPerSize = 1024;

    /// <summary>The largest array the pool keeps (a frame is at most a 64 KiB IP packet).</summary>
    private const int MaxArrayLength = 128 * 1024;

    /// <summary>The pool (thread-safe; rent on a device's thread, return on the pass's).</summary>
    private static readonly ArrayPool<byte> Shared = ArrayPool<byte>.Create(MaxArrayLength, ArraysPerSize);

    /// <summary>The array lengths the per-thread caches hold: a pure ACK (up to 128 bytes) and a full frame of an MTU-1500
    /// link (1,025 to 2,048 bytes). A frame of another size goes to the shared pool directly, as before: a small frame never
    /// takes a large array (a burst of queued SYNs would hold megabytes).</summary>
    private const int AckArrayLength = 128, FrameArrayLength = 2048;

    /// <summary>How many arrays of each length a thread keeps (136 KiB in all); past that they go back to the shared pool.</summary>
    private const int ArraysPerThread = 64;

    /// <summary>This thread's cached arrays; created on the first return.</summary>
    [ThreadStatic] private static ThreadCache? t_cache;

    /// <summary>How many slots of each of <see cref="t_cache"/>'s two stacks are filled.</summary>
    [ThreadStatic] private static int t_cachedAcks, t_cachedFrames;

    /// <summary>Buffers rented and not yet returned, process-wide (kept in debug builds only, for the assertion in <see cref="Return"/>).</summary>
    private static long s_outstanding;

    /// <summary>A buffer of at least <paramref name="length"/> bytes for a frame.</summary>
    public static byte[] Rent(int length)
    {
        Debug.Assert(length is > 0 and <= MaxArrayLength, "an inbox frame is between 1 byte and the largest array the pool keeps");
        CountOutstanding(+1);
        if (length <= AckArrayLength) return t_cachedAcks > 0 ? Take(0, --t_cachedAcks) : Shared.Rent(AckArrayLength);
        if (length is > FrameArrayLength / 2 and <= FrameArrayLength && t_cachedFrames > 0) return Take(1, --t_cachedFrames);
        return Shared.Rent(length);
    }

    /// <summary>Gives back a buffer from <see cref="Rent"/>, once its frame was processed.</summary>
    public static void Return(byte[] buffer)
    {
        CountOutstanding(-1);
        if (buffer.Length == AckArrayLength && t_cachedAcks < ArraysPerThread)
        {
            Keep(0, t_cachedAcks++, buffer);
            return;
        }
        if (buffer.Length == FrameArrayLength && t_cachedFrames < ArraysPerThread)
        {
            Keep(1, t_cachedFrames++, buffer);
            return;
        }
        Shared.Return(buffer);
    }

    /// <summary>Takes the array at <paramref name="slot"/> of stack <paramref name="size"/> (counted off by the caller).</summary>
    private static byte[] Take(int size, int slot)
    {
        byte[]?[] stack = t_cache!.Stacks[size]; // non-null once anything was cached
        byte[] array = stack[slot]!;
        stack[slot] = null;
        return array;
    }

    /// <summary>Puts <paramref name="array"/> at <paramref name="slot"/> of this thread's stack <paramref name="size"/>.</summary>
    private static void Keep(int size, int slot, byte[] array)
    {
        t_cache ??= new ThreadCache();
        t_cache.Stacks[size][slot] = array;
    }

    /// <summary>
    /// A thread's cached arrays of <see cref="AckArrayLength"/> (stack 0) and <see cref="FrameArrayLength"/> bytes (stack 1).
    /// The shared pool counts them as rented, so when the thread ends they must go back, or its buckets would run dry as
    /// threads come and go (pool threads retire when idle; every stack with its own event loop has a thread): then a full
    /// frame got a 4 KiB array, and once every bucket was out, a new one per frame. Nothing is told of a thread's end, but
    /// its thread-static cache becomes unreachable with it, and the finalizer returns what it held.
    /// </summary>
    private sealed class ThreadCache
    {
        /// <summary>The two stacks, filled from slot 0 (<c>t_cachedAcks</c>, <c>t_cachedFrames</c> count them).</summary>
        public readonly byte[]?[][] Stacks = [new byte[ArraysPerThread][], new byte[ArraysPerThread][]];

        ~ThreadCache()
        {
            foreach (byte[]?[] stack in Stacks)
            {
                foreach (byte[]? array in stack)
                {
                    if (array is not null) Shared.Return(array);
                }
            }
        }
    }

    [Conditional("DEBUG")]
    private static void CountOutstanding(int change) =>
        Debug.Assert(Interlocked.Add(ref s_outstanding, change) >= 0, "an inbox buffer was returned twice, or one not rented here");
}
