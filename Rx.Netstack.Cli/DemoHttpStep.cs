using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rx.Netstack.AspNetCore;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli;

/// <summary>
/// The demo's HTTP step: a Kestrel minimal-API app served on stack B through <see cref="NetstackWebHostBuilderExtensions.UseNetstack"/>,
/// and an <see cref="HttpClient"/> on stack A whose connections are dialled through the userspace stack
/// (<see cref="NetstackHttp.CreateHandler"/>). Nothing touches the host's network.
/// </summary>
internal static class DemoHttpStep
{
    public static async Task RunAsync(DemoNetwork net, DemoConsole console)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseNetstack(net.B);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(80));
        await using WebApplication app = builder.Build();
        app.MapGet("/hello", (HttpContext context) => $"hello from Kestrel on {context.Connection.LocalIpAddress}, you are {context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}");
        app.MapPost("/sha256", async (HttpRequest request) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[64 * 1024];
            int n;
            while ((n = await request.Body.ReadAsync(buffer)) > 0) hash.AppendData(buffer, 0, n);
            return Convert.ToHexString(hash.GetHashAndReset());
        });
        using var startTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StartAsync(startTimeout.Token);

        using var client = new HttpClient(NetstackHttp.CreateHandler(net.A)) { Timeout = TimeSpan.FromSeconds(5) };
        foreach (string host in new[] { DemoNetwork.B4.ToString(), $"[{DemoNetwork.B6}]" })
        {
            string text = await client.GetStringAsync($"http://{host}/hello");
            console.Ok($"GET http://{host}/hello → \"{text}\"");
        }

        byte[] body = RandomNumberGenerator.GetBytes(1024 * 1024);
        using HttpResponseMessage response = await client.PostAsync($"http://{DemoNetwork.B4}/sha256", new ByteArrayContent(body));
        string theirs = await response.Content.ReadAsStringAsync();
        string ours = Convert.ToHexString(SHA256.HashData(body));
        if (response.StatusCode != HttpStatusCode.OK || theirs != ours)
            throw new DemoStepFailedException($"POST of 1 MiB: status {(int)response.StatusCode}, server hash {theirs}, ours {ours}");
        console.Ok($"POST 1 MiB to /sha256 → {ours[..16]}… (equal on both sides)");

        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(stopTimeout.Token);
    }
}
