using System.Globalization;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;
using System.Text;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli.Dashboard;

/// <summary>
/// The demo's traffic, kept going in real time for <c>demo --dashboard</c>, each kind in its own loop on A towards B:
/// sensor readings over UDP (B answers with a LINQ query's averages once a second), pings over IPv4 and IPv6, TCP echo
/// sessions that open, talk and close, HTTP GETs to Kestrel on B, and bulk TCP transfers to B's discard service, checked
/// with SHA-256, over a link that loses and delays frames and has a rate (<see cref="AToB"/>), so congestion control has
/// something to do. A loop that fails says so on stderr, counts it and goes on a second later.
/// </summary>
internal sealed class DashboardTraffic : IAsyncDisposable
{
    /// <summary>A → B: 0.5 % loss, 5 ms, 4 MB/s — cwnd saws, SRTT follows the queue, retransmissions happen.</summary>
    public static readonly ImpairmentOptions AToB = new() { Loss = 0.005, Delay = TimeSpan.FromMilliseconds(5), BandwidthBytesPerSecond = 4_000_000 };

    /// <summary>B → A: 5 ms.</summary>
    public static readonly ImpairmentOptions BToA = new() { Delay = TimeSpan.FromMilliseconds(5) };

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private readonly DemoNetwork _net;
    private readonly long _bulkBytes;
    private readonly TextWriter _errors;
    private readonly CancellationTokenSource _stop = new();
    private readonly Subject<PingSample> _pings = new();
    private readonly List<Task> _loops = [];
    private readonly List<IDisposable> _subscriptions = [];
    private readonly List<IAsyncDisposable> _services = [];
    private int _disposed;
    private long _udpSent, _udpSummaries, _pingsSent, _pingsLost, _echoSessions, _httpRequests, _bulkTransfers, _bulkBytesSent, _failures;

    /// <summary>Creates the traffic (nothing runs before <see cref="StartAsync"/>).</summary>
    /// <param name="net">The two stacks.</param>
    /// <param name="bulkBytes">Bytes of each bulk transfer.</param>
    /// <param name="errors">Gets a line for each failure.</param>
    public DashboardTraffic(DemoNetwork net, long bulkBytes, TextWriter errors)
    {
        _net = net;
        _bulkBytes = bulkBytes;
        _errors = errors;
    }

    /// <summary>A's pings to B as they come back (or do not): hot, whether a browser watches or not.</summary>
    public IObservable<PingSample> Pings => _pings;

    /// <summary>Starts B's services (TCP echo 7, discard 9, HTTP 80, the UDP query on 5000) and A's loops.</summary>
    public async Task StartAsync()
    {
        Netstack b = _net.B;
        var echo = new TcpEchoService(7);
        _services.Add(echo);
        await echo.StartAsync(b).ConfigureAwait(false);
        // A small receive buffer keeps the bulk's queue on the 4 MB/s link short, so pings and echoes still get through.
        var discard = new TcpDiscardService(9);
        _services.Add(discard);
        await discard.StartAsync(b, settings: new TcpSettings { ReceiveBufferSize = 128 * 1024 }).ConfigureAwait(false);
        _services.Add(await HttpService.StartAsync(b, 80).ConfigureAwait(false));
        UdpSocket sensors = await b.BindUdpAsync(5000).ConfigureAwait(false);
        _services.Add(sensors);
        _subscriptions.Add(AverageReadings(sensors));

        _subscriptions.Add(Ping(DemoNetwork.B4));
        _subscriptions.Add(Ping(DemoNetwork.B6));
        CancellationToken stop = _stop.Token;
        _loops.Add(Loop("udp", () => UdpAsync(stop), stop));
        _loops.Add(Loop("echo", () => EchoSessionAsync(stop), stop));
        _loops.Add(Loop("http", () => HttpAsync(stop), stop));
        _loops.Add(Loop("bulk", () => BulkAsync(discard, stop), stop));
    }

    /// <summary>What was done, for the line printed at the end.</summary>
    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"{Read(ref _udpSent)} UDP readings ({Read(ref _udpSummaries)} averages back), {Read(ref _pingsSent)} pings ({Read(ref _pingsLost)} lost), " +
        $"{Read(ref _echoSessions)} TCP echo sessions, {Read(ref _httpRequests)} HTTP requests, " +
        $"{Read(ref _bulkTransfers)} bulk transfers ({Read(ref _bulkBytesSent) / 1e6:F1} MB sent, SHA-256 checked), {Read(ref _failures)} failures");

    private static long Read(ref long counter) => Interlocked.Read(ref counter);

    /// <summary>B's LINQ query: readings grouped per second, averaged per sensor, the averages sent back to whoever sent the last.</summary>
    private IDisposable AverageReadings(UdpSocket sensors) =>
        sensors.Received
            .Select(d => (Text: Encoding.UTF8.GetString(d.Data.Span).Split(' '), d.Source))
            .Where(r => r.Text.Length == 2)
            .Select(r => (Sensor: r.Text[0], Celsius: double.Parse(r.Text[1], CultureInfo.InvariantCulture), r.Source))
            .Buffer(TimeSpan.FromSeconds(1), _net.B.Scheduler)
            .Where(second => second.Count > 0)
            .Select(second => (Summary: string.Join(", ", second.GroupBy(r => r.Sensor).OrderBy(g => g.Key)
                .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {g.Average(r => r.Celsius):F1}"))), To: second[^1].Source))
            .SelectMany(s => Observable.FromAsync(token => sensors.SendAsync(Encoding.UTF8.GetBytes(s.Summary), s.To, token)))
            .Subscribe(_ => { }, e => Fail("udp averages", e));

    private IDisposable Ping(NetAddress target) =>
        _net.A.PingSeries(target, int.MaxValue, TimeSpan.FromMilliseconds(500))
            .Subscribe(result =>
            {
                Interlocked.Increment(ref _pingsSent);
                if (result.Reply is null) Interlocked.Increment(ref _pingsLost);
                var sample = new PingSample(target.ToString(), result.SequenceNumber, result.Reply?.RoundTripTime,
                    result.Error?.Kind.ToString(), _net.A.Scheduler.Now);
                lock (_pings) _pings.OnNext(sample); // two series (IPv4, IPv6) may answer on two threads
            }, e => Fail($"ping {target}", e));

    private async Task UdpAsync(CancellationToken stop)
    {
        await using UdpSocket client = await _net.A.BindUdpAsync(cancellationToken: stop).ConfigureAwait(false);
        using IDisposable answers = client.Received.Subscribe(_ => Interlocked.Increment(ref _udpSummaries));
        var destination = new NetEndpoint(DemoNetwork.B4, 5000);
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            double celsius = 18 + (i * 7 % 10) * 0.5;
            string text = string.Create(CultureInfo.InvariantCulture, $"sensor-{i % 3} {celsius:F1}");
            await client.SendAsync(Encoding.UTF8.GetBytes(text), destination, stop).ConfigureAwait(false);
            Interlocked.Increment(ref _udpSent);
            await Task.Delay(100, stop).ConfigureAwait(false);
        }
    }

    /// <summary>One echo session: connect (IPv4 and IPv6 in turn), 16 lines four a second, each read back and compared, close.</summary>
    private async Task EchoSessionAsync(CancellationToken stop)
    {
        NetAddress server = Read(ref _echoSessions) % 2 == 0 ? DemoNetwork.B4 : DemoNetwork.B6;
        await using (TcpConnection client = await _net.A.ConnectTcpAsync(new NetEndpoint(server, 7), cancellationToken: stop).WaitAsync(Patience, stop).ConfigureAwait(false))
        {
            using var reader = new StreamReader(client.AsStream(), Encoding.UTF8, leaveOpen: true);
            for (int i = 0; i < 16; i++)
            {
                string line = $"line {i} from {client.Local}";
                await client.SendAsync(Encoding.UTF8.GetBytes(line + "\n"), stop).ConfigureAwait(false);
                string? back = await reader.ReadLineAsync(stop).AsTask().WaitAsync(Patience, stop).ConfigureAwait(false);
                if (back != line) throw new InvalidOperationException($"sent \"{line}\", the echo was \"{back}\"");
                await Task.Delay(250, stop).ConfigureAwait(false);
            }
        }
        Interlocked.Increment(ref _echoSessions);
        await Task.Delay(1000, stop).ConfigureAwait(false);
    }

    /// <summary>GET /hello twice a second, and the counters page every tenth time; pooled connections live 15 s.</summary>
    private async Task HttpAsync(CancellationToken stop)
    {
        var handler = NetstackHttp.CreateHandler(_net.A);
        handler.PooledConnectionLifetime = TimeSpan.FromSeconds(15);
        using var http = new HttpClient(handler) { Timeout = Patience };
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            string path = i % 10 == 9 ? "/" : "/hello";
            using (HttpResponseMessage response = await http.GetAsync($"http://{DemoNetwork.B4}{path}", stop).ConfigureAwait(false))
            {
                response.EnsureSuccessStatusCode();
                await response.Content.ReadAsByteArrayAsync(stop).ConfigureAwait(false);
            }
            Interlocked.Increment(ref _httpRequests);
            await Task.Delay(500, stop).ConfigureAwait(false);
        }
    }

    /// <summary>One bulk transfer to B's discard service, compared with the SHA-256 it reports; bounded in time.</summary>
    private async Task BulkAsync(TcpDiscardService discard, CancellationToken stop)
    {
        // At least 100 kB/s, or something is wrong: then the transfer is abandoned and counted as a failure.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(stop);
        limit.CancelAfter(TimeSpan.FromSeconds(10 + _bulkBytes / 100_000.0));
        CancellationToken token = limit.Token;
        var settings = new TcpSettings { SendBufferSize = 256 * 1024 };
        await using TcpConnection sender = await _net.A.ConnectTcpAsync(new NetEndpoint(DemoNetwork.B4, discard.Port), settings, token).ConfigureAwait(false);
        Task<DiscardReport> report = discard.Reports.FirstAsync(r => r.Remote == sender.Local).ToTask(token);
        byte[] pattern = new byte[64 * 1024];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long sent = 0; sent < _bulkBytes;)
        {
            int length = (int)Math.Min(pattern.Length, _bulkBytes - sent);
            RandomNumberGenerator.Fill(pattern.AsSpan(0, length));
            await sender.SendAsync(pattern.AsMemory(0, length), token).ConfigureAwait(false);
            hash.AppendData(pattern, 0, length);
            sent += length;
            Interlocked.Add(ref _bulkBytesSent, length);
        }
        await sender.ShutdownWriteAsync(token).ConfigureAwait(false);
        DiscardReport received = await report.ConfigureAwait(false);
        string ours = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (received.Bytes != _bulkBytes || received.Sha256 != ours)
            throw new InvalidOperationException($"sent {_bulkBytes} bytes with SHA-256 {ours[..16]}…, B received {received.Bytes} with {received.Sha256?[..16]}…");
        Interlocked.Increment(ref _bulkTransfers);
        await Task.Delay(1000, stop).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="iteration"/> again and again until stopped; a failure is reported and retried a second later.</summary>
    private Task Loop(string name, Func<Task> iteration, CancellationToken stop) => Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await iteration().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Fail(name, e);
                try { await Task.Delay(1000, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }, CancellationToken.None); // not stop: a loop that never started would be a cancelled task, and DisposeAsync awaits them all

    private void Fail(string what, Exception e)
    {
        Interlocked.Increment(ref _failures);
        lock (_errors) _errors.WriteLine($"rx-netstack demo: {what}: {e.GetType().Name}: {e.Message}");
    }

    /// <summary>Stops the loops (bounded wait), the pings, and B's services.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).WaitAsync(Patience).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            lock (_errors) _errors.WriteLine($"rx-netstack demo: {_loops.Count(t => !t.IsCompleted)} traffic loop(s) did not stop within {Patience.TotalSeconds} s");
        }
        foreach (IDisposable subscription in _subscriptions) subscription.Dispose();
        foreach (IAsyncDisposable service in _services) await service.DisposeAsync().ConfigureAwait(false);
        lock (_pings) _pings.OnCompleted();
    }
}
