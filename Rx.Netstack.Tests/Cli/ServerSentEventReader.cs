using System.Text;
using System.Text.Json;

namespace Rx.Netstack.Tests.Cli;

/// <summary>One Server-Sent Event as the dashboard writes it: a name and one line of JSON.</summary>
internal sealed record ServerSentEvent(string Name, JsonElement Data);

/// <summary>Reads <c>text/event-stream</c> (event:/data: lines, a blank line ends an event; retry: and comments skipped).</summary>
internal sealed class ServerSentEventReader(Stream stream) : IDisposable
{
    private readonly StreamReader _reader = new(stream, Encoding.UTF8);

    /// <summary>The next event; throws when the stream ends or <paramref name="token"/> fires first.</summary>
    public async Task<ServerSentEvent> NextAsync(CancellationToken token)
    {
        string? name = null;
        var data = new StringBuilder();
        while (true)
        {
            string line = await _reader.ReadLineAsync(token) ?? throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0)
            {
                if (name is null && data.Length == 0) continue;
                using var json = JsonDocument.Parse(data.ToString());
                return new ServerSentEvent(name ?? "message", json.RootElement.Clone());
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line["event: ".Length..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line["data: ".Length..]);
        }
    }

    /// <summary>Disposes the reader and the stream.</summary>
    public void Dispose() => _reader.Dispose();

    /// <summary>Reads events until <paramref name="done"/> says enough (every event is passed to it).</summary>
    public async Task<List<ServerSentEvent>> ReadUntilAsync(Func<ServerSentEvent, bool> done, CancellationToken token)
    {
        var events = new List<ServerSentEvent>();
        while (true)
        {
            var e = await NextAsync(token);
            events.Add(e);
            if (done(e)) return events;
        }
    }
}
