using System.Reactive;
using System.Reactive.Linq;
using Rx.Netstack;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;

// Two stacks in one process, joined by an in-memory wire: no OS sockets, no network, no root.
var (left, right) = PipeDevice.CreatePair(mtu: 1500);
using var a = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
using var b = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
a.Attach(left);
b.Attach(right);

// A TCP echo server on b: accepted connections are a stream, and so are the bytes of each.
await using var listener = await b.ListenTcpAsync(7);
using var echo = listener.Accepted
    .Do(connection => Console.WriteLine($"server: accepted {connection.Remote}"))
    .SelectMany(connection => connection.Received
        .Select(chunk => Observable.FromAsync(token => connection.SendAsync(chunk, token)))
        .Concat()                                  // one send at a time, in order
        .Catch(Observable.Empty<Unit>()))          // a connection that fails ends alone
    .Subscribe();

// A client on a, used as a plain Stream.
await using var client = await a.ConnectTcpAsync("10.0.0.2:7");
Console.WriteLine($"client: connected {client.Local} -> {client.Remote}");
await using var stream = client.AsStream();
using var reader = new StreamReader(stream, leaveOpen: true);
using var writer = new StreamWriter(stream, leaveOpen: true) { AutoFlush = true };
foreach (var line in new[] { "hello", "an echo over a userspace TCP/IP stack" })
{
    await writer.WriteLineAsync(line);
    var echoed = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
    Console.WriteLine($"client: sent \"{line}\", read back \"{echoed}\"");
    if (echoed != line) throw new InvalidOperationException("The echo differs from what was sent.");
}
