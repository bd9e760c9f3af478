using System.Globalization;
namespace Rx.Netstack;

/// <summary>
/// A point in the engine's time, in ticks of 100 ns, read from the stack's <see cref="System.Reactive.Concurrency.IScheduler"/>
/// (never from the wall clock). Protocol state machines are given an <see cref="Instant"/>; they never read a clock.
/// </summary>
/// <param name="Ticks">Ticks of 100 ns since the scheduler's epoch.</param>
public readonly record struct Instant(long Ticks) : IComparable<Instant>
{
    /// <summary>A deadline that never comes.</summary>
    public static Instant Never => new(long.MaxValue);

    /// <summary>True when this is <see cref="Never"/>.</summary>
    public bool IsNever => Ticks == long.MaxValue;

    /// <summary>Reads the scheduler's current time.</summary>
    public static Instant From(DateTimeOffset now) => new(now.UtcTicks);

    /// <summary>The same instant as a <see cref="DateTimeOffset"/> (UTC).</summary>
    public DateTimeOffset ToDateTimeOffset() => new(IsNever ? DateTimeOffset.MaxValue.UtcTicks : Ticks, TimeSpan.Zero);

    /// <summary>Adds a duration, saturating at <see cref="Never"/>.</summary>
    public static Instant operator +(Instant at, TimeSpan span)
    {
        if (at.IsNever) return at;
        long t = at.Ticks + span.Ticks;
        return span.Ticks > 0 && t < at.Ticks ? Never : new Instant(t);
    }

    /// <summary>The time between two instants.</summary>
    public static TimeSpan operator -(Instant a, Instant b) => new(a.Ticks - b.Ticks);

    /// <summary>Orders instants.</summary>
    public static bool operator <(Instant a, Instant b) => a.Ticks < b.Ticks;
    /// <summary>Orders instants.</summary>
    public static bool operator >(Instant a, Instant b) => a.Ticks > b.Ticks;
    /// <summary>Orders instants.</summary>
    public static bool operator <=(Instant a, Instant b) => a.Ticks <= b.Ticks;
    /// <summary>Orders instants.</summary>
    public static bool operator >=(Instant a, Instant b) => a.Ticks >= b.Ticks;

    /// <summary>The earlier of two instants.</summary>
    public static Instant Min(Instant a, Instant b) => a.Ticks <= b.Ticks ? a : b;

    /// <inheritdoc />
    public int CompareTo(Instant other) => Ticks.CompareTo(other.Ticks);

    /// <inheritdoc />
    public override string ToString() => IsNever ? "never" : ToDateTimeOffset().ToString("HH:mm:ss.fffffff", CultureInfo.InvariantCulture);
}
