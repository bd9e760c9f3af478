using System.Buffers;

namespace Rx.Netstack.Engine;

/// <summary>
/// Where received frames wait for their pass: one process-wide pool sized for bursts. <see cref="ArrayPool{T}.Shared"/> keeps
/// only a few dozen arrays per size per core; a TCP window arriving at once (180 frames of 1500 bytes for 256 KiB) overflowed
/// it, so every frame past that allocated a new array and the GC cleared it — measured as allocation per segment in
/// <c>bench tcp</c> at MTU 1500. This pool keeps up to <see cref="ArraysPerSize"/> arrays of each size, so a steady flow
/// recycles them; what it keeps is the peak of frames that waited at once.
/// </summary>
internal static class InboxBufferPool
{
    /// <summary>Arrays kept per size (a power of two up to 128 KiB).</summary>
    public const int ArraysPerSize = 1024;

    /// <summary>The pool (thread-safe; rent on a device's thread, return on the pass's).</summary>
    public static readonly ArrayPool<byte> Shared = ArrayPool<byte>.Create(maxArrayLength: 128 * 1024, maxArraysPerBucket: ArraysPerSize);
}
