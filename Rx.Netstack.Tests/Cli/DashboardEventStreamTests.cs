using System.Net;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Rx.Netstack.Cli.Dashboard;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Api;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// The dashboard's event stream without a browser: HttpClient reads <c>text/event-stream</c> from Kestrel on kernel
/// sockets (what <c>demo --dashboard</c> serves) and from Kestrel on the userspace stack (<c>tun --dashboard</c>); every event
/// parses, rates are never negative, the socket table and a connection's samples arrive, and a client that leaves takes
/// its subscriptions with it.
/// </summary>
public sealed class DashboardEventStreamTests
{
    private static readonly TimeSpan Limit = RealTimeStackPair.Timeout;

    [Fact]
    public async Task Events_on_kernel_sockets_parse_rates_are_never_negative_and_the_client_count_returns_to_zero()
    {
        using var pair = new RealTimeStackPair();
        var pings = new Subject<PingSample>();
        using var hub = new DashboardHub([new DashboardSource("client", pair.Client, pings), new DashboardSource("server", pair.Server)]);
        await using var server = await DashboardServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), hub, pair.Token);
        Assert.Equal("127.0.0.1", server.Address.Host); // bound where it was told, on a port the kernel chose
        Assert.NotEqual(0, server.Address.Port);

        // Traffic the stream must show: an echo connection and pings from the client stack.
        await using var listener = await pair.Server.ListenTcpAsync(7);
        using var echo = listener.Accepted
            .SelectMany(c => c.Received.Select(chunk => Observable.FromAsync(t => c.SendAsync(chunk, t))).Concat())
            .Subscribe(_ => { }, _ => { });
        await using var connection = await pair.Client.ConnectTcpAsync("10.0.0.2:7", cancellationToken: pair.Token);
        using var pinging = pair.Client.PingSeries(RealTimeStackPair.ServerV4, 600, TimeSpan.FromMilliseconds(50))
            .Subscribe(r => pings.OnNext(new PingSample("10.0.0.2", r.SequenceNumber, r.Reply?.RoundTripTime, r.Error?.Kind.ToString(), DateTimeOffset.UtcNow)));

        using var http = new HttpClient { Timeout = Limit };
        var response = await http.GetAsync(new Uri($"{server.Address}/events?stack=client"), HttpCompletionOption.ResponseHeadersRead, pair.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(1, await hub.ClientCounts.FirstAsync(n => n == 1).ToTask(pair.Token));
        using var events = new ServerSentEventReader(await response.Content.ReadAsStreamAsync(pair.Token));

        ServerSentEvent hello = await events.NextAsync(pair.Token);
        Assert.Equal("hello", hello.Name);
        Assert.Equal("client", hello.Data.GetProperty("stack").GetString());
        Assert.Equal(["client", "server"], hello.Data.GetProperty("stacks").EnumerateArray().Select(s => s.GetProperty("name").GetString()));
        Assert.True(hello.Data.GetProperty("pings").GetBoolean());

        // Until the stream has shown: the connection's row, three counter samples with traffic, its chart moving, a ping.
        string local = connection.Local.ToString();
        var stats = new List<JsonElement>();
        var sentByChart = new List<long>();
        bool row = false, ping = false;
        List<ServerSentEvent> seen = await events.ReadUntilAsync(e =>
        {
            switch (e.Name)
            {
                case "sockets":
                    row |= e.Data.GetProperty("changes").EnumerateArray().Any(c => c.GetProperty("local").GetString() == local && c.GetProperty("op").GetString() != "remove");
                    break;
                case "stats":
                    stats.Add(e.Data);
                    _ = connection.SendAsync(new byte[1000], pair.Token); // traffic for the next sample
                    break;
                case "conns":
                    foreach (JsonElement item in e.Data.GetProperty("items").EnumerateArray().Where(i => i.GetProperty("local").GetString() == local))
                        sentByChart.Add(item.GetProperty("bytesSent").GetInt64());
                    break;
                case "pings":
                    ping |= e.Data.GetProperty("items").EnumerateArray().Any(p => p.GetProperty("rttMs").ValueKind == JsonValueKind.Number);
                    break;
            }
            return row && ping && stats.Count(s => Rate(s, "tcpOut") > 0) >= 3 && sentByChart.Distinct().Count() >= 3;
        }, pair.Token);

        Assert.All(seen, e => Assert.Contains(e.Name, (string[])["sockets", "stats", "conns", "pings"]));
        foreach (JsonElement sample in stats)
        {
            foreach (JsonProperty counter in sample.GetProperty("counters").EnumerateObject())
                Assert.True(counter.Value.GetProperty("rate").GetDouble() >= 0, $"{counter.Name}: {counter.Value}");
            Assert.Equal(1, sample.GetProperty("clients").GetInt32());
        }
        // Totals only grow, and each sample is later than the one before.
        for (int i = 1; i < stats.Count; i++)
        {
            Assert.True(Total(stats[i], "framesOut") >= Total(stats[i - 1], "framesOut"));
            Assert.True(stats[i].GetProperty("t").GetInt64() > stats[i - 1].GetProperty("t").GetInt64());
        }
        Assert.Equal(sentByChart.Order(), sentByChart);

        // The browser goes away: its stream ends and its session unsubscribes.
        response.Dispose();
        Assert.Equal(0, await hub.ClientCounts.FirstAsync(n => n == 0).ToTask(pair.Token));
    }

    [Fact]
    public async Task Tun_dashboard_route_serves_the_page_and_the_stream_over_the_userspace_stack()
    {
        using var pair = new RealTimeStackPair();
        using var hub = new DashboardHub([new DashboardSource("tun0", pair.Server)]);
        await using var service = await HttpService.StartAsync(pair.Server, 80, null, null, hub, pair.Token);
        using var http = new HttpClient(NetstackHttp.CreateHandler(pair.Client)) { Timeout = Limit };

        using (var page = await http.GetAsync("http://10.0.0.2/dashboard", pair.Token))
        {
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            string html = await page.Content.ReadAsStringAsync(pair.Token);
            Assert.Contains("<title>rx-netstack dashboard</title>", html);
            Assert.Contains("new EventSource(", html);
            // Self-contained: nothing to fetch from anywhere, and no polling.
            foreach (string outside in new[] { "src=\"http", "href=\"http", "@import", "url(", "fetch(", "XMLHttpRequest", "setInterval" })
                Assert.DoesNotContain(outside, html);
        }
        using (var unknown = await http.GetAsync("http://10.0.0.2/dashboard/events?stack=eth9", pair.Token))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal("no stack named 'eth9'; the stacks are tun0\n", await unknown.Content.ReadAsStringAsync(pair.Token));
        }

        var response = await http.GetAsync("http://10.0.0.2/dashboard/events", HttpCompletionOption.ResponseHeadersRead, pair.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var events = new ServerSentEventReader(await response.Content.ReadAsStreamAsync(pair.Token));
        Assert.Equal("tun0", (await events.NextAsync(pair.Token)).Data.GetProperty("stack").GetString());
        // The stream's own connection is a row of the table it shows, beside Kestrel's listener; and it is charted.
        var rows = new Dictionary<string, JsonElement>();
        bool charted = false;
        await events.ReadUntilAsync(e =>
        {
            if (e.Name == "sockets")
            {
                foreach (JsonElement c in e.Data.GetProperty("changes").EnumerateArray())
                {
                    if (c.GetProperty("op").GetString() == "remove") rows.Remove(c.GetProperty("id").GetString()!);
                    else rows[c.GetProperty("id").GetString()!] = c;
                }
            }
            if (e.Name == "conns") charted |= e.Data.GetProperty("items").EnumerateArray().Any(i => i.GetProperty("local").GetString() == "10.0.0.2:80");
            return charted
                && rows.Values.Any(r => r.GetProperty("state").GetString() == "Listen" && r.GetProperty("local").GetString()!.EndsWith(":80", StringComparison.Ordinal))
                && rows.Values.Any(r => r.GetProperty("state").GetString() == "Established" && r.GetProperty("local").GetString() == "10.0.0.2:80");
        }, pair.Token);
        Assert.Equal(1, hub.ClientCount);

        response.Dispose();
        Assert.Equal(0, await hub.ClientCounts.FirstAsync(n => n == 0).ToTask(pair.Token));
    }

    [Fact]
    public async Task Disposing_the_hub_ends_open_streams()
    {
        using var pair = new RealTimeStackPair();
        var hub = new DashboardHub([new DashboardSource("client", pair.Client)]);
        await using var server = await DashboardServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), hub, pair.Token);
        using var http = new HttpClient { Timeout = Limit };
        using var response = await http.GetAsync(new Uri($"{server.Address}/events"), HttpCompletionOption.ResponseHeadersRead, pair.Token);
        using var events = new ServerSentEventReader(await response.Content.ReadAsStreamAsync(pair.Token));
        Assert.Equal("hello", (await events.NextAsync(pair.Token)).Name);

        hub.Dispose();
        await Assert.ThrowsAsync<EndOfStreamException>(async () => { while (true) await events.NextAsync(pair.Token); });
        Assert.Equal(0, hub.ClientCount);
    }

    private static double Rate(JsonElement stats, string counter) => stats.GetProperty("counters").GetProperty(counter).GetProperty("rate").GetDouble();

    private static long Total(JsonElement stats, string counter) => stats.GetProperty("counters").GetProperty(counter).GetProperty("total").GetInt64();
}
