using System.Buffers.Binary;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// UDP and TCP reach their sockets through IPv6 extension header chains (RFC 8200 §4): hop-by-hop options, destination
/// options, a routing header with no segments left (processed as if absent, §4.4), and fragment headers — an atomic
/// fragment (RFC 6946) and a real split with headers before it. Packets are built by hand and sent into stack B.
/// </summary>
public sealed class Ipv6ExtensionHeaderTests : IDisposable
{
    private const byte HopByHop = 0, Routing = 43, Fragment = 44, DestinationOptions = 60;
    private static readonly NetAddress Peer = NetAddress.Parse("fd00::7"); // B answers into the pipe; A drops it as not its own
    private readonly StackPair _pair = new();

    public void Dispose() => _pair.Dispose();

    /// <summary>Eight bytes of options: a PadN that fills them (RFC 8200 §4.2).</summary>
    private static byte[] Options() => [0, 0, 1, 4, 0, 0, 0, 0];

    /// <summary>A routing header of an unknown type with segments left 0: ignored, the next header processed (§4.4).</summary>
    private static byte[] RoutingHeader() => [0, 0, 253, 0, 0, 0, 0, 0];

    /// <summary>A fragment header: offset in bytes, more-fragments flag, identification.</summary>
    private static byte[] FragmentHeader(int offset, bool more, uint id)
    {
        byte[] h = new byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), (ushort)(offset | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), id);
        return h;
    }

    /// <summary>An IPv6 packet Peer → B whose extension headers are <paramref name="chain"/>, then <paramref name="upper"/>.</summary>
    private static byte[] Packet(List<(byte Type, byte[] Header)> chain, byte upperProtocol, ReadOnlySpan<byte> upper)
    {
        int length = 40 + chain.Sum(c => c.Header.Length) + upper.Length;
        byte[] packet = new byte[length];
        Ipv6Header.Emit(packet, new Ipv6Header(Peer, StackPair.B6, (IpProtocol)(chain.Count > 0 ? chain[0].Type : upperProtocol)), length - 40);
        int at = 40;
        for (int i = 0; i < chain.Count; i++)
        {
            chain[i].Header.CopyTo(packet, at);
            packet[at] = i + 1 < chain.Count ? chain[i + 1].Type : upperProtocol;
            at += chain[i].Header.Length;
        }
        upper.CopyTo(packet.AsSpan(at));
        return packet;
    }

    private static byte[] Udp(byte[] payload, ushort sourcePort, ushort destinationPort)
    {
        byte[] datagram = new byte[UdpHeader.HeaderLength + payload.Length];
        payload.CopyTo(datagram, UdpHeader.HeaderLength);
        UdpHeader.Emit(datagram, new UdpHeader(sourcePort, destinationPort), payload.Length, Peer, StackPair.B6);
        return datagram;
    }

    private void Inject(byte[] packet)
    {
        _pair.DeviceA.Transmit.OnNext(packet);
        _pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
    }

    public static TheoryData<string> Chains => ["hop-by-hop", "destination options", "routing, segments left 0", "atomic fragment", "all of them"];

    private static List<(byte, byte[])> Chain(string name) => name switch
    {
        "hop-by-hop" => [(HopByHop, Options())],
        "destination options" => [(DestinationOptions, Options())],
        "routing, segments left 0" => [(Routing, RoutingHeader())],
        "atomic fragment" => [(Fragment, FragmentHeader(0, more: false, id: 77))],
        _ => [(HopByHop, Options()), (DestinationOptions, Options()), (Routing, RoutingHeader()), (Fragment, FragmentHeader(0, false, 78)), (DestinationOptions, Options())],
    };

    [Theory]
    [MemberData(nameof(Chains))]
    public void A_udp_datagram_behind_an_extension_header_chain_reaches_its_socket(string chain)
    {
        UdpSocket socket = _pair.Scheduler.Await(UdpSocket.BindAsync(_pair.B, new NetEndpoint(NetAddress.AnyV6, 5353)));
        Task<Datagram> received = socket.ReceiveAsync();
        byte[] payload = RoutedPair.Pattern(300, 1);
        Inject(Packet(Chain(chain), (byte)IpProtocol.Udp, Udp(payload, 1111, 5353)));
        Datagram datagram = _pair.Scheduler.Await(received);
        Assert.Equal(payload, datagram.Data.ToArray());
        Assert.Equal(new NetEndpoint(Peer, 1111), datagram.Source);
    }

    [Theory]
    [MemberData(nameof(Chains))]
    public void A_tcp_connection_whose_segments_carry_an_extension_header_chain_completes_and_delivers(string chain)
    {
        var fromB = new List<TcpHeader>();
        using IDisposable capture = _pair.DeviceA.Received.Subscribe(frame =>
        {
            if (Forge.TryReadTcp(frame.ToArray(), out _, out NetAddress destination, out TcpHeader h, out _) && destination == Peer) fromB.Add(h);
        });
        TcpConnectionListener listener = _pair.Scheduler.Await(_pair.B.ListenTcpAsync(80, ipv6: true));
        Task<TcpConnection> accept = listener.AcceptAsync();
        uint id = 100;
        void Send(TcpHeader header, byte[]? payload = null)
        {
            List<(byte, byte[])> headers = Chain(chain);
            for (int i = 0; i < headers.Count; i++)
                if (headers[i].Item1 == Fragment) headers[i] = (Fragment, FragmentHeader(0, false, id++));
            Inject(Packet(headers, (byte)IpProtocol.Tcp, Forge.TcpSegment(Peer, StackPair.B6, header, payload)));
        }

        Send(new TcpHeader(4000, 80, TcpFlags.Syn) { Sequence = new SeqNumber(1), Window = 65535, MaxSegmentSize = 1440 });
        TcpHeader synAck = Assert.Single(fromB);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Send(new TcpHeader(4000, 80, TcpFlags.Ack) { Sequence = new SeqNumber(2), Acknowledgment = synAck.Sequence + 1, Window = 65535 });
        byte[] data = RoutedPair.Pattern(1000, 2);
        Send(new TcpHeader(4000, 80, TcpFlags.Ack | TcpFlags.Psh) { Sequence = new SeqNumber(2), Acknowledgment = synAck.Sequence + 1, Window = 65535 }, data);
        TcpConnection connection = _pair.Scheduler.Await(accept);
        Assert.Equal(data, _pair.ReadExactly(connection, data.Length));
    }

    [Fact]
    public void A_udp_datagram_in_two_fragments_after_hop_by_hop_and_routing_headers_is_reassembled()
    {
        UdpSocket socket = _pair.Scheduler.Await(UdpSocket.BindAsync(_pair.B, new NetEndpoint(NetAddress.AnyV6, 5353)));
        Task<Datagram> received = socket.ReceiveAsync();
        byte[] payload = RoutedPair.Pattern(2000, 3);
        byte[] datagram = Udp(payload, 1111, 5353);
        // The fragmentable part: destination options, then the UDP datagram, cut at a multiple of 8.
        byte[] fragmentable = [.. Options(), .. datagram];
        fragmentable[0] = (byte)IpProtocol.Udp;
        int cut = 1200; // the first fragment fits the 1500-byte link
        byte[] first = Packet([(HopByHop, Options()), (Routing, RoutingHeader()), (Fragment, FragmentHeader(0, more: true, id: 9))],
            DestinationOptions, fragmentable.AsSpan(0, cut));
        byte[] second = Packet([(HopByHop, Options()), (Routing, RoutingHeader()), (Fragment, FragmentHeader(cut, more: false, id: 9))],
            DestinationOptions, fragmentable.AsSpan(cut));
        Inject(second); // out of order, too
        Inject(first);
        _pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(5).Ticks);
        Assert.True(received.IsCompleted, string.Join(", ", _pair.B.GetStats().Drops.Select(d => $"{d.Key} {d.Value}")) + $" reassembled {_pair.B.GetStats().DatagramsReassembled} fragments {_pair.B.GetStats().FragmentsIn} v6in {_pair.B.GetStats().Ipv6In}");
        Assert.Equal(payload, _pair.Scheduler.Await(received).Data.ToArray());
    }
}
