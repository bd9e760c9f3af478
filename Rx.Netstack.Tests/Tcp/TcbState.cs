using System.Globalization;
using System.Reflection;
using System.Text;
using Rx.Netstack.Engine;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// A control block's whole state as named values, for transcript tests to compare with the state they expect in one
/// assertion — smoltcp's <c>sanity!</c>. Every field of every named part is here (<c>Sender.Una</c>, <c>Receiver.WindowEdge</c>,
/// <c>Timers.Retransmit</c>, <c>Recovery.DupAcks</c> …) beside the connection's own (<c>State</c>, <c>Error</c> …); the
/// congestion controller and the RTT estimator show what they publish (cwnd, ssthresh; SRTT, RTTVAR, RTO), a ring its
/// count, a range set its ranges. A test takes a state from a fixture, says what changed with <see cref="With"/>, and
/// <see cref="AssertEqual"/> lists every field that differs.
/// </summary>
internal sealed class TcbState
{
    /// <summary>The parts by the type of the block's field that holds them.</summary>
    private static readonly Dictionary<Type, string> PartNames = new()
    {
        [typeof(TcpSender)] = "Sender",
        [typeof(TcpReceiver)] = "Receiver",
        [typeof(TcpAgreedOptions)] = "Options",
        [typeof(TcpTimers)] = "Timers",
        [typeof(TcpPendingOutput)] = "Pending",
        [typeof(PendingReset)] = "Reset",
        [typeof(ILossRecovery)] = "Recovery",
        [typeof(ICongestionControl)] = "Congestion",
        [typeof(RttEstimator)] = "Rtt",
        [typeof(TcpPathMtu)] = "PathMtu",
    };

    /// <summary>Shared with every connection of the stack or fixed by the user: not the connection's state.</summary>
    private static readonly HashSet<Type> NotState = [typeof(TcpStackContext), typeof(TcpSettings), typeof(ICongestionControl)];

    private readonly SortedDictionary<string, object?> _values;

    private TcbState(SortedDictionary<string, object?> values) => _values = values;

    /// <summary>The names of all the fields, sorted.</summary>
    public IEnumerable<string> Names => _values.Keys;

    /// <summary>One field's value (a <see cref="SeqNumber"/>, an <see cref="Instant"/>, a count …).</summary>
    public object? this[string name] => _values.TryGetValue(name, out object? value) ? value : throw UnknownField(name);

    /// <summary>The whole state of <paramref name="tcb"/> now.</summary>
    public static TcbState Of(TcpControlBlock tcb)
    {
        var values = new SortedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (FieldInfo field in InstanceFields(typeof(TcpControlBlock)))
        {
            if (NotState.Contains(field.FieldType) && !PartNames.ContainsKey(field.FieldType)) continue;
            string name = PartNames.TryGetValue(field.FieldType, out string? part) ? part : FieldName(field);
            Add(values, name, field.GetValue(tcb), field.FieldType);
        }
        return new TcbState(values);
    }

    /// <summary>
    /// This state with some fields changed, given as an anonymous object shaped like the parts:
    /// <c>With(new { State = TcpState.FinWait1, Sender = new { Una = 1101u, FinQueued = true } })</c>. A sequence number
    /// may be given as a number; a name that is not a field, or a value of the wrong type, throws.
    /// </summary>
    public TcbState With(object changes)
    {
        var values = new SortedDictionary<string, object?>(_values, StringComparer.Ordinal);
        Apply(values, "", changes);
        return new TcbState(values);
    }

    /// <summary>Asserts <paramref name="actual"/> equals <paramref name="expected"/>, listing every field that differs.</summary>
    public static void AssertEqual(TcbState expected, TcbState actual)
    {
        var differences = new StringBuilder();
        int count = 0;
        foreach (string name in expected._values.Keys.Union(actual._values.Keys).Order(StringComparer.Ordinal))
        {
            expected._values.TryGetValue(name, out object? e);
            actual._values.TryGetValue(name, out object? a);
            if (Equals(e, a)) continue;
            count++;
            differences.Append(CultureInfo.InvariantCulture, $"\n  {name}: expected {Format(e)}, actual {Format(a)}");
        }
        if (count > 0)
            Assert.Fail($"The control block's state differs from the expected one in {count} of {actual._values.Count} fields:{differences}");
    }

    /// <inheritdoc />
    public override string ToString() =>
        string.Join("\n", _values.Select(kv => $"{kv.Key} = {Format(kv.Value)}"));

    private static void Add(SortedDictionary<string, object?> values, string name, object? value, Type declared)
    {
        switch (value)
        {
            case ByteRing ring:
                values[name + ".Count"] = ring.Count;
                values[name + ".Allocated"] = ring.IsAllocated;
                return;
            case SequenceRangeSet ranges:
                values[name] = Ranges(ranges);
                return;
            case ICongestionControl cc:
                values[name + ".CongestionWindow"] = cc.CongestionWindow;
                values[name + ".SlowStartThreshold"] = cc.SlowStartThreshold;
                values[name + ".InRecovery"] = cc.InRecovery;
                return;
            case RttEstimator rtt:
                values[name + ".Rto"] = rtt.Rto;
                values[name + ".BaseRto"] = rtt.BaseRto;
                values[name + ".SmoothedRtt"] = rtt.SmoothedRtt;
                values[name + ".RttVariance"] = rtt.RttVariance;
                values[name + ".LatestRtt"] = rtt.LatestRtt;
                values[name + ".BackoffCount"] = rtt.BackoffCount;
                return;
            case SeqNumber[] anchors:
                values[name] = string.Join(" ", anchors.Select(a => a.Value));
                return;
            case Array array:
                values[name] = $"{array.Length} entries"; // held payloads: their bytes are counted beside
                return;
            case IReadBufferClaim claim:
                values[name] = claim.GetType().Name;
                return;
        }
        Type type = value?.GetType() ?? declared;
        bool part = value is not null && type.Namespace == typeof(TcpControlBlock).Namespace && !type.IsEnum;
        if (!part)
        {
            values[name] = value;
            return;
        }
        foreach (FieldInfo field in InstanceFields(type))
        {
            if (NotState.Contains(field.FieldType)) continue;
            Add(values, $"{name}.{FieldName(field)}", field.GetValue(value), field.FieldType);
        }
    }

    private static void Apply(SortedDictionary<string, object?> values, string prefix, object changes)
    {
        foreach (PropertyInfo property in changes.GetType().GetProperties())
        {
            string name = prefix + property.Name;
            object? value = property.GetValue(changes);
            if (value is not null && value.GetType().Name.Contains("AnonymousType", StringComparison.Ordinal))
            {
                Apply(values, name + ".", value);
                continue;
            }
            if (!values.TryGetValue(name, out object? current)) throw UnknownField(name, values.Keys);
            values[name] = Convert(name, current, value);
        }
    }

    private static object? Convert(string name, object? current, object? value)
    {
        if (value is null || current is null || current.GetType() == value.GetType()) return value;
        if (current is SeqNumber && value is uint or int or long) return new SeqNumber(unchecked((uint)System.Convert.ToInt64(value, CultureInfo.InvariantCulture)));
        if (current is long && value is int i) return (long)i;
        throw new ArgumentException($"{name} is a {current.GetType().Name}, not a {value.GetType().Name} ({value}).", nameof(value));
    }

    private static string Ranges(SequenceRangeSet ranges)
    {
        var text = new StringBuilder();
        for (int i = 0; i < ranges.Count; i++)
            text.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? " " : "")}[{ranges[i].Left.Value}, {ranges[i].Right.Value})");
        return text.ToString();
    }

    private static string Format(object? value) => value switch
    {
        null => "null",
        Instant { IsNever: true } => "never",
        Instant at => $"@{at.Ticks / (double)TimeSpan.TicksPerMillisecond:0.###} ms",
        TimeSpan span => $"{span.TotalMilliseconds:0.###} ms",
        string s => $"\"{s}\"",
        _ => System.Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    private static FieldInfo[] InstanceFields(Type type) =>
        type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);

    /// <summary><c>_dupAcks</c> → <c>DupAcks</c>; an auto-property's backing field → the property's name.</summary>
    private static string FieldName(FieldInfo field)
    {
        string name = field.Name;
        if (name.StartsWith('<')) return name[1..name.IndexOf('>', StringComparison.Ordinal)];
        name = name.TrimStart('_');
        return char.ToUpperInvariant(name[0]) + name[1..];
    }

    private static ArgumentException UnknownField(string name, IEnumerable<string>? known = null) =>
        new($"The control block has no field {name}" + (known is null ? "." : $"; it has {string.Join(", ", known)}."), nameof(name));
}
