namespace Rx.Netstack.Cli.Dashboard;

/// <summary>A stack the dashboard shows: its tab's name, the stack, and the pings it sends, when something sends them.</summary>
/// <param name="Name">The tab's name and the <c>stack</c> query value of the event stream ("A", "B", "tun0").</param>
/// <param name="Stack">Whose counters, socket table and connections are shown.</param>
/// <param name="Pings">Echo replies (or losses) of pings this stack sends; null when it sends none (tun only answers them).</param>
internal sealed record DashboardSource(string Name, Netstack Stack, IObservable<PingSample>? Pings = null);

/// <summary>One ping for the RTT chart.</summary>
/// <param name="Target">Whom the ping went to.</param>
/// <param name="Sequence">The echo sequence number.</param>
/// <param name="RoundTrip">The round-trip time, or null when no reply came.</param>
/// <param name="Error">Why no reply came (e.g. TimedOut), or null.</param>
/// <param name="At">When the result was known.</param>
internal readonly record struct PingSample(string Target, ushort Sequence, TimeSpan? RoundTrip, string? Error, DateTimeOffset At);
