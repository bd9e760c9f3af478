using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Rx.Netstack;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Wire;

// Two stacks in one process, joined by an in-memory wire: no OS sockets, no network, no root.
var (left, right) = PipeDevice.CreatePair(mtu: 1500);
using var a = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] });
using var b = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] });
a.Attach(left);
b.Attach(right);
var (from, to) = (NetAddress.Parse("10.0.0.1"), NetAddress.Parse("10.0.0.2"));

// Ping: three ICMP echo requests 100 ms apart, as an observable of results.
Console.WriteLine($"PING {to} 56 data bytes");
await a.PingSeries(to, count: 3, interval: TimeSpan.FromMilliseconds(100)).Do(result => Console.WriteLine(
    result.Reply is { } reply
        ? $"64 bytes from {reply.From}: icmp_seq={result.SequenceNumber} time={reply.RoundTripTime.TotalMilliseconds:F3} ms"
        : $"icmp_seq={result.SequenceNumber}: {result.Error}"));

// Raw sockets see and send whole IP packets. b watches the ICMP that reaches it; a sends an echo request made by hand.
await using var watch = await b.OpenRawAsync(4, IpProtocol.Icmp);
await using var raw = await a.OpenRawAsync(4, IpProtocol.Icmp);
var seenByB = watch.ReceiveAsync();
var replyToA = raw.Received.Select(p => p.Packet.ToArray()).FirstAsync().Timeout(TimeSpan.FromSeconds(10)).ToTask();

var body = "hello, raw"u8.ToArray();
var packet = new byte[Ipv4Header.HeaderLength + IcmpHeader.HeaderLength + body.Length];
body.CopyTo(packet, Ipv4Header.HeaderLength + IcmpHeader.HeaderLength);
var echoRequest = new IcmpHeader((byte)IcmpV4Type.EchoRequest, 0, Identifier: 0x4242, SequenceNumber: 1);
int icmpLength = IcmpHeader.EmitV4(packet.AsSpan(Ipv4Header.HeaderLength), echoRequest, body.Length);
Ipv4Header.Emit(packet, new Ipv4Header(from, to, IpProtocol.Icmp), icmpLength);
await raw.SendAsync(packet);
Console.WriteLine($"a sent a {packet.Length}-byte IPv4 packet of its own: {Describe(packet)}");
Console.WriteLine($"b's raw socket saw: {Describe((await seenByB.WaitAsync(TimeSpan.FromSeconds(10))).Packet.Span)}");
Console.WriteLine($"a's raw socket saw b's answer: {Describe(await replyToA)}");

static string Describe(ReadOnlySpan<byte> packet)
{
    if (Ipv4Header.TryParse(packet, out var ip, out _, out var payload) != WireError.None
        || IcmpHeader.TryParseV4(payload, out var icmp, out var data) != WireError.None)
        return "not a valid ICMPv4 packet";
    var type = (IcmpV4Type)icmp.Type;
    return $"{ip.Source} -> {ip.Destination} ICMP {type} id=0x{icmp.Identifier:x} seq={icmp.SequenceNumber} \"{Encoding.ASCII.GetString(data)}\"";
}
