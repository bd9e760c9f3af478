using System.Globalization;
using System.Reactive;
using System.Text;
using Microsoft.Reactive.Testing;

namespace Rx.Netstack.Testing;

/// <summary>
/// Marble diagrams, in the spirit of RxJS marbles: a line of characters that is a stream of notifications in virtual time,
/// parsed to (and rendered from) Microsoft.Reactive.Testing's <see cref="Recorded{T}"/> notifications.
/// </summary>
/// <remarks>
/// <para>Each character is one frame of virtual time — a duration you choose per test (10 ms, 1 s …):</para>
/// <list type="table">
/// <item><term><c>-</c></term><description>a frame in which nothing happens.</description></item>
/// <item><term>a letter (any other character)</term><description>a value, looked up in the dictionary of values (without one,
/// the character itself when the values are <see cref="char"/>s or strings).</description></item>
/// <item><term><c>(ab)</c></term><description>several notifications in one frame, in that order. The group is one frame,
/// however wide (unlike RxJS, where its parentheses count as frames too).</description></item>
/// <item><term><c>|</c></term><description>completion.</description></item>
/// <item><term><c>#</c></term><description>an error (the exception you give).</description></item>
/// <item><term><c>^</c></term><description>the subscription point: time zero. Frames before it have negative times. Without
/// it, the diagram's first frame is time zero.</description></item>
/// <item><term>spaces</term><description>ignored: use them to line diagrams up.</description></item>
/// </list>
/// <para><c>"--a-b--|"</c> is <c>a</c> at frame 2, <c>b</c> at frame 4 and completion at frame 7; <c>"-^-(ab)-#"</c> is
/// <c>a</c> then <c>b</c> at frame 1 after the subscription and an error at frame 3.</para>
/// <para>A frame is a span of virtual time, not an instant: a notification recorded at time <c>t</c> is in frame
/// <c>floor(t / frame)</c>. Work a network stack does takes a tick or two of virtual time per engine pass, so a reply
/// "at 20 ms" is recorded at 20 ms and a few ticks — in the frame that starts at 20 ms.</para>
/// </remarks>
public static class MarbleDiagram
{
    /// <summary>
    /// Parses <paramref name="diagram"/> into notifications at virtual times (ticks) relative to its subscription point
    /// (<c>^</c>, or its first frame): frame <c>n</c> is at <c>n × frame</c>.
    /// </summary>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <param name="diagram">The diagram, such as <c>"--a--(bc)--|"</c>.</param>
    /// <param name="frame">The virtual duration of one frame (one character).</param>
    /// <param name="values">The value of each letter; null when the values are the characters themselves (<see cref="char"/>
    /// or one-character strings).</param>
    /// <param name="error">The exception of <c>#</c>; null for an <see cref="InvalidOperationException"/> saying it is the diagram's.</param>
    /// <exception cref="FormatException">The diagram is malformed (an unclosed or nested group, a second <c>^</c>, a letter
    /// without a value …); the message gives the column.</exception>
    public static IList<Recorded<Notification<T>>> Parse<T>(string diagram, TimeSpan frame, IReadOnlyDictionary<char, T>? values = null,
        Exception? error = null)
    {
        long ticks = FrameTicks(frame);
        return ParsedDiagram<T>.Parse(diagram, values, error).Events
            .Select(e => new Recorded<Notification<T>>(e.Frame * ticks, e.Notification))
            .ToList();
    }

    /// <summary>
    /// Renders recorded notifications as a diagram, the reverse of <see cref="Parse{T}"/>: each in the frame its time falls in,
    /// counted from <paramref name="origin"/>, from the origin (or the earliest notification, with <c>^</c> marking the origin)
    /// to the last notification.
    /// </summary>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <param name="messages">The notifications, such as an <see cref="ITestableObserver{T}"/>'s <c>Messages</c>.</param>
    /// <param name="frame">The virtual duration of one frame.</param>
    /// <param name="values">Letters for values: a value equal to one of these is drawn as its letter; any other gets a letter
    /// the dictionary does not use (see <see cref="Legend{T}"/>).</param>
    /// <param name="origin">The virtual time (ticks) of frame zero.</param>
    /// <param name="comparer">How values are compared with <paramref name="values"/>; default <see cref="EqualityComparer{T}.Default"/>.</param>
    public static string Render<T>(IEnumerable<Recorded<Notification<T>>> messages, TimeSpan frame, IReadOnlyDictionary<char, T>? values = null,
        long origin = 0, IEqualityComparer<T>? comparer = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var symbols = new MarbleSymbols<T>(values, comparer ?? EqualityComparer<T>.Default);
        List<MarbleEvent<T>> events = ToEvents(messages, FrameTicks(frame), origin);
        if (events.Count == 0) return "";
        int lo = Math.Min(0, events[0].Frame), hi = events.Max(e => e.Frame) + 1;
        return MarbleLayout.Row(events, lo, hi, showCaret: lo < 0, symbols, widths: null);
    }

    /// <summary>
    /// The letters <see cref="Render{T}"/> draws for the values of <paramref name="messages"/>, each with its value:
    /// <c>a = "hello"</c>, one per line.
    /// </summary>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <param name="messages">The notifications.</param>
    /// <param name="values">Letters for values, as for <see cref="Render{T}"/>.</param>
    /// <param name="comparer">How values are compared with <paramref name="values"/>; default <see cref="EqualityComparer{T}.Default"/>.</param>
    public static string Legend<T>(IEnumerable<Recorded<Notification<T>>> messages, IReadOnlyDictionary<char, T>? values = null,
        IEqualityComparer<T>? comparer = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var symbols = new MarbleSymbols<T>(values, comparer ?? EqualityComparer<T>.Default);
        foreach (Recorded<Notification<T>> m in messages)
            if (m.Value.Kind == NotificationKind.OnNext) symbols.For(m.Value.Value);
        return string.Join(Environment.NewLine, symbols.Legend());
    }

    internal static long FrameTicks(TimeSpan frame)
    {
        if (frame <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(frame), frame, "A frame must be a positive duration.");
        return frame.Ticks;
    }

    internal static List<MarbleEvent<T>> ToEvents<T>(IEnumerable<Recorded<Notification<T>>> messages, long frameTicks, long origin) =>
        messages.Select((m, i) => (m, i))
            .OrderBy(x => x.m.Time).ThenBy(x => x.i)
            .Select(x => new MarbleEvent<T>((int)Math.Floor((x.m.Time - origin) / (double)frameTicks), x.m.Value, x.m.Time))
            .ToList();

    internal static string Describe(long ticks) =>
        TimeSpan.FromTicks(ticks).TotalMilliseconds.ToString("0.####", CultureInfo.InvariantCulture) + " ms";
}

/// <summary>One notification in a frame (relative to the subscription point), and its exact time when it was recorded.</summary>
internal readonly record struct MarbleEvent<T>(int Frame, Notification<T> Notification, long? Time = null);

/// <summary>A parsed diagram: its notifications by frame, and the frames it spans, relative to its subscription point.</summary>
internal sealed class ParsedDiagram<T>
{
    private ParsedDiagram(List<MarbleEvent<T>> events, int first, int end, bool hasCaret)
    {
        Events = events;
        First = first;
        End = end;
        HasCaret = hasCaret;
    }

    public List<MarbleEvent<T>> Events { get; }

    /// <summary>The frame of the diagram's first character: 0, or negative when it has frames before <c>^</c>.</summary>
    public int First { get; }

    /// <summary>The frame after the diagram's last character.</summary>
    public int End { get; }

    public bool HasCaret { get; }

    public static ParsedDiagram<T> Parse(string diagram, IReadOnlyDictionary<char, T>? values, Exception? error)
    {
        ArgumentNullException.ThrowIfNull(diagram);
        var raw = new List<(int Frame, Notification<T> Notification)>();
        int frame = 0, groupColumn = -1;
        int? caret = null;
        error ??= new InvalidOperationException("The error of a marble diagram (#).");
        for (int column = 0; column < diagram.Length; column++)
        {
            char c = diagram[column];
            bool inGroup = groupColumn >= 0;
            if (char.IsWhiteSpace(c)) continue;
            switch (c)
            {
                case '-':
                    if (inGroup) throw Malformed(diagram, column, "'-' inside a group");
                    frame++;
                    break;
                case '(':
                    if (inGroup) throw Malformed(diagram, column, "a group inside a group");
                    groupColumn = column;
                    break;
                case ')':
                    if (!inGroup) throw Malformed(diagram, column, "')' without '('");
                    if (raw.Count == 0 || raw[^1].Frame != frame || column == groupColumn + 1)
                        throw Malformed(diagram, column, "an empty group");
                    groupColumn = -1;
                    frame++;
                    break;
                case '^':
                    if (inGroup) throw Malformed(diagram, column, "'^' inside a group");
                    if (caret is not null) throw Malformed(diagram, column, "a second '^'");
                    caret = frame++;
                    break;
                case '|':
                    raw.Add((frame, Notification.CreateOnCompleted<T>()));
                    if (!inGroup) frame++;
                    break;
                case '#':
                    raw.Add((frame, Notification.CreateOnError<T>(error)));
                    if (!inGroup) frame++;
                    break;
                default:
                    raw.Add((frame, Notification.CreateOnNext(ValueOf(c, column, diagram, values))));
                    if (!inGroup) frame++;
                    break;
            }
        }
        if (groupColumn >= 0) throw Malformed(diagram, groupColumn, "a '(' that is never closed");
        int zero = caret ?? 0;
        return new ParsedDiagram<T>(raw.Select(r => new MarbleEvent<T>(r.Frame - zero, r.Notification)).ToList(), -zero, frame - zero, caret is not null);
    }

    private static T ValueOf(char c, int column, string diagram, IReadOnlyDictionary<char, T>? values)
    {
        if (values is not null)
        {
            if (values.TryGetValue(c, out T? value)) return value;
            string known = string.Join(", ", values.Keys.Select(k => $"'{k}'"));
            throw Malformed(diagram, column, $"'{c}', which is not one of the values ({known})");
        }
        if (typeof(T) == typeof(char) || typeof(T) == typeof(object)) return (T)(object)c;
        if (typeof(T) == typeof(string)) return (T)(object)c.ToString();
        throw new ArgumentException($"The diagram \"{diagram}\" has values, and {typeof(T).Name} values need a dictionary of them (letter → value).", nameof(values));
    }

    private static FormatException Malformed(string diagram, int column, string what) =>
        new($"The marble diagram \"{diagram}\" has {what} at column {column + 1}.");
}

/// <summary>Letters for values: the dictionary's, the values' own (characters), or fresh ones the dictionary does not use.</summary>
internal sealed class MarbleSymbols<T>
{
    private const string Reserved = "-()^|# ";
    private const string Pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    private readonly IReadOnlyDictionary<char, T>? _values;
    private readonly IEqualityComparer<T> _comparer;
    private readonly List<(char Symbol, T Value)> _used = [];

    public MarbleSymbols(IReadOnlyDictionary<char, T>? values, IEqualityComparer<T> comparer)
    {
        _values = values;
        _comparer = comparer;
    }

    public char For(T value)
    {
        foreach ((char symbol, T v) in _used)
            if (_comparer.Equals(v, value)) return symbol;
        char chosen = Choose(value);
        _used.Add((chosen, value));
        return chosen;
    }

    private char Choose(T value)
    {
        if (_values is not null)
        {
            foreach (KeyValuePair<char, T> pair in _values)
                if (_comparer.Equals(pair.Value, value)) return pair.Key;
        }
        else
        {
            if (Own(value) is char o && !Reserved.Contains(o) && !char.IsWhiteSpace(o) && !_used.Any(u => u.Symbol == o)) return o;
        }
        foreach (char candidate in Pool)
            if ((_values is null || !_values.ContainsKey(candidate)) && !_used.Any(u => u.Symbol == candidate)) return candidate;
        return '?';
    }

    /// <summary>The letters drawn so far with their values, ordered by letter (not those that are their own value).</summary>
    public IEnumerable<string> Legend() =>
        _used.Where(u => _values is not null || Own(u.Value) != u.Symbol)
            .OrderBy(u => u.Symbol).Select(u => $"{u.Symbol} = {Show(u.Value)}");

    private static char? Own(T value) => value switch { char c => c, string { Length: 1 } s => s[0], _ => null };

    public static string Show(T value) => value switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        char c => "'" + c + "'",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public string Cell(IReadOnlyList<Notification<T>> notifications, bool caret)
    {
        if (notifications.Count == 0) return caret ? "^" : "-";
        if (notifications.Count == 1) return Symbol(notifications[0]).ToString();
        var cell = new StringBuilder("(");
        foreach (Notification<T> n in notifications) cell.Append(Symbol(n));
        return cell.Append(')').ToString();
    }

    public char Symbol(Notification<T> notification) => notification.Kind switch
    {
        NotificationKind.OnNext => For(notification.Value),
        NotificationKind.OnCompleted => '|',
        _ => '#',
    };
}

/// <summary>Draws rows of frames; rows drawn with the same column widths line up.</summary>
internal static class MarbleLayout
{
    public static List<Notification<T>>[] ByFrame<T>(IEnumerable<MarbleEvent<T>> events, int lo, int hi)
    {
        var frames = new List<Notification<T>>[hi - lo];
        for (int i = 0; i < frames.Length; i++) frames[i] = [];
        foreach (MarbleEvent<T> e in events) frames[e.Frame - lo].Add(e.Notification);
        return frames;
    }

    public static string Row<T>(IEnumerable<MarbleEvent<T>> events, int lo, int hi, bool showCaret, MarbleSymbols<T> symbols, int[]? widths)
    {
        List<Notification<T>>[] frames = ByFrame(events, lo, hi);
        var row = new StringBuilder();
        for (int f = lo; f < hi; f++)
        {
            string cell = symbols.Cell(frames[f - lo], caret: showCaret && f == 0);
            row.Append(cell);
            if (widths is not null) row.Append(' ', widths[f - lo] - cell.Length);
        }
        return row.ToString().TrimEnd();
    }
}
