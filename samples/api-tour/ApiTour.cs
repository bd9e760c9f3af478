using System.Net;
using System.Reactive;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Reactive.Testing;
using Rx.Netstack;
using Rx.Netstack.AspNetCore;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Testing;
using Xunit;

namespace ApiTour;

/// <summary>
/// The samples of docs/api.md and docs/architecture.md, each the body of a test: the text between <c>// begin-sample: name</c>
/// and <c>// end-sample</c> is what the docs show (a test in the repository checks it). This file's using lines are all a
/// sample needs; api-tour.csproj names the packages.
/// </summary>
public sealed class ApiTourTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Two_stacks_talk()
    {
        var (left, right) = PipeDevice.CreatePair(mtu: 1500);
        using var a = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
        using var b = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
        a.Attach(left);
        b.Attach(right);

        // A TCP echo server on b: accepted connections are a stream, and so are the bytes of each.
        await using var listener = await b.ListenTcpAsync(7);
        using var echo = listener.Accepted
            .SelectMany(connection => connection.Received
                .Select(chunk => Observable.FromAsync(() => connection.SendAsync(chunk)))
                .Concat()                                  // one send at a time, in order
                .Catch(Observable.Empty<Unit>()))          // a connection that fails ends alone
            .Subscribe();

        // A client on a, used as a plain Stream.
        await using var client = await a.ConnectTcpAsync("10.0.0.2:7");
        await client.SendAsync("hello"u8.ToArray());
        var answer = new byte[5];
        await client.AsStream().ReadExactlyAsync(answer).AsTask().WaitAsync(Limit);
        Assert.Equal("hello", Encoding.ASCII.GetString(answer));

        // Ping.
        var reply = await a.PingAsync("10.0.0.2");
        Assert.Equal(NetAddress.Parse("10.0.0.2"), reply.From);
    }

    [Fact]
    public async Task Intercept_connections_to_other_hosts()
    {
        var (left, right) = PipeDevice.CreatePair(mtu: 1500);
        using var client = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
        using var gateway = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
        client.Attach(left);
        gateway.Attach(right);
        // begin-sample: intercept
        // The gateway answers TCP to every address of 198.51.100.0/24. Each SYN is an offer; the client's handshake completes
        // only if the application accepts it (here port 80), and a refusal is a reset (or an ICMP unreachable).
        await using var interceptor = await TcpInterceptor.StartAsync(gateway, [NetPrefix.Parse("198.51.100.0/24")]);
        using var decisions = interceptor.Offers
            .Select(offer => Observable.FromAsync(async () =>
            {
                if (offer.Destination.Port != 80)
                {
                    await offer.RefuseAsync(InterceptRefusal.Reset);
                    return;
                }
                TcpConnection connection = await offer.AcceptAsync(); // its Local is the original destination
                await connection.SendAsync(Encoding.ASCII.GetBytes($"hello from {connection.Local}"));
                await connection.CloseAsync();
            }).Catch(Observable.Empty<Unit>()))                        // a client that went away ends alone
            .Merge()
            .Subscribe();

        await using var web = await client.ConnectTcpAsync("198.51.100.7:80");
        var greeting = new byte[26];
        await web.AsStream().ReadExactlyAsync(greeting).AsTask().WaitAsync(Limit);
        Assert.Equal("hello from 198.51.100.7:80", Encoding.ASCII.GetString(greeting));
        var refused = await Assert.ThrowsAsync<NetstackException>(() => client.ConnectTcpAsync("198.51.100.7:22"));
        Assert.Equal(NetstackErrorKind.ConnectionRefused, refused.Kind);
        // end-sample
    }

    [Fact]
    public void Linq_over_datagrams()
    {
        // begin-sample: linq-udp
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", "10.0.0.2/24");

        var server = network.Run(b.BindUdpAsync(5000));
        var client = network.Run(a.BindUdpAsync());
        var tags = new List<string>();
        using var query = server.Received
            .Select(datagram => Encoding.UTF8.GetString(datagram.Data.Span))
            .Where(text => text.StartsWith('#'))
            .Subscribe(tags.Add);

        var to = NetEndpoint.Parse("10.0.0.2:5000");
        foreach (var text in new[] { "#rx", "plain", "#netstack" })
            network.Run(client.SendAsync(text, to));
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);

        Assert.Equal(["#rx", "#netstack"], tags);
        // end-sample
    }

    [Fact]
    public async Task Async_streams()
    {
        using var stacks = new TwoStacks();
        Netstack a = stacks.A, b = stacks.B;
        // begin-sample: async-streams
        await using var server = await b.BindUdpAsync(6000);
        await using var client = await a.BindUdpAsync();
        var firstTwoLong = server.ReceiveAllAsync()          // IAsyncEnumerable<Datagram>
            .Where(datagram => datagram.Length > 3)          // System.Linq / System.Interactive.Async operators
            .Select(datagram => Encoding.UTF8.GetString(datagram.Data.Span))
            .Take(2)
            .ToListAsync();
        foreach (var text in new[] { "one", "three", "four", "five" })
            await client.SendAsync(text, NetEndpoint.Parse("10.0.0.2:6000"));
        Assert.Equal(["three", "four"], await firstTwoLong.AsTask().WaitAsync(Limit));
        // end-sample
    }

    [Fact]
    public void The_command_channel_itself()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var stack = network.AddStack("a", "10.0.0.1/24");
        // begin-sample: command-channel
        // Every request and reply, for a log: costs nothing while nobody subscribes.
        var log = new List<string>();
        using var tap = stack.Tap.Subscribe(e => log.Add(e.ToString()));

        // Execute: a cold observable; subscribing submits the command, one reply then completion.
        Reply? bound = null;
        using var bind = stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("10.0.0.1:5353"))).Subscribe(r => bound = r);
        scheduler.AdvanceBy(1);
        SocketHandle socket = Assert.IsType<Reply.Bound>(bound).Socket;

        // Commands: the channel as an IObserver, each request correlated by its id, its reply to its own observer.
        var replies = new List<Reply>();
        long id = stack.NextRequestId();
        stack.Commands.OnNext(new CommandRequest(id, new Command.Udp.Close(socket), Observer.Create<Reply>(replies.Add)));
        scheduler.AdvanceBy(1);
        Assert.IsType<Reply.Ok>(Assert.Single(replies));

        // A failure is a typed reply, not an exception: the handle is stale now.
        var again = new List<Reply>();
        stack.Execute(new Command.Udp.Close(socket)).Subscribe(again.Add);
        scheduler.AdvanceBy(1);
        Assert.Equal(NetstackErrorKind.StaleHandle, Assert.IsType<Reply.Error>(Assert.Single(again)).Detail.Kind);
        Assert.Equal(6, log.Count); // three requests taken, three replies
        // end-sample
    }

    [Fact]
    public void Accept_stream_with_an_echo_per_connection()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", "10.0.0.2/24");
        // begin-sample: accept-stream
        var listener = network.Run(b.ListenTcpAsync(7));
        // Each accepted connection echoes what it receives, upper-cased; Received pulls the next chunk only after OnNext returned.
        using var server = listener.Accepted.Subscribe(connection =>
            connection.Received
                .Select(chunk => Encoding.ASCII.GetString(chunk.Span).ToUpperInvariant())
                .Select(text => Observable.FromAsync(() => connection.SendAsync(Encoding.ASCII.GetBytes(text))))
                .Concat()
                .Subscribe());

        var client = network.Run(a.ConnectTcpAsync("10.0.0.2:7"));
        network.Run(client.SendAsync("shout"u8.ToArray()));
        var echoed = network.Run(client.ReceiveAsync());
        Assert.Equal("SHOUT", Encoding.ASCII.GetString(echoed!.Value.Span));
        // end-sample
    }

    [Fact]
    public async Task HttpClient_to_Kestrel()
    {
        using var stacks = new TwoStacks();
        Netstack client = stacks.A, server = stacks.B;
        // begin-sample: http-kestrel
        // Kestrel on the server stack: any ASP.NET Core app, no OS sockets.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseNetstack(server);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(80));
        await using var app = builder.Build();
        app.MapGet("/", () => "hello from Kestrel on a userspace stack");
        await app.StartAsync();

        // HttpClient on the client stack.
        using var http = new HttpClient(NetstackHttp.CreateHandler(client));
        Assert.Equal("hello from Kestrel on a userspace stack", await http.GetStringAsync("http://10.0.0.2/"));

        // Names: a static table (or DnsNameResolver over the stack's UDP).
        var names = new StaticNameResolver(("web.test", NetAddress.Parse("10.0.0.2")));
        using var named = new HttpClient(NetstackHttp.CreateHandler(client, names));
        Assert.Equal("hello from Kestrel on a userspace stack", await named.GetStringAsync("http://web.test/"));
        await app.StopAsync();
        // end-sample
    }

    [Fact]
    public void Marble_test_of_a_protocol()
    {
        // begin-sample: marble
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        var b = network.AddStack("b", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")], RunContinuationsInline = true },
            new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) }); // 10 ms each way on b's link
        var client = network.Run(a.BindUdpAsync());
        var server = network.Run(b.BindUdpAsync(7));

        // The protocol under test, on b: answer each request in capitals.
        using var protocol = server.Received
            .SelectMany(request => VirtualTime.FromAsync(token =>
                server.SendAsync(Encoding.UTF8.GetString(request.Data.Span).ToUpperInvariant(), request.Source, token)))
            .Subscribe();

        // Requests on a diagram, one frame = 10 ms; each answer comes back a round trip (two frames) later.
        var m = new Marbles(scheduler, frame: TimeSpan.FromMilliseconds(10));
        var words = new Dictionary<char, string> { ['s'] = "syn", ['a'] = "ack", ['S'] = "SYN", ['A'] = "ACK" };
        using var requests = m.Hot("-s--a-(sa)", words)
            .SelectMany(word => VirtualTime.FromAsync(token => client.SendAsync(word, NetEndpoint.Parse("10.0.0.2:7"), token)))
            .Subscribe();
        m.Expect(client.Received.Select(answer => Encoding.UTF8.GetString(answer.Data.Span)), "---S--A-(SA)--", words);
        // end-sample
    }

    [Fact]
    public void Socket_table_and_stats()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        // begin-sample: socket-table
        // A view model keyed by handle: the first batch is a snapshot, then adds, updates (TCP states) and removes.
        var rows = new Dictionary<SocketHandle, SocketInfo>();
        using var table = a.SocketTable.Subscribe(batch => SocketTableExtensions.Apply(rows, batch));
        var udp = network.Run(a.BindUdpAsync(53));
        scheduler.AdvanceBy(1);
        Assert.Equal(53, Assert.Single(rows.Values).Local.Port);
        network.Run(udp.DisposeAsync().AsTask());
        scheduler.AdvanceBy(1);
        Assert.Empty(rows);

        // Counters every second (on the stack's scheduler).
        var stats = new List<NetstackStats>();
        using var counters = a.Stats(TimeSpan.FromSeconds(1)).Subscribe(stats.Add);
        scheduler.AdvanceBy(TimeSpan.FromSeconds(3.5).Ticks);
        Assert.Equal(4, stats.Count); // one at once, then one a second
        // end-sample
    }

    [Fact]
    public void Command_channel()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var stack = network.AddStack("a", "10.0.0.1/24");
        // begin-sample: commands
        // Subscribing submits the command; the reply comes on the engine's scheduler, in the next pass.
        var replies = new List<Reply>();
        using var bind = stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("0.0.0.0:9"))).Subscribe(replies.Add);
        Assert.Empty(replies);
        scheduler.AdvanceBy(1);
        var bound = Assert.IsType<Reply.Bound>(Assert.Single(replies));

        // A second bind of the same port is a typed error, not an exception on the engine.
        replies.Clear();
        using var again = stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("0.0.0.0:9"))).Subscribe(replies.Add);
        scheduler.AdvanceBy(1);
        var error = Assert.IsType<Reply.Error>(Assert.Single(replies));
        Assert.Equal(BadRequestReason.PortInUse, error.Detail.Reason);
        // end-sample
    }

    [Fact]
    public void Devices_in_memory()
    {
        var scheduler = new TestScheduler();
        // begin-sample: pipe-pair
        var (a, b) = PipeDevice.CreatePair();                       // synchronous: A.Transmit → B.Received on the same call
        var (c, d) = PipeDevice.CreatePair(mtu: 1500, capacity: 256, scheduler: scheduler); // queued, delivered on the scheduler
        // end-sample
        IPacketDevice inner = c;
        string pcapPath = Path.Combine(Path.GetTempPath(), $"api-tour-{Guid.NewGuid():N}.pcap");
        // begin-sample: pcap-capture
        var writer = new PcapWriter(File.Create(pcapPath), scheduler);               // microseconds; PcapTimestampResolution.Nanoseconds for ns
        var device = new CaptureDevice(inner, scheduler, writer);                    // give `device` to the stack
        device.Frames.Subscribe(f => Console.WriteLine($"{f.Timestamp:HH:mm:ss.ffffff} {f.Direction} {f.Data.Length} bytes"));
        // … at the end:
        device.Dispose();   // flushes the writer and completes Frames
        writer.Dispose();   // closes the file
        // end-sample
        Assert.True(new FileInfo(pcapPath).Length > 0); // the pcap file header at least
        File.Delete(pcapPath);
        // begin-sample: impaired-link
        var link = new ImpairedLink(inner, scheduler,
            outbound: new ImpairmentOptions { Loss = 0.01, Delay = TimeSpan.FromMilliseconds(40), Jitter = TimeSpan.FromMilliseconds(5) },
            inbound: new ImpairmentOptions { Reordering = 0.02, BandwidthBytesPerSecond = 1_250_000 },
            seed: 1234);
        Console.WriteLine(link.OutboundCounters);   // offered, delivered, lost, corrupted, duplicated, reordered, discarded
        // end-sample
        Assert.Equal(0, link.OutboundCounters.Offered);
        Assert.NotNull(b);
        Assert.NotNull(d);
    }

    /// <summary>Compiled, not run: a TUN device needs root (the repository's interop tests run this path in a namespace).</summary>
    internal static void Kernel_devices(IScheduler scheduler)
    {
        // begin-sample: tun-open
        using var tun = TunDevice.Open("rxtun0");                   // creates it if missing; createIfMissing: false to require it
        Console.WriteLine($"{tun.Name}, MTU {tun.Mtu}");           // MTU read with SIOCGIFMTU when opened
        // end-sample
        // begin-sample: udp-tunnel
        // process 1: listens on 40001, sends to 40002
        using var dev = new UdpTunnelDevice(new IPEndPoint(IPAddress.Loopback, 40001), new IPEndPoint(IPAddress.Loopback, 40002));
        // process 2: the mirror image
        using var peer = new UdpTunnelDevice(new IPEndPoint(IPAddress.Loopback, 40002), new IPEndPoint(IPAddress.Loopback, 40001));
        // end-sample
    }
}

/// <summary>Two stacks on their own engine threads (real time), 10.0.0.1 and 10.0.0.2, joined by an in-memory pipe.</summary>
internal sealed class TwoStacks : IDisposable
{
    public TwoStacks()
    {
        var (left, right) = PipeDevice.CreatePair(mtu: 1500);
        A.Attach(left);
        B.Attach(right);
    }

    public Netstack A { get; } = new(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
    public Netstack B { get; } = new(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
