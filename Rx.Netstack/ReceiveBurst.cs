using Rx.Netstack.Engine;

namespace Rx.Netstack;

/// <summary>
/// A device's read burst: the frames a device hands to <see cref="IPacketDevice.Received"/> on this thread while the burst is
/// open are processed by a stack after it ends, in one pass, instead of one pass per frame. Begin one around the frames of
/// one wake-up of a device's read loop (all that was queued, bounded):
/// <code>
/// using (ReceiveBurst.Begin())
///     while (TryRead(buffer, out int n)) received.OnNext(buffer.AsMemory(0, n));
/// </code>
/// </summary>
/// <remarks>
/// <para>Why: a stack with its own event loop runs the pass for a frame on the thread that delivered it when the engine is idle
/// (as a kernel runs its network stack in the system call). Delivered one by one, each frame gets a pass of its own, so frames
/// never wait in the stack's inbox together, and receive coalescing (<see cref="NetstackOptions.CoalesceReceivedSegments"/>,
/// GRO) has no run of in-order TCP segments to merge. Inside a burst each frame is queued as usual and the pass it asks for is
/// owed by this thread: when the outermost burst ends, the pass runs here (or is posted, when the engine is busy or runs on a
/// scheduler the application supplied), and its round sees the whole burst — as Linux's NAPI polls up to 64 packets a
/// budget and lets GRO merge them before the stack sees them. Frames a stack moves between its engines (flow sharding),
/// and frames of several stacks subscribed to one device, are covered alike.</para>
/// <para>Once a frame is queued, the stack's next pass is the one this thread owes, so whatever else is asked of that stack
/// meanwhile (a command from any thread) waits for the end of the burst too, as it waits for a pass in progress. A
/// synchronous call that blocks until a stack answers (a <c>Stream</c>'s <c>Read</c>) is refused inside a burst, as on the
/// engine's thread; and a subscriber of a device's frames must not block for a stack in any other way while a burst is
/// open.</para>
/// <para>Begin and end a burst on the same thread (the <c>using</c> above); bursts nest, and only the outermost end runs the
/// owed passes. Keep a burst short and bounded (what one <c>poll()</c> found, up to a budget): the frames wait until it ends.
/// A device whose frames are large enough to be handed over in their buffers (<see cref="DeviceReadBuffer"/>, super-packets)
/// gains little, and holds a buffer per frame until the end. Costs nothing to allocate.</para>
/// </remarks>
public readonly struct ReceiveBurst : IDisposable
{
    /// <summary>The thread that began the burst (0 for <c>default</c>, which ends nothing).</summary>
    private readonly int _threadId;

    private ReceiveBurst(int threadId) => _threadId = threadId;

    /// <summary>Begins a burst on the calling thread; dispose the result, on the same thread, to end it.</summary>
    public static ReceiveBurst Begin()
    {
        PassScheduler.BeginBurst();
        return new ReceiveBurst(Environment.CurrentManagedThreadId);
    }

    /// <summary>Ends the burst; when it is the outermost, the passes the frames asked for run (or are posted) now.</summary>
    /// <exception cref="InvalidOperationException">On another thread than the one that began it, or when no burst is open.</exception>
    public void Dispose()
    {
        if (_threadId == 0) return;
        if (_threadId != Environment.CurrentManagedThreadId)
            throw new InvalidOperationException("A receive burst must end on the thread that began it.");
        PassScheduler.EndBurst();
    }
}
