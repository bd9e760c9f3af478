using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Devices;
using Rx.Netstack.Tests.Interop;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// The dashboard in a real browser: <c>rx-netstack demo --dashboard 127.0.0.1:0</c> runs as a process, the system's Chromium
/// (headless, driven by Playwright; nothing is downloaded) loads the page, and the counters, the socket table and a
/// connection's chart must change with the traffic without a reload, over the one event stream the page opened. Then a
/// screenshot must show a page, not a blank. Every wait is a DOM condition with a deadline.
/// </summary>
[Collection(SerialCollection.Name)] // a browser and the demo together fill the two cores: nothing else runs beside them
public sealed partial class DashboardBrowserTests
{
    private const float WaitMs = 30_000;

    /// <summary>Set to a file name to keep the screenshot (docs/images/dashboard.png is one).</summary>
    private const string ScreenshotVariable = "RX_NETSTACK_DASHBOARD_SCREENSHOT";

    [RequiresProgramFact("chromium")]
    public async Task The_page_moves_with_the_traffic_without_a_reload_and_its_screenshot_is_not_blank()
    {
        using var cli = CliProcess.StartHere("demo", "--dashboard", "127.0.0.1:0", "--seconds", "180");
        await cli.WaitForLineAsync(line => line.Contains("dashboard: http://", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        string url = DashboardUrl().Match(string.Join('\n', cli.Lines)).Value;
        var origin = new Uri(url).GetLeftPart(UriPartial.Authority);

        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ChromiumPath(),
            Headless = true,
            Args = Environment.UserName == "root" ? ["--no-sandbox"] : [],
        });
        IPage page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 960 } });
        var requests = new ConcurrentQueue<string>();
        page.Request += (_, request) => requests.Enqueue(request.Url);
        try
        {
            await page.GotoAsync(url);
        }
        catch (PlaywrightException e)
        {
            // Say whether the demo still ran, and what it printed, not only what the browser saw.
            throw new InvalidOperationException($"loading {url} failed (demo {(cli.HasExited ? "exited" : "running")}):\n{cli.Tail()}", e);
        }
        await page.EvaluateAsync("() => { window.loadedOnce = true; }"); // gone if the page ever reloads
        var wait = new PageWaitForFunctionOptions { Timeout = WaitMs };

        // Counters: a rate tile fills, then its total changes with the next samples and its sparkline grows.
        await page.WaitForFunctionAsync("() => (document.querySelector('#tile-framesOut .total')?.textContent ?? '').startsWith('total')", null, wait);
        string frames = await page.InnerTextAsync("#tile-framesOut .total");
        await page.WaitForFunctionAsync("before => document.querySelector('#tile-framesOut .total').textContent !== before", frames, wait);
        await page.WaitForFunctionAsync("() => document.querySelector('#tile-framesOut polyline').getAttribute('points').split(' ').length >= 8", null, wait);

        // The socket table: rows from the snapshot, then rows added or removed by change sets (echo sessions come and go).
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#sockets tbody tr').length >= 3", null, wait);
        string[] rows = await page.EvalOnSelectorAllAsync<string[]>("#sockets tbody tr", "rows => rows.map(r => r.dataset.id)");
        await page.WaitForFunctionAsync(
            "before => { const now = [...document.querySelectorAll('#sockets tbody tr:not(.removed)')].map(r => r.dataset.id);" +
            " return now.length !== before.length || now.some(id => !before.includes(id)); }", rows, wait);

        // A connection's chart: the same card's cwnd line moves.
        await page.WaitForFunctionAsync("() => document.querySelectorAll('.conn polyline[points]').length > 0", null, wait);
        var charts = await page.EvaluateAsync<Dictionary<string, string>>(
            "() => Object.fromEntries([...document.querySelectorAll('.conn')].map(c => [c.dataset.id, c.querySelector('polyline').getAttribute('points') ?? '']))");
        await page.WaitForFunctionAsync(
            "before => [...document.querySelectorAll('.conn')].some(c => c.dataset.id in before && c.querySelector('polyline').getAttribute('points') !== before[c.dataset.id])",
            charts, wait);

        // Pings, and ten seconds of samples for a screenshot worth looking at.
        await page.WaitForFunctionAsync("() => / ms/.test(document.querySelector('#ping .figures')?.textContent ?? '')", null, wait);
        await page.WaitForFunctionAsync("() => window.dashboard.statsEvents >= 40", null, wait);

        Assert.True(await page.EvaluateAsync<bool>("() => window.loadedOnce === true"), "the page reloaded");
        // One page load and one event stream: no polling, nothing from anywhere else.
        Assert.All(requests, request => Assert.StartsWith(origin, request, StringComparison.Ordinal));
        Assert.Equal([url, $"{url}/events"], requests.Distinct());
        Assert.Single(requests, request => request.Contains("/events", StringComparison.Ordinal));

        byte[] screenshot = await page.ScreenshotAsync(new() { FullPage = true });
        File.WriteAllBytes(Path.Combine(AppContext.BaseDirectory, "dashboard.png"), screenshot);
        if (Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 } keep) File.WriteAllBytes(keep, screenshot);
        AssertNotBlank(PngImage.Decode(screenshot));

        await browser.CloseAsync();
        cli.Signal(15); // SIGTERM: the demo stops cleanly and says what its traffic did
        int code = await cli.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, cli.Tail());
        Assert.Contains(cli.Lines, line => line.Contains(" 0 failures", StringComparison.Ordinal));
    }

    /// <summary>A page, not a blank: many colours, and a good part of it differs from the background.</summary>
    private static void AssertNotBlank(PngImage image)
    {
        Assert.True(image.Width >= 1280 && image.Height >= 900, $"{image.Width}×{image.Height}");
        var counts = image.Pixels.GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count());
        int background = counts.MaxBy(kv => kv.Value).Key;
        double foreground = 1 - (double)counts[background] / image.Pixels.Length;
        Assert.True(counts.Count >= 100, $"{counts.Count} colours");
        Assert.True(foreground >= 0.05, $"{foreground:P1} of the pixels differ from the background {background:X6}");
    }

    private static string ChromiumPath() =>
        // Debian's /usr/bin/chromium is a shell wrapper around this binary.
        File.Exists("/usr/lib/chromium/chromium") ? "/usr/lib/chromium/chromium"
        : NetworkNamespace.FindProgram("chromium") ?? throw new InvalidOperationException("chromium is not installed (apt-get install -y chromium)");

    [GeneratedRegex(@"http://\S+/dashboard")]
    private static partial Regex DashboardUrl();
}
