using System.Globalization;
using System.Net.Sockets;

namespace Rx.Netstack.Cli.Dashboard;

/// <summary>
/// <c>demo --dashboard ADDRESS:PORT [--seconds N]</c>: the demo's two stacks with their traffic kept going
/// (<see cref="DashboardTraffic"/>) and the dashboard of both on the host's ADDRESS:PORT (<see cref="DashboardServer"/>)
/// until Ctrl-C, SIGTERM or N seconds.
/// </summary>
internal static class DashboardDemo
{
    /// <summary>Bytes of each bulk transfer by default: about 5 s on the 4 MB/s link.</summary>
    public const long DefaultBulkBytes = 16L * 1000 * 1000;

    public static async Task<int> RunAsync(DemoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options.Dashboard);
        using var signal = new StopSignal();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(signal.Token);
        if (options.Seconds is double seconds) stop.CancelAfter(TimeSpan.FromSeconds(seconds));

        var console = DemoConsole.Create();
        using var net = new DemoNetwork(options.Mtu, options.PcapPath, outbound: DashboardTraffic.AToB, inbound: DashboardTraffic.BToA);
        console.Line($"stack A: {DemoNetwork.A4}, {DemoNetwork.A6}   stack B: {DemoNetwork.B4}, {DemoNetwork.B6}   in-memory pipe, MTU {options.Mtu}, real time");
        console.Line(string.Create(CultureInfo.InvariantCulture,
            $"link A → B: {DashboardTraffic.AToB.Loss:P1} loss, {DashboardTraffic.AToB.Delay.TotalMilliseconds:F0} ms, {DashboardTraffic.AToB.BandwidthBytesPerSecond / 1e6:F0} MB/s; B → A: {DashboardTraffic.BToA.Delay.TotalMilliseconds:F0} ms (ImpairedLink)"));

        long bulk = options.BulkBytes ?? DefaultBulkBytes;
        await using var traffic = new DashboardTraffic(net, bulk, Console.Error);
        using var hub = new DashboardHub([new DashboardSource("A", net.A, traffic.Pings), new DashboardSource("B", net.B)]);
        DashboardServer server;
        try
        {
            // Before any traffic: a port that is taken fails at once.
            server = await DashboardServer.StartAsync(options.Dashboard, hub).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            Console.Error.WriteLine($"rx-netstack demo: cannot serve the dashboard on {options.Dashboard}: {e.Message}");
            return ExitCodes.Failure;
        }
        await using (server.ConfigureAwait(false))
        {
            await traffic.StartAsync().ConfigureAwait(false);
            console.Line($"traffic A → B: UDP readings 10/s, pings 2/s over IPv4 and IPv6, TCP echo sessions, HTTP GETs 2/s, bulk TCP {bulk / 1e6:0.#} MB at a time");
            console.Line($"dashboard: {server.Address}");
            console.Line(options.Seconds is double s
                ? string.Create(CultureInfo.InvariantCulture, $"serving for {s} s; Ctrl-C or SIGTERM stops sooner.")
                : "Ctrl-C or SIGTERM stops.");
            try { await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            console.Line("stopping …");
            hub.Dispose(); // ends the open event streams, so Kestrel stops at once
        }
        await traffic.DisposeAsync().ConfigureAwait(false);
        console.Line(traffic.Summary());
        console.Line($"dashboard: {hub.EventsWritten} events written, {hub.EventsCoalesced} coalesced for slow browsers");
        return ExitCodes.Success;
    }
}
