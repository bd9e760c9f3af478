using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rx.Netstack;
using Rx.Netstack.AspNetCore;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;

// Two stacks in one process, joined by an in-memory wire: no OS sockets, no network, no root.
var (left, right) = PipeDevice.CreatePair(mtu: 1500);
using var clientStack = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
using var serverStack = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
clientStack.Attach(left);
serverStack.Attach(right);

// Kestrel on the server stack: an ordinary minimal-API app whose endpoints are listeners on the userspace stack.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.UseNetstack(serverStack);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(80));
await using var app = builder.Build();
app.MapGet("/hello", (HttpContext context) =>
    $"hello from Kestrel on {context.Connection.LocalIpAddress}, you are {context.Connection.RemoteIpAddress}");
await app.StartAsync();
Console.WriteLine("Kestrel listens on port 80 of 10.0.0.2, a userspace stack");

// HttpClient on the client stack: every connection it opens is dialled through the userspace stack.
using var http = new HttpClient(NetstackHttp.CreateHandler(clientStack)) { Timeout = TimeSpan.FromSeconds(10) };
Console.WriteLine($"GET http://10.0.0.2/hello -> \"{await http.GetStringAsync("http://10.0.0.2/hello")}\"");

// Host names from a static table (DnsNameResolver asks a DNS server over the stack's own UDP instead).
var names = new StaticNameResolver(("web.test", NetAddress.Parse("10.0.0.2")));
using var named = new HttpClient(NetstackHttp.CreateHandler(clientStack, names)) { Timeout = TimeSpan.FromSeconds(10) };
Console.WriteLine($"GET http://web.test/hello -> \"{await named.GetStringAsync("http://web.test/hello")}\"");

await app.StopAsync();
