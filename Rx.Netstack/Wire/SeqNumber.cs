using System.Globalization;
namespace Rx.Netstack.Wire;

/// <summary>
/// A TCP sequence number: 32 bits with wrapping arithmetic and comparison (RFC 9293 §3.4), so every
/// comparison stays correct across the 2^32 wrap. Never compare raw <see cref="uint"/> values.
/// </summary>
/// <param name="Value">The raw 32-bit value.</param>
public readonly record struct SeqNumber(uint Value) : IComparable<SeqNumber>
{
    /// <summary>Advances by <paramref name="n"/> bytes, wrapping.</summary>
    public static SeqNumber operator +(SeqNumber s, int n) => new(unchecked(s.Value + (uint)n));

    /// <summary>Goes back by <paramref name="n"/> bytes, wrapping.</summary>
    public static SeqNumber operator -(SeqNumber s, int n) => new(unchecked(s.Value - (uint)n));

    /// <summary>The signed distance <c>a − b</c>, valid while the two are within 2^31 of each other.</summary>
    public static int operator -(SeqNumber a, SeqNumber b) => unchecked((int)(a.Value - b.Value));

    /// <summary>Wrapping "before".</summary>
    public static bool operator <(SeqNumber a, SeqNumber b) => (a - b) < 0;
    /// <summary>Wrapping "after".</summary>
    public static bool operator >(SeqNumber a, SeqNumber b) => (a - b) > 0;
    /// <summary>Wrapping "before or equal".</summary>
    public static bool operator <=(SeqNumber a, SeqNumber b) => (a - b) <= 0;
    /// <summary>Wrapping "after or equal".</summary>
    public static bool operator >=(SeqNumber a, SeqNumber b) => (a - b) >= 0;

    /// <summary>The later of two sequence numbers.</summary>
    public static SeqNumber Max(SeqNumber a, SeqNumber b) => a >= b ? a : b;

    /// <summary>The earlier of two sequence numbers.</summary>
    public static SeqNumber Min(SeqNumber a, SeqNumber b) => a <= b ? a : b;

    /// <summary>True when <c>low ≤ this &lt; high</c> in wrapping order.</summary>
    public bool InRange(SeqNumber low, SeqNumber high) => this >= low && this < high;

    /// <inheritdoc />
    public int CompareTo(SeqNumber other) => (this - other).CompareTo(0);

    /// <inheritdoc />
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}
