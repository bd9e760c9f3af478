using System.Buffers;

namespace Rx.Netstack.Tcp;

/// <summary>
/// What all connections of one stack share: the challenge-ACK rate limiter (RFC 5961 §7), the counters, the pool the
/// send and receive rings rent from and the device's segmentation offload. Used only on the engine thread. Nothing here
/// describes one segment or one call: what a call needs is passed to it.
/// </summary>
internal sealed class TcpStackContext
{
    /// <summary>Creates a context.</summary>
    /// <param name="challengeAcksPerSecond">The RFC 5961 §7 limit (default 1000 a second).</param>
    /// <param name="bufferPool">The pool for ring buffers (default <see cref="ArrayPool{T}.Shared"/>).</param>
    /// <param name="challengeAckJitter">Draws each second's challenge-ACK budget (see <see cref="ChallengeAckLimiter"/>), or
    /// null for a fixed budget.</param>
    public TcpStackContext(int challengeAcksPerSecond = 1000, ArrayPool<byte>? bufferPool = null, Random? challengeAckJitter = null)
    {
        ChallengeAcks = new ChallengeAckLimiter(challengeAcksPerSecond, challengeAckJitter);
        BufferPool = bufferPool ?? ArrayPool<byte>.Shared;
    }

    /// <summary>Stack-wide counters.</summary>
    public TcpCounters Counters { get; } = new();

    /// <summary>The challenge-ACK limiter.</summary>
    public ChallengeAckLimiter ChallengeAcks { get; }

    /// <summary>
    /// The MTU of the attached device when it segments TCP itself (<see cref="IPacketDevice.TcpSegmentationOffload"/> with
    /// transmit checksum offload), else 0: connections may then send super-segments (see <c>TcpControlBlock.SegmentLimit</c>).
    /// </summary>
    public int SegmentationOffloadMtu { get; set; }

    /// <summary>The pool ring buffers rent from.</summary>
    public ArrayPool<byte> BufferPool { get; }
}
