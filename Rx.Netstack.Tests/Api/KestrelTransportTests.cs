using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rx.Netstack.AspNetCore;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Tests.Api;

/// <summary>A minimal-API app served by Kestrel on one stack; HttpClient on the other stack talks to it.</summary>
public sealed class KestrelTransportTests
{
    private const int Port = 8080;

    /// <summary>Builds and starts the app; <paramref name="connections"/> collects the transport connection id of every request.</summary>
    private static async Task<WebApplication> StartAppAsync(Netstack stack, ConcurrentBag<string> connections, CancellationToken token)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseNetstack(stack);
        builder.WebHost.ConfigureKestrel(o => o.ListenAnyIP(Port));
        WebApplication app = builder.Build();
        app.Use((context, next) =>
        {
            connections.Add(context.Features.Get<INetstackConnectionFeature>()?.Connection.ToString() ?? "not netstack");
            return next(context);
        });
        app.MapGet("/hello", () => "hello over a userspace stack");
        app.MapGet("/bytes/{count:int}", (int count) => Results.Bytes(Pattern(count), "application/octet-stream"));
        app.MapPost("/sha256", async (HttpRequest request) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[16 * 1024];
            int n;
            while ((n = await request.Body.ReadAsync(buffer)) > 0) hash.AppendData(buffer, 0, n);
            return Convert.ToHexString(hash.GetHashAndReset());
        });
        app.MapPost("/echo", async (HttpRequest request, HttpResponse response) =>
        {
            response.ContentType = "application/octet-stream";
            await request.Body.CopyToAsync(response.Body);
        });
        await app.StartAsync(token);
        return app;
    }

    private static byte[] Pattern(int count)
    {
        byte[] data = new byte[count];
        new Random(count).NextBytes(data);
        return data;
    }

    private static HttpClient ClientFor(Netstack stack, int maxConnections = int.MaxValue, INameResolver? resolver = null, string host = "10.0.0.2")
    {
        SocketsHttpHandler handler = NetstackHttp.CreateHandler(stack, resolver);
        handler.MaxConnectionsPerServer = maxConnections;
        return new HttpClient(handler) { BaseAddress = new Uri($"http://{host}:{Port}/"), Timeout = RealTimeStackPair.Timeout };
    }

    [Fact]
    public async Task Get_and_post_one_megabyte_bodies_arrive_intact()
    {
        using var pair = new RealTimeStackPair();
        var connections = new ConcurrentBag<string>();
        await using WebApplication app = await StartAppAsync(pair.Server, connections, pair.Token);
        using HttpClient http = ClientFor(pair.Client);

        Assert.Equal("hello over a userspace stack", await http.GetStringAsync("hello", pair.Token));

        byte[] downloaded = await http.GetByteArrayAsync($"bytes/{1 << 20}", pair.Token);
        Assert.Equal(SHA256.HashData(Pattern(1 << 20)), SHA256.HashData(downloaded));

        byte[] upload = Pattern(1_000_003);
        using (var response = await http.PostAsync("sha256", new ByteArrayContent(upload), pair.Token))
            Assert.Equal(Convert.ToHexString(SHA256.HashData(upload)), await response.Content.ReadAsStringAsync(pair.Token));

        using (var echoed = await http.PostAsync("echo", new ByteArrayContent(upload), pair.Token))
            Assert.Equal(SHA256.HashData(upload), SHA256.HashData(await echoed.Content.ReadAsByteArrayAsync(pair.Token)));

        Assert.All(connections, c => Assert.StartsWith("TCP 10.0.0.2:8080", c));
        await app.StopAsync(pair.Token);
    }

    [Fact]
    public async Task Many_requests_share_keep_alive_connections()
    {
        using var pair = new RealTimeStackPair();
        var connections = new ConcurrentBag<string>();
        await using WebApplication app = await StartAppAsync(pair.Server, connections, pair.Token);

        using (HttpClient one = ClientFor(pair.Client, maxConnections: 1))
        {
            for (int i = 0; i < 50; i++) Assert.Equal("hello over a userspace stack", await one.GetStringAsync("hello", pair.Token));
            Assert.Equal(50, connections.Count);
            Assert.Single(connections.Distinct());
        }

        connections.Clear();
        using (HttpClient four = ClientFor(pair.Client, maxConnections: 4))
        {
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                for (int i = 0; i < 25; i++)
                {
                    byte[] body = await four.GetByteArrayAsync("bytes/10000", pair.Token);
                    Assert.Equal(10_000, body.Length);
                }
            }));
            Assert.Equal(200, connections.Count);
            Assert.InRange(connections.Distinct().Count(), 1, 4);
        }
        await app.StopAsync(pair.Token);
    }

    [Fact]
    public async Task Names_resolve_through_a_static_table_and_ipv6_literals_work()
    {
        using var pair = new RealTimeStackPair();
        var connections = new ConcurrentBag<string>();
        await using WebApplication app = await StartAppAsync(pair.Server, connections, pair.Token);

        using HttpClient named = ClientFor(pair.Client, resolver: new StaticNameResolver(("server.test", RealTimeStackPair.ServerV4)), host: "server.test");
        Assert.Equal("hello over a userspace stack", await named.GetStringAsync("hello", pair.Token));

        using HttpClient v6 = ClientFor(pair.Client, host: "[fd00::2]");
        Assert.Equal("hello over a userspace stack", await v6.GetStringAsync("hello", pair.Token));
        Assert.Contains(connections, c => c.StartsWith("TCP [fd00::2]:8080", StringComparison.Ordinal));

        using HttpClient unknown = ClientFor(pair.Client, resolver: new StaticNameResolver(), host: "nowhere.test");
        await Assert.ThrowsAsync<HttpRequestException>(() => unknown.GetStringAsync("hello", pair.Token));
        await app.StopAsync(pair.Token);
    }

    [Fact]
    public async Task Stopping_the_app_closes_idle_keep_alive_connections_and_frees_the_port()
    {
        using var pair = new RealTimeStackPair();
        var connections = new ConcurrentBag<string>();
        WebApplication app = await StartAppAsync(pair.Server, connections, pair.Token);
        using HttpClient http = ClientFor(pair.Client);
        Assert.Equal("hello over a userspace stack", await http.GetStringAsync("hello", pair.Token));

        await app.StopAsync(pair.Token); // graceful: the idle keep-alive connection is closed, the listeners are unbound
        await app.DisposeAsync();

        // The port is free again on the stack, and nothing listens there any more.
        await using TcpConnectionListener again = await pair.Server.ListenTcpAsync(Port, cancellationToken: pair.Token);
        Assert.Equal(Port, again.Local.Port);
    }

    [Fact]
    public async Task Binding_a_port_in_use_fails_with_AddressInUseException()
    {
        using var pair = new RealTimeStackPair();
        await using TcpConnectionListener taken = await pair.Server.ListenTcpAsync(Port, cancellationToken: pair.Token);
        var factory = new NetstackConnectionListenerFactory(pair.Server);
        await Assert.ThrowsAsync<AddressInUseException>(async () => await factory.BindAsync(new IPEndPoint(IPAddress.Any, Port), pair.Token));
        Assert.False(factory.CanBind(new System.Net.Sockets.UnixDomainSocketEndPoint("/tmp/x")));
    }
}
