using Microsoft.Reactive.Testing;
using Rx.Netstack.Link;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>
/// One stack on a hand-driven Ethernet device under a <see cref="TestScheduler"/>: the test plays the rest of the LAN,
/// injecting frames built with the wire emitters and reading what the stack sent, frame by frame (a transcript).
/// The stack is 10.0.0.1/24 with MAC <see cref="OurMac"/>; the peer is 10.0.0.2 at <see cref="PeerMac"/>.
/// </summary>
internal sealed class EthernetRig : IDisposable
{
    public static readonly MacAddress OurMac = MacAddress.Parse("02:00:00:00:00:01");
    public static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:02");
    public static readonly NetAddress Our4 = NetAddress.Parse("10.0.0.1"), Peer4 = NetAddress.Parse("10.0.0.2");
    public static readonly NetAddress Our6 = NetAddress.Parse("fd00::1"), Peer6 = NetAddress.Parse("fd00::2");

    /// <summary>An IPv4-only rig by default (no IPv6 link-local, DAD or router solicitation in the transcript).</summary>
    public EthernetRig(Func<NetstackOptions, NetstackOptions>? configure = null, bool attach = true)
    {
        var options = new NetstackOptions
        {
            Addresses = [new(Our4, 24)],
            RunContinuationsInline = true,
            RandomSeed = 7,
            Ethernet = new EthernetSettings { MacAddress = OurMac, Ipv6LinkLocal = false, RouterDiscovery = false },
        };
        Stack = new Netstack((configure ?? (o => o))(options), Scheduler);
        if (attach) Attach();
    }

    public TestScheduler Scheduler { get; } = new();
    public Netstack Stack { get; }
    public ManualDevice Device { get; } = new() { Medium = LinkMedium.Ethernet };

    public void Attach()
    {
        Stack.Attach(Device);
        Scheduler.AdvanceBy(1);
    }

    /// <summary>Milliseconds of virtual time now.</summary>
    public double NowMs => Scheduler.NowMs();

    /// <summary>Advances virtual time to <paramref name="ms"/> milliseconds.</summary>
    public void At(double ms) => Scheduler.AdvanceTo(TimeSpan.FromMilliseconds(ms).Ticks);

    /// <summary>Takes every frame sent since the last call, parsed.</summary>
    public List<(EthernetHeader Header, byte[] Payload)> TakeSent()
    {
        var frames = Device.Sent.Select(f =>
        {
            Assert.Equal(WireError.None, EthernetHeader.TryParse(f, out EthernetHeader h, out ReadOnlySpan<byte> payload));
            return (h, payload.ToArray());
        }).ToList();
        Device.Sent.Clear();
        return frames;
    }

    /// <summary>The one ARP packet sent since the last call (and nothing else).</summary>
    public (EthernetHeader Header, ArpPacket Arp) TakeArp()
    {
        var (header, payload) = Assert.Single(TakeSent());
        Assert.Equal(EtherType.Arp, header.EtherType);
        Assert.Equal(WireError.None, ArpPacket.TryParse(payload, out ArpPacket arp));
        return (header, arp);
    }

    public void Inject(EthernetHeader header, ReadOnlySpan<byte> payload)
    {
        byte[] frame = new byte[header.Length + payload.Length];
        EthernetHeader.Emit(frame, header);
        payload.CopyTo(frame.AsSpan(header.Length));
        Device.Inject(frame);
        Scheduler.AdvanceBy(1);
    }

    public void InjectArp(ArpPacket arp, MacAddress? destination = null)
    {
        byte[] packet = new byte[ArpPacket.PacketLength];
        ArpPacket.Emit(packet, arp);
        Inject(new EthernetHeader(destination ?? (arp.Operation == ArpOperation.Request ? MacAddress.Broadcast : OurMac), arp.SenderHardware, EtherType.Arp), packet);
    }

    /// <summary>The peer's ARP reply to a request of ours.</summary>
    public void ReplyArp(NetAddress peer, MacAddress peerMac) =>
        InjectArp(new ArpPacket(ArpOperation.Reply, peerMac, peer, OurMac, Our4));

    /// <summary>An IPv6 packet carrying an NDP message, from <paramref name="sourceMac"/>.</summary>
    public void InjectNdp(NetAddress source, NetAddress destination, NdpMessage message, MacAddress sourceMac, MacAddress? destinationMac = null, byte hopLimit = 255)
    {
        byte[] packet = new byte[Ipv6Header.HeaderLength + message.Length];
        int length = NdpMessage.Emit(packet.AsSpan(Ipv6Header.HeaderLength), message, source, destination);
        Ipv6Header.Emit(packet, new Ipv6Header(source, destination, IpProtocol.IcmpV6, hopLimit), length);
        Inject(new EthernetHeader(destinationMac ?? (destination.IsMulticast ? MacAddress.ForMulticast(destination) : OurMac), sourceMac, EtherType.Ipv6), packet);
    }

    /// <summary>Parses a frame's IPv6 NDP payload.</summary>
    public static (Ipv6Header Ip, NdpMessage Ndp) ParseNdp((EthernetHeader Header, byte[] Payload) frame)
    {
        Assert.Equal(EtherType.Ipv6, frame.Header.EtherType);
        Assert.Equal(WireError.None, Ipv6Header.TryParse(frame.Payload, out Ipv6Header ip, out _, out ReadOnlySpan<byte> message, out _));
        Assert.Equal(IpProtocol.IcmpV6, ip.Protocol);
        Assert.Equal(WireError.None, IcmpHeader.TryParseV6(message, ip.Source, ip.Destination, out _, out _));
        Assert.Equal(WireError.None, NdpMessage.TryParse(message, out NdpMessage ndp));
        Assert.Equal(255, ip.HopLimit);
        return (ip, ndp);
    }

    /// <summary>Sends a UDP datagram from the stack (port 1000 → 2000), returning when the engine took it.</summary>
    public void SendUdp(NetAddress destination, int size = 10)
    {
        UdpSocket socket = _socket ??= Scheduler.Await(UdpSocket.BindAsync(Stack, new NetEndpoint(destination.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 1000)));
        if (socket.Local.Address.IsV6 != destination.IsV6)
            socket = _socket = Scheduler.Await(UdpSocket.BindAsync(Stack, new NetEndpoint(destination.IsV6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 1001)));
        Scheduler.Await(socket.SendAsync(new byte[size], new NetEndpoint(destination, 2000)));
    }

    private UdpSocket? _socket;

    public long Drops(Diagnostics.DropReason reason) => Stack.GetStats().Drops.GetValueOrDefault(reason);

    public NeighborInfo? Neighbor(NetAddress address) => Stack.GetNeighbors().Where(n => n.Address == address).Cast<NeighborInfo?>().FirstOrDefault();

    public void Dispose()
    {
        Stack.Dispose();
        Device.Dispose();
    }
}
