using System.Reactive;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Testing;

namespace Rx.Netstack.Tests.Marble;

/// <summary>The marble syntax of <see cref="MarbleDiagram"/>, its rendering, and what a failing expectation prints.</summary>
public sealed class MarbleDiagramTests : ReactiveTest
{
    private static readonly TimeSpan Frame = TimeSpan.FromMilliseconds(10);
    private static readonly long F = Frame.Ticks;

    private static readonly Dictionary<char, int> Numbers = new() { ['a'] = 1, ['b'] = 2, ['c'] = 3 };

    [Fact]
    public void Dashes_are_frames_letters_are_values_bar_completes()
    {
        Assert.Equal(
            [OnNext(2 * F, 1), OnNext(4 * F, 2), OnCompleted<int>(7 * F)],
            MarbleDiagram.Parse("--a-b--|", Frame, Numbers));
    }

    [Fact]
    public void A_group_is_one_frame_spaces_are_nothing_and_hash_is_the_error_given()
    {
        var boom = new TimeoutException("boom");
        Assert.Equal(
            [OnNext(F, 1), OnNext(F, 2), OnNext(2 * F, 3), OnError<int>(3 * F, boom)],
            MarbleDiagram.Parse(" -(ab) c #", Frame, Numbers, boom));
    }

    [Fact]
    public void The_caret_is_time_zero_and_frames_before_it_are_negative()
    {
        Assert.Equal(
            [OnNext(-2 * F, 'x'), OnNext(2 * F, 'y'), OnCompleted<char>(3 * F)],
            MarbleDiagram.Parse("x-^-y|", Frame, values: (IReadOnlyDictionary<char, char>?)null));
    }

    [Fact]
    public void Characters_are_their_own_values_when_no_dictionary_is_given()
    {
        Assert.Equal([OnNext(0, "h"), OnNext(F, "i"), OnCompleted<string>(F)], MarbleDiagram.Parse<string>("h(i|)", Frame));
        Assert.Throws<ArgumentException>(() => MarbleDiagram.Parse<int>("a", Frame));
    }

    [Theory]
    [InlineData("--(a-b)", "'-' inside a group at column 5")]
    [InlineData("--(a(b))", "a group inside a group at column 5")]
    [InlineData("--a)", "')' without '(' at column 4")]
    [InlineData("-()", "an empty group at column 3")]
    [InlineData("-(ab", "a '(' that is never closed at column 2")]
    [InlineData("^-^", "a second '^' at column 3")]
    [InlineData("-(^a)", "'^' inside a group at column 3")]
    [InlineData("--z", "'z', which is not one of the values ('a', 'b', 'c') at column 3")]
    public void Malformed_diagrams_say_what_is_wrong_and_where(string diagram, string message)
    {
        var error = Assert.Throws<FormatException>(() => MarbleDiagram.Parse(diagram, Frame, Numbers));
        Assert.Equal($"The marble diagram \"{diagram}\" has {message}.", error.Message);
    }

    [Theory]
    [InlineData("--a-b--|")]
    [InlineData("-(ab)c-#")]
    [InlineData("a-^-b|")]
    [InlineData("(a|)")]
    public void Render_is_the_reverse_of_parse(string diagram)
    {
        var error = new InvalidOperationException("x");
        var messages = MarbleDiagram.Parse(diagram, Frame, Numbers, error);
        Assert.Equal(diagram, MarbleDiagram.Render(messages, Frame, Numbers));
    }

    [Fact]
    public void Render_puts_each_notification_in_the_frame_its_time_falls_in_and_names_unknown_values()
    {
        long origin = 1_000;
        var messages = new[] { OnNext(origin + 2 * F + 3, 1), OnNext(origin + 3 * F - 1, 42), OnNext(origin + 5 * F, 2), OnCompleted<int>(origin + 5 * F + 7) };
        Assert.Equal("--(ad)--(b|)", MarbleDiagram.Render(messages, Frame, Numbers, origin));
        Assert.Equal("a = 1\nb = 2\nd = 42", MarbleDiagram.Legend(messages, Numbers).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Hot_emits_at_frames_from_the_origin_and_cold_from_each_subscription()
    {
        var scheduler = new TestScheduler();
        scheduler.AdvanceTo(5 * F);
        var m = new Marbles(scheduler, Frame); // frame 0 is now
        var hot = m.Hot("-a--b|", Numbers);
        var cold = m.Cold("-c|", Numbers);
        m.Expect(hot, "-a--b|-", Numbers);
        m.Expect(hot.Messages, "-a--b|", Numbers);
        m.Origin = m.Time(10); // a new scene, later
        m.Expect(cold, "-c|", Numbers);
        Assert.Equal([Subscribe(m.Time(0), m.Time(3) - 1)], cold.Subscriptions);
    }

    [Fact]
    public void Hot_drops_what_the_diagram_puts_before_now_and_keeps_the_rest_before_the_caret()
    {
        var scheduler = new TestScheduler();
        scheduler.AdvanceTo(3 * F);
        var m = new Marbles(scheduler, Frame, origin: 5 * F);
        var hot = m.Hot("a--b-^-c|", Numbers); // a at -5 frames (0 ms) is past; b at -2 frames (30 ms) is now
        Assert.Equal([OnNext(3 * F, 2), OnNext(7 * F, 3), OnCompleted<int>(8 * F)], hot.Messages);
        m.Expect(hot, "^-c|", Numbers); // subscribed at the caret: b was before it
    }

    [Fact]
    public void An_expectation_watches_exactly_as_long_as_its_diagram()
    {
        var scheduler = new TestScheduler();
        var m = new Marbles(scheduler, Frame);
        var source = m.Cold("--a---b", Numbers);
        m.Expect(source, "--a--", Numbers); // b comes after the diagram's five frames
        var error = Assert.Throws<MarbleAssertionException>(() => new Marbles(scheduler, Frame).Expect(source, "--a-----", Numbers));
        Assert.Equal(6, error.Frame);
    }

    [Fact]
    public void Expect_works_on_a_test_schedulers_observer_and_on_errors()
    {
        var scheduler = new TestScheduler();
        var m = new Marbles(scheduler, Frame, origin: 10 * F);
        var boom = new TimeoutException("boom");
        var hot = m.Hot("-a-^-b-#", Numbers, boom);
        var results = scheduler.Start(() => hot.Select(x => x * 10), created: 0, subscribed: m.Time(0), disposed: m.Time(10));
        var tens = new Dictionary<char, int> { ['A'] = 10, ['B'] = 20 };
        m.Expect(results, "^-B-#", tens, new TimeoutException("boom"));
        m.Expect(results, "^-B-#", tens); // any error
        Assert.Throws<MarbleAssertionException>(() => m.Expect(results, "^-B-#", tens, new TimeoutException("other")));
    }

    [Fact]
    public void A_failure_prints_both_diagrams_aligned_with_the_first_difference_marked_and_the_values()
    {
        var scheduler = new TestScheduler();
        var m = new Marbles(scheduler, Frame);
        var texts = new Dictionary<char, string> { ['a'] = "#rx", ['b'] = "#netstack" };
        var actual = m.Cold("--a-(bc)-----|", new Dictionary<char, string> { ['a'] = "#rx", ['b'] = "#netstack", ['c'] = "#late" });

        var error = Assert.Throws<MarbleAssertionException>(() => m.Expect(actual, "--a-b-----|", texts));

        Assert.Equal(4, error.Frame);
        Assert.Equal(
            """
            The marble diagrams differ at frame 4:
              expected  --a-b   -----|
              actual    --a-(bc)-----|
                            ^
              values: a = "#rx", b = "#netstack", c = "#late"
              frame 4 is 40 ms to 50 ms of virtual time:
                expected b ("#netstack")
                actual   b ("#netstack") at 40 ms, c ("#late") at 40 ms
              one frame is 10 ms; frame 0 is at 0 ms
            """.ReplaceLineEndings("\n"),
            error.Message.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_failure_shows_late_values_with_their_exact_times()
    {
        var scheduler = new TestScheduler();
        var m = new Marbles(scheduler, Frame);
        var late = Observable.Timer(TimeSpan.FromMilliseconds(31), scheduler).Select(_ => 'a').Concat(Observable.Never<char>());

        var error = Assert.Throws<MarbleAssertionException>(() => m.Expect(late, "--a--"));

        Assert.Equal("--a--", error.Expected);
        Assert.Equal("---a-", error.Actual);
        Assert.Contains("\n" + new string(' ', 14) + "^\n", error.Message.ReplaceLineEndings("\n"));
        Assert.Contains("actual   nothing", error.Message);
        Assert.Equal(2, error.Frame);
    }
}
