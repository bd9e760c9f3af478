using System.Globalization;
using System.Reactive;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Text;
using Microsoft.Reactive.Testing;

namespace Rx.Netstack.Testing;

/// <summary>
/// Marble tests on a <see cref="TestScheduler"/>: hot and cold observables from diagrams, and expectations written as
/// diagrams (<see cref="MarbleDiagram"/> has the syntax). Every diagram of one <see cref="Marbles"/> shares its
/// <see cref="Frame"/> and its <see cref="Origin"/>, the virtual time of their <c>^</c> (or first frame).
/// </summary>
/// <example>
/// Datagrams sent on a diagram, received 10 ms later (one frame) through a LINQ query:
/// <code>
/// var m = new Marbles(scheduler, frame: TimeSpan.FromMilliseconds(10));
/// var texts = new Dictionary&lt;char, string&gt; { ['a'] = "#rx", ['b'] = "plain", ['c'] = "#netstack" };
/// using var sending = m.Hot("--a--b--c", texts).SelectMany(text => client.SendAsync(text, server.Local)).Subscribe();
/// m.Expect(server.Received.Select(d => Encoding.UTF8.GetString(d.Data.Span)).Where(t => t.StartsWith('#')),
///          "---a-----c-", texts);
/// </code>
/// </example>
/// <remarks>
/// <see cref="Expect{T}(IObservable{T}, string, IReadOnlyDictionary{char, T}?, Exception?, IEqualityComparer{T}?)"/> runs the
/// scheduler, without the caller's <see cref="SynchronizationContext"/> (a test framework's): tasks that virtual time completes
/// resume on the test's thread when the stacks run continuations inline (<see cref="NetstackOptions.RunContinuationsInline"/>,
/// which <see cref="VirtualNetwork.AddStack(string, string[])"/> sets), so async code in a query runs in virtual time too.
/// </remarks>
public sealed class Marbles
{
    private readonly long _frameTicks;

    /// <summary>Marbles whose frame zero is now (the scheduler's clock).</summary>
    /// <param name="scheduler">The virtual clock of the test.</param>
    /// <param name="frame">The virtual duration of one frame (one character of a diagram).</param>
    public Marbles(TestScheduler scheduler, TimeSpan frame)
        : this(scheduler, frame, (scheduler ?? throw new ArgumentNullException(nameof(scheduler))).Clock)
    {
    }

    /// <summary>Marbles whose frame zero is at <paramref name="origin"/>.</summary>
    /// <param name="scheduler">The virtual clock of the test.</param>
    /// <param name="frame">The virtual duration of one frame (one character of a diagram).</param>
    /// <param name="origin">The virtual time (ticks) of every diagram's <c>^</c>, or first frame.</param>
    public Marbles(TestScheduler scheduler, TimeSpan frame, long origin)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        _frameTicks = MarbleDiagram.FrameTicks(frame);
        Scheduler = scheduler;
        Frame = frame;
        Origin = origin;
    }

    /// <summary>The virtual clock.</summary>
    public TestScheduler Scheduler { get; }

    /// <summary>The virtual duration of one frame.</summary>
    public TimeSpan Frame { get; }

    /// <summary>
    /// The virtual time (ticks) of frame zero: where each diagram's <c>^</c> is, or its first frame when it has none. Hot
    /// observables, subscriptions and expectations all count frames from here; move it to start a new scene.
    /// </summary>
    public long Origin { get; set; }

    /// <summary>The virtual time (ticks) at which frame <paramref name="frame"/> starts.</summary>
    public long Time(int frame) => Origin + frame * _frameTicks;

    /// <summary>Parses a diagram into notifications at virtual times counted from <see cref="Origin"/>.</summary>
    /// <inheritdoc cref="MarbleDiagram.Parse{T}" path="/param[@name='diagram' or @name='values' or @name='error']"/>
    /// <typeparam name="T">The values' type.</typeparam>
    public IList<Recorded<Notification<T>>> Parse<T>(string diagram, IReadOnlyDictionary<char, T>? values = null, Exception? error = null) =>
        ParsedDiagram<T>.Parse(diagram, values, error).Events
            .Select(e => new Recorded<Notification<T>>(Time(e.Frame), e.Notification))
            .ToList();

    /// <summary>Draws recorded notifications (at virtual times) as a diagram in this frame and origin.</summary>
    /// <inheritdoc cref="MarbleDiagram.Render{T}" path="/param[@name='messages' or @name='values' or @name='comparer']"/>
    /// <typeparam name="T">The values' type.</typeparam>
    public string Render<T>(IEnumerable<Recorded<Notification<T>>> messages, IReadOnlyDictionary<char, T>? values = null,
        IEqualityComparer<T>? comparer = null) =>
        MarbleDiagram.Render(messages, Frame, values, Origin, comparer);

    /// <summary>
    /// A hot observable that emits the diagram's notifications at their times, whether anyone listens or not. Frames before
    /// <c>^</c> are before <see cref="Origin"/>; any that are already in the past when this is called are left out (no
    /// subscriber could have seen them).
    /// </summary>
    /// <inheritdoc cref="MarbleDiagram.Parse{T}" path="/param[@name='diagram' or @name='values' or @name='error']"/>
    /// <typeparam name="T">The values' type.</typeparam>
    public ITestableObservable<T> Hot<T>(string diagram, IReadOnlyDictionary<char, T>? values = null, Exception? error = null) =>
        Scheduler.CreateHotObservable(Parse(diagram, values, error).Where(m => m.Time >= Scheduler.Clock).ToArray());

    /// <summary>A hot observable of the diagram's characters: <c>m.Hot("--x--x")</c> is a trigger at frames 2 and 5.</summary>
    /// <param name="diagram">The diagram; each letter is its own value.</param>
    /// <param name="error">The exception of <c>#</c>; null for an <see cref="InvalidOperationException"/> saying it is the diagram's.</param>
    public ITestableObservable<char> Hot(string diagram, Exception? error = null) => Hot<char>(diagram, null, error);

    /// <summary>A cold observable of the diagram's characters.</summary>
    /// <param name="diagram">The diagram; each letter is its own value.</param>
    /// <param name="error">The exception of <c>#</c>; null for an <see cref="InvalidOperationException"/> saying it is the diagram's.</param>
    /// <exception cref="FormatException">The diagram has a <c>^</c>.</exception>
    public ITestableObservable<char> Cold(string diagram, Exception? error = null) => Cold<char>(diagram, null, error);

    /// <summary>A cold observable: each subscriber gets the diagram's notifications at its frames counted from when it subscribed.</summary>
    /// <inheritdoc cref="MarbleDiagram.Parse{T}" path="/param[@name='diagram' or @name='values' or @name='error']"/>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <exception cref="FormatException">The diagram has a <c>^</c> (a cold observable starts when it is subscribed).</exception>
    public ITestableObservable<T> Cold<T>(string diagram, IReadOnlyDictionary<char, T>? values = null, Exception? error = null)
    {
        var parsed = ParsedDiagram<T>.Parse(diagram, values, error);
        if (parsed.HasCaret) throw new FormatException($"The cold diagram \"{diagram}\" has a '^': a cold observable starts where it is subscribed.");
        return Scheduler.CreateColdObservable(parsed.Events.Select(e => new Recorded<Notification<T>>(e.Frame * _frameTicks, e.Notification)).ToArray());
    }

    /// <summary>
    /// Subscribes to <paramref name="source"/> at <see cref="Origin"/>, runs virtual time for <paramref name="frames"/> frames
    /// (to just before frame <paramref name="frames"/> starts), unsubscribes and returns what it recorded.
    /// </summary>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <param name="source">The observable under test.</param>
    /// <param name="frames">How many frames to watch it.</param>
    /// <exception cref="InvalidOperationException">Virtual time is already past <see cref="Origin"/>.</exception>
    public ITestableObserver<T> Record<T>(IObservable<T> source, int frames)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(frames);
        if (Scheduler.Clock > Origin)
            throw new InvalidOperationException(
                $"Virtual time ({MarbleDiagram.Describe(Scheduler.Clock)}) is past the origin of the diagrams ({MarbleDiagram.Describe(Origin)}): " +
                "create the Marbles, or set Origin, after the test's setup.");
        ITestableObserver<T> observer = Scheduler.CreateObserver<T>();
        var subscription = new SerialDisposable();
        if (Scheduler.Clock == Origin) subscription.Disposable = source.Subscribe(observer);
        else Scheduler.ScheduleAbsolute(Origin, () => subscription.Disposable = source.Subscribe(observer));
        try
        {
            RunTo(Time(frames) - 1);
        }
        finally
        {
            subscription.Dispose();
        }
        return observer;
    }

    /// <summary>Runs virtual time to the start of frame <paramref name="frame"/> (counted from <see cref="Origin"/>).</summary>
    public void AdvanceTo(int frame) => RunTo(Time(frame));

    /// <summary>
    /// Subscribes to <paramref name="source"/> at <see cref="Origin"/>, watches it for as many frames as
    /// <paramref name="diagram"/> is long and checks that it did what the diagram says, frame by frame.
    /// </summary>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <param name="source">The observable under test.</param>
    /// <param name="diagram">What it should do, such as <c>"--a--b--|"</c>: its length is the time watched, so end it with
    /// dashes to check that nothing more comes.</param>
    /// <param name="values">The value of each letter; null when the values are the characters themselves.</param>
    /// <param name="error">The error <c>#</c> stands for, compared by type and message; null for any error.</param>
    /// <param name="comparer">How values are compared; default <see cref="EqualityComparer{T}.Default"/>.</param>
    /// <exception cref="MarbleAssertionException">The source did something else; the message shows expected and actual
    /// diagrams one above the other, the first difference marked.</exception>
    public void Expect<T>(IObservable<T> source, string diagram, IReadOnlyDictionary<char, T>? values = null, Exception? error = null,
        IEqualityComparer<T>? comparer = null)
    {
        var expected = ParsedDiagram<T>.Parse(diagram, values, error);
        ITestableObserver<T> observer = Record(source, expected.End);
        Check(observer.Messages, expected, values, error is null, comparer ?? EqualityComparer<T>.Default);
    }

    /// <summary>
    /// Checks that an observer recorded what <paramref name="diagram"/> says, frame by frame, counting frames from
    /// <see cref="Origin"/> (all its messages count, also those after the diagram's end).
    /// </summary>
    /// <param name="observer">An observer of the scheduler, such as the one <c>TestScheduler.Start</c> returns.</param>
    /// <param name="diagram">What it should be, such as <c>"--a--b--|"</c>.</param>
    /// <param name="values">The value of each letter; null when the values are the characters themselves.</param>
    /// <param name="error">The error <c>#</c> stands for, compared by type and message; null for any error.</param>
    /// <param name="comparer">How values are compared; default <see cref="EqualityComparer{T}.Default"/>.</param>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <exception cref="MarbleAssertionException">The notifications differ from the diagram; the message shows expected and
    /// actual diagrams one above the other, the first difference marked.</exception>
    public void Expect<T>(ITestableObserver<T> observer, string diagram, IReadOnlyDictionary<char, T>? values = null, Exception? error = null,
        IEqualityComparer<T>? comparer = null)
    {
        ArgumentNullException.ThrowIfNull(observer);
        Expect(observer.Messages, diagram, values, error, comparer);
    }

    /// <summary>
    /// Checks that recorded notifications (at virtual times, such as a hot observable's <c>Messages</c> or a list of your own)
    /// are what <paramref name="diagram"/> says, frame by frame, counting frames from <see cref="Origin"/>.
    /// </summary>
    /// <param name="messages">The notifications.</param>
    /// <param name="diagram">What it should be, such as <c>"--a--b--|"</c>.</param>
    /// <param name="values">The value of each letter; null when the values are the characters themselves.</param>
    /// <param name="error">The error <c>#</c> stands for, compared by type and message; null for any error.</param>
    /// <param name="comparer">How values are compared; default <see cref="EqualityComparer{T}.Default"/>.</param>
    /// <typeparam name="T">The values' type.</typeparam>
    /// <exception cref="MarbleAssertionException">The notifications differ from the diagram; the message shows expected and
    /// actual diagrams one above the other, the first difference marked.</exception>
    public void Expect<T>(IEnumerable<Recorded<Notification<T>>> messages, string diagram, IReadOnlyDictionary<char, T>? values = null,
        Exception? error = null, IEqualityComparer<T>? comparer = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        Check(messages, ParsedDiagram<T>.Parse(diagram, values, error), values, error is null, comparer ?? EqualityComparer<T>.Default);
    }

    private void RunTo(long time)
    {
        if (time <= Scheduler.Clock) return;
        // Without a test framework's SynchronizationContext, tasks that virtual time completes resume inline, on this thread
        // and in virtual time (RunContinuationsInline), instead of being posted where they would race the clock.
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            Scheduler.AdvanceTo(time);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private void Check<T>(IEnumerable<Recorded<Notification<T>>> messages, ParsedDiagram<T> expected, IReadOnlyDictionary<char, T>? values,
        bool anyError, IEqualityComparer<T> comparer)
    {
        List<MarbleEvent<T>> actual = MarbleDiagram.ToEvents(messages, _frameTicks, Origin);
        int lo = Math.Min(expected.First, actual.Count > 0 ? actual.Min(e => e.Frame) : 0);
        int hi = Math.Max(expected.End, actual.Count > 0 ? actual.Max(e => e.Frame) + 1 : 0);
        hi = Math.Max(hi, lo);
        List<Notification<T>>[] e = MarbleLayout.ByFrame(expected.Events, lo, hi), a = MarbleLayout.ByFrame(actual, lo, hi);
        int diff = -1;
        for (int f = 0; f < e.Length && diff < 0; f++)
            if (!Same(e[f], a[f], anyError, comparer)) diff = f;
        if (diff < 0) return;

        // Letters: the expected diagram's first, so the dictionary's letters come first; then the actual's extra values.
        var symbols = new MarbleSymbols<T>(values, comparer);
        bool caret = expected.HasCaret || lo < 0;
        string[] expectedCells = e.Select((n, i) => symbols.Cell(n, caret && i + lo == 0)).ToArray();
        string[] actualCells = a.Select((n, i) => symbols.Cell(n, caret && i + lo == 0)).ToArray();
        int[] widths = expectedCells.Zip(actualCells, (x, y) => Math.Max(x.Length, y.Length)).ToArray();
        string expectedRow = Pad(expectedCells, widths), actualRow = Pad(actualCells, widths);
        int column = widths.Take(diff).Sum();
        int frame = diff + lo;

        const string Indent = "  ";
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"The marble diagrams differ at frame {frame}{(frame == 0 ? "" : caret ? " after ^" : "")}:");
        report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}expected  {expectedRow}");
        report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}actual    {actualRow}");
        report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}          {new string(' ', column)}^");
        string legend = string.Join(", ", symbols.Legend());
        if (legend.Length > 0) report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}values: {legend}");
        string? expectedError = e.SelectMany(n => n).FirstOrDefault(n => n.Kind == NotificationKind.OnError)?.Exception is { } ee
            ? (anyError ? "any error" : Show(ee)) : null;
        string? actualError = a.SelectMany(n => n).FirstOrDefault(n => n.Kind == NotificationKind.OnError)?.Exception is { } ae ? Show(ae) : null;
        if (expectedError is not null || actualError is not null)
            report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}#: expected {expectedError ?? "no error"}, actual {actualError ?? "no error"}");
        long start = Time(frame);
        report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}frame {frame} is {MarbleDiagram.Describe(start)} to {MarbleDiagram.Describe(start + _frameTicks)} of virtual time:");
        report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}  expected {Describe(e[diff], null, symbols)}");
        report.AppendLine(CultureInfo.InvariantCulture, $"{Indent}  actual   {Describe(a[diff], actual.Where(x => x.Frame == frame).Select(x => x.Time).ToList(), symbols)}");
        report.Append(CultureInfo.InvariantCulture, $"{Indent}one frame is {MarbleDiagram.Describe(_frameTicks)}; frame 0{(caret ? " (^)" : "")} is at {MarbleDiagram.Describe(Origin)}");
        throw new MarbleAssertionException(report.ToString(), expectedRow, actualRow, frame);
    }

    private static string Pad(string[] cells, int[] widths)
    {
        var row = new StringBuilder();
        for (int i = 0; i < cells.Length; i++) row.Append(cells[i]).Append(' ', widths[i] - cells[i].Length);
        return row.ToString().TrimEnd();
    }

    private static bool Same<T>(List<Notification<T>> expected, List<Notification<T>> actual, bool anyError, IEqualityComparer<T> comparer)
    {
        if (expected.Count != actual.Count) return false;
        for (int i = 0; i < expected.Count; i++)
        {
            Notification<T> x = expected[i], y = actual[i];
            if (x.Kind != y.Kind) return false;
            if (x.Kind == NotificationKind.OnNext && !comparer.Equals(x.Value, y.Value)) return false;
            if (x.Kind == NotificationKind.OnError && !anyError
                && (x.Exception!.GetType() != y.Exception!.GetType() || x.Exception.Message != y.Exception.Message)) return false;
        }
        return true;
    }

    private static string Describe<T>(List<Notification<T>> notifications, List<long?>? times, MarbleSymbols<T> symbols)
    {
        if (notifications.Count == 0) return "nothing";
        return string.Join(", ", notifications.Select((n, i) =>
        {
            string what = n.Kind switch
            {
                NotificationKind.OnNext => $"{symbols.Symbol(n)} ({MarbleSymbols<T>.Show(n.Value)})",
                NotificationKind.OnCompleted => "| (completed)",
                _ => $"# ({Show(n.Exception!)})",
            };
            return times is not null && times[i] is long t ? $"{what} at {MarbleDiagram.Describe(t)}" : what;
        }));
    }

    private static string Show(Exception exception) => $"{exception.GetType().Name}: {exception.Message}";
}
