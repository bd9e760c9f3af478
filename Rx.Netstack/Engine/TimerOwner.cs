namespace Rx.Netstack.Engine;

/// <summary>
/// Something with deadlines (a socket, the reassembler, the pinger). It keeps its deadlines as plain fields and reports
/// the earliest as <see cref="PollAt"/>; the <see cref="TimerQueue"/> arms one scheduler wake-up for the earliest of all.
/// </summary>
internal abstract class TimerOwner
{
    /// <summary>The deadline this owner is currently queued under in the timer queue (Never when not queued).</summary>
    internal Instant QueuedDeadline = Instant.Never;

    /// <summary>The earliest time this owner needs <see cref="OnTimer"/>; <see cref="Instant.Never"/> for none.</summary>
    public abstract Instant PollAt { get; }

    /// <summary>Called on the engine when <c>now ≥ PollAt</c>.</summary>
    public abstract void OnTimer(Instant now);
}
