using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// Multicast against Linux: the stack on a TAP interface in a Linux bridge with IGMP/MLD snooping and the bridge's own querier
/// on, a kernel host on a veth of the same bridge in another namespace. The stack's sockets join an IPv4 and an IPv6 group;
/// the bridge learns both from the stack's reports (its multicast database lists them on the TAP port), forwards what the
/// kernel host sends to them, and forgets the IPv4 group after the socket closes and the stack reports the leave.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class MulticastInteropTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly IPAddress Group4 = IPAddress.Parse("239.77.1.2"), Group6 = IPAddress.Parse("ff05::77:2");
    private const string Tap = "rxmtap0";
    private const int Port = 5007;

    [NamespaceFact("bridge", "ping")]
    public async Task A_group_joined_by_the_stack_receives_what_a_kernel_socket_sends_and_the_bridge_learns_its_reports()
    {
        using var lan = NetworkNamespace.Create("rxmlan");
        using var host = NetworkNamespace.Create("rxmhost");
        lan.Exec("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "1", "mcast_querier", "1");
        lan.Exec("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1");
        lan.Exec("ip", "link", "set", "veth1", "netns", host.Name);
        lan.Exec("ip", "link", "set", "veth0", "master", "br0");
        lan.Exec("ip", "link", "set", "veth0", "up");
        lan.Exec("ip", "link", "set", "br0", "up");
        host.Exec("ip", "addr", "add", "10.77.20.1/24", "dev", "veth1");
        host.Exec("ip", "-6", "addr", "add", "fd77:20::1/64", "dev", "veth1", "nodad");
        host.Exec("ip", "link", "set", "veth1", "up");
        host.Exec("ip", "route", "add", "224.0.0.0/4", "dev", "veth1");

        using TapDevice tap = lan.Run(() => TapDevice.Open(Tap));
        using var stack = new Netstack(new NetstackOptions
        {
            Addresses = [InterfaceAddress.Parse("10.77.20.2/24"), InterfaceAddress.Parse("fd77:20::2/64")],
            Ethernet = new Rx.Netstack.Link.EthernetSettings { MacAddress = MacAddress.Parse("02:00:00:77:20:02") },
        });
        using IDisposable attachment = stack.Attach(tap);
        lan.Exec("ip", "link", "set", Tap, "master", "br0");
        lan.Exec("ip", "link", "set", Tap, "up");
        // The stack answers once its addresses passed duplicate address detection (link-local too: MLD reports come from it).
        Assert.Contains("1 received", host.Exec("ping", "-c", "1", "-w", "20", "10.77.20.2"));
        Assert.Contains("1 received", KernelPing.UntilAnswered(host, "fd77:20::2", count: 1));

        await using UdpSocket socket4 = await UdpSocket.BindAsync(stack, new NetEndpoint(NetAddress.AnyV4, Port));
        await using UdpSocket socket6 = await UdpSocket.BindAsync(stack, new NetEndpoint(NetAddress.AnyV6, Port));
        await socket4.JoinGroupAsync(Group4);
        await socket6.JoinGroupAsync(Group6);

        // The bridge's snooping read our IGMP and MLD reports: both groups are in its database on the TAP port.
        string mdb = await WaitForAsync(() => lan.Exec("bridge", "mdb", "show", "dev", "br0"),
            text => HasEntry(text, Group4) && HasEntry(text, Group6));
        Assert.True(HasEntry(mdb, Group4) && HasEntry(mdb, Group6), mdb);

        int ifindex = int.Parse(host.Exec("cat", "/sys/class/net/veth1/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using Socket kernel4 = host.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        using Socket kernel6 = host.Run(() => new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp));
        kernel6.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, ifindex);
        Datagram got4 = await SendUntilReceivedAsync(kernel4, new IPEndPoint(Group4, Port), "to the v4 group", socket4);
        Datagram got6 = await SendUntilReceivedAsync(kernel6, new IPEndPoint(Group6, Port), "to the v6 group", socket6);
        Assert.Equal((NetAddress.Parse("10.77.20.1"), new NetEndpoint(Group4, Port)), (got4.Source.Address, got4.Destination));
        Assert.Equal(new NetEndpoint(Group6, Port), got6.Destination);
        Assert.Equal(0, stack.GetStats().Drops.GetValueOrDefault(Diagnostics.DropReason.IgmpMalformed));
        Assert.Equal(0, stack.GetStats().Drops.GetValueOrDefault(Diagnostics.DropReason.MldMalformed));

        // Closing the socket leaves: the bridge drops the group from the TAP port.
        await socket4.DisposeAsync();
        mdb = await WaitForAsync(() => lan.Exec("bridge", "mdb", "show", "dev", "br0"), text => !HasEntry(text, Group4));
        Assert.False(HasEntry(mdb, Group4), mdb);
    }

    /// <summary>A line of `bridge mdb show` for <paramref name="group"/> on the TAP port.</summary>
    private static bool HasEntry(string mdb, IPAddress group) =>
        mdb.Split('\n').Any(line => line.Contains($"port {Tap} ", StringComparison.Ordinal) && line.Contains($"grp {group} ", StringComparison.Ordinal));

    /// <summary>Reads <paramref name="read"/> until <paramref name="done"/> holds or the patience runs out; returns the last reading.</summary>
    private static async Task<string> WaitForAsync(Func<string> read, Func<string, bool> done)
    {
        var clock = Stopwatch.StartNew();
        string text = read();
        while (!done(text) && clock.Elapsed < Patience)
        {
            await Task.Delay(100);
            text = read();
        }
        return text;
    }

    /// <summary>The kernel host sends to the group a few times a second (UDP may be lost while the bridge learns) until the
    /// stack's socket has one, within the patience.</summary>
    private static async Task<Datagram> SendUntilReceivedAsync(Socket kernel, IPEndPoint group, string text, UdpSocket receiver)
    {
        using var deadline = new CancellationTokenSource(Patience);
        Task<Datagram> receive = receiver.ReceiveAsync(cancellationToken: deadline.Token);
        byte[] data = System.Text.Encoding.ASCII.GetBytes(text);
        for (int i = 0; i < 100 && !receive.IsCompleted; i++)
        {
            kernel.SendTo(data, group);
            await Task.WhenAny(receive, Task.Delay(250));
        }
        Datagram datagram = await receive;
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(datagram.Data.Span));
        return datagram;
    }
}
