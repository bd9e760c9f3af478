using System.Globalization;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Rx.Netstack;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;

// Two stacks in one process, joined by an in-memory wire: no OS sockets, no network, no root.
var (left, right) = PipeDevice.CreatePair(mtu: 1500);
using var a = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
using var b = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
a.Attach(left);
b.Attach(right);

await using var server = await b.BindUdpAsync(5000);
await using var client = await a.BindUdpAsync();

// A LINQ query over the datagrams b receives: parse "sensor reading", drop implausible readings, average per sensor.
var averages = (
    from datagram in server.Received.Take(6)
    let parts = Encoding.UTF8.GetString(datagram.Data.Span).Split(' ')
    let celsius = double.Parse(parts[1], CultureInfo.InvariantCulture)
    where celsius > -50
    group celsius by parts[0] into sensor
    from average in sensor.Average()
    select $"{sensor.Key}: average {average:F1} C")
    .ToList()
    .Timeout(TimeSpan.FromSeconds(10))
    .ToTask();

foreach (var text in new[] { "kitchen 21.5", "garden 12.0", "kitchen 22.5", "garden -99", "garden 14.0", "kitchen 23.5" })
{
    await client.SendAsync(text, NetEndpoint.Parse("10.0.0.2:5000"));
    Console.WriteLine($"a sent \"{text}\" from port {client.Local.Port} to 10.0.0.2:5000");
}
foreach (var line in (await averages).Order())
    Console.WriteLine(line);
