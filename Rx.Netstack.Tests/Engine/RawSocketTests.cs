using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

public sealed class RawSocketTests
{
    private static Reply Run(TestScheduler s, Netstack stack, Command c) => s.Await(stack.Execute(c));

    /// <summary>An IPv4 packet of protocol 253 (experimental) with a payload, built with our emitter.</summary>
    private static byte[] Experimental(NetAddress from, NetAddress to, int payload)
    {
        byte[] packet = new byte[20 + payload];
        for (int i = 0; i < payload; i++) packet[20 + i] = (byte)i;
        Ipv4Header.Emit(packet, new Ipv4Header(from, to, (IpProtocol)253), payload);
        return packet;
    }

    [Fact]
    public void Raw_socket_sends_a_checked_packet_and_the_peer_raw_socket_receives_it_whole()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var sender = Assert.IsType<Reply.RawOpened>(Run(s, pair.A, new Command.Raw.Open(4, (IpProtocol)253)));
        var receiver = Assert.IsType<Reply.RawOpened>(Run(s, pair.B, new Command.Raw.Open(4, (IpProtocol)253)));
        byte[] packet = Experimental(StackPair.A4, StackPair.B4, 50);
        Assert.Equal(70, Assert.IsType<Reply.Sent>(Run(s, pair.A, new Command.Raw.Send(sender.Socket, packet))).Bytes);
        var got = Assert.IsType<Reply.RawPacket>(Run(s, pair.B, new Command.Raw.Receive(receiver.Socket)));
        Assert.Equal(packet, got.Packet.ToArray());
        Assert.False(got.Truncated);
    }

    [Fact]
    public void Raw_receive_truncates_to_the_requested_length()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var sender = Assert.IsType<Reply.RawOpened>(Run(s, pair.A, new Command.Raw.Open(4, (IpProtocol)253)));
        var receiver = Assert.IsType<Reply.RawOpened>(Run(s, pair.B, new Command.Raw.Open(4, (IpProtocol)253)));
        Run(s, pair.A, new Command.Raw.Send(sender.Socket, Experimental(StackPair.A4, StackPair.B4, 50)));
        var got = Assert.IsType<Reply.RawPacket>(Run(s, pair.B, new Command.Raw.Receive(receiver.Socket, 24)));
        Assert.True(got.Truncated);
        Assert.Equal(24, got.Packet.Length);
        Assert.Equal(70, got.OriginalLength);
    }

    [Fact]
    public void Raw_send_rejects_malformed_packets_with_reasons()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var raw = Assert.IsType<Reply.RawOpened>(Run(s, pair.A, new Command.Raw.Open(4, (IpProtocol)253)));
        NetstackError Error(byte[] p) => Assert.IsType<Reply.Error>(Run(s, pair.A, new Command.Raw.Send(raw.Socket, p))).Detail;

        byte[] good = Experimental(StackPair.A4, StackPair.B4, 10);
        byte[] v6 = (byte[])good.Clone(); v6[0] = 0x65;
        Assert.Equal(BadRequestReason.WrongIpVersion, Error(v6).Reason);
        byte[] badChecksum = (byte[])good.Clone(); badChecksum[10] ^= 1;
        Assert.Equal(BadRequestReason.MalformedPacket, Error(badChecksum).Reason);
        Assert.Equal(BadRequestReason.MalformedPacket, Error(good[..25]).Reason); // shorter than its total length
        byte[] otherProtocol = Experimental(StackPair.A4, StackPair.B4, 10);
        otherProtocol[9] = (byte)IpProtocol.Udp; // a valid packet, but not of the socket's protocol
        Assert.Equal(BadRequestReason.MalformedPacket, Error(Fix(otherProtocol)).Reason);
        Assert.Equal(BadRequestReason.MessageTooLarge, Error(new byte[5000]).Reason);
        Assert.Equal(BadRequestReason.WrongIpVersion, Assert.IsType<Reply.Error>(Run(s, pair.A, new Command.Raw.Open(5, IpProtocol.Udp))).Detail.Reason);
    }

    private static byte[] Fix(byte[] packet)
    {
        packet[10] = packet[11] = 0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), Checksum.Compute(packet.AsSpan(0, 20)));
        return packet;
    }

    [Fact]
    public void Unknown_protocol_without_a_raw_socket_gets_protocol_unreachable()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var sender = Assert.IsType<Reply.RawOpened>(Run(s, pair.A, new Command.Raw.Open(4, (IpProtocol)253)));
        var icmp = Assert.IsType<Reply.RawOpened>(Run(s, pair.A, new Command.Raw.Open(4, IpProtocol.Icmp)));
        Run(s, pair.A, new Command.Raw.Send(sender.Socket, Experimental(StackPair.A4, StackPair.B4, 8)));
        var got = Assert.IsType<Reply.RawPacket>(Run(s, pair.A, new Command.Raw.Receive(icmp.Socket)));
        Assert.Equal((byte)IcmpV4Type.DestinationUnreachable, got.Packet.Span[20]);
        Assert.Equal(2, got.Packet.Span[21]); // protocol unreachable
    }

    [Fact]
    public void Set_addresses_at_run_time_changes_what_the_stack_answers()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        Assert.Throws<NetstackException>(() => s.Await(Sockets.PingExtensions.Ping(pair.A, NetAddress.Parse("10.0.0.3"), 8, TimeSpan.FromMilliseconds(100))));
        Assert.IsType<Reply.Ok>(Run(s, pair.B, new Command.Stack.SetAddresses([InterfaceAddress.Parse("10.0.0.3/24")])));
        Assert.Equal(NetAddress.Parse("10.0.0.3"), s.Await(Sockets.PingExtensions.Ping(pair.A, NetAddress.Parse("10.0.0.3"))).From);
        Assert.IsType<Reply.Error>(Run(s, pair.B, new Command.Stack.SetAddresses([new(NetAddress.Parse("224.0.0.1"), 4)])));
    }
}
