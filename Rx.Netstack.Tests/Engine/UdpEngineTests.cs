using System.Reactive.Linq;
using System.Text;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

public sealed class UdpEngineTests
{
    private static Reply Run(TestScheduler s, Netstack stack, Command c) => s.Await(stack.Execute(c));

    private static T Expect<T>(Reply reply) where T : Reply => Assert.IsType<T>(reply);

    private static NetstackError ExpectError(Reply reply, NetstackErrorKind kind)
    {
        var error = Assert.IsType<Reply.Error>(reply).Detail;
        Assert.Equal(kind, error.Kind);
        return error;
    }

    [Theory]
    [InlineData(false, NetstackOptions.MaxUdpPayloadV4)]
    [InlineData(true, NetstackOptions.MaxUdpPayloadV6)]
    public void Default_options_carry_the_largest_udp_datagram_of_each_family_across_an_mtu_1500_link(bool v6, int size)
    {
        using var pair = new StackPair(mtu: 1500, configure: o => o with { RunContinuationsInline = true });
        var s = pair.Scheduler;
        var receiver = s.Await(pair.B.BindUdpAsync(7, v6));
        var sender = s.Await(pair.A.BindUdpAsync(0, v6));
        byte[] data = new byte[size];
        new Random(size).NextBytes(data);
        Task<Datagram> received = receiver.ReceiveAsync();
        s.Await(sender.SendAsync(data, new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, 7)));
        Assert.Equal(data, s.Await(received).Data.ToArray());
        Assert.True(pair.B.GetStats().DatagramsReassembled >= 1); // it crossed the link as fragments
        var tooLarge = Assert.Throws<NetstackException>(() => s.Await(sender.SendAsync(new byte[size + 1], new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, 7))));
        Assert.Equal(BadRequestReason.MessageTooLarge, tooLarge.Error.Reason);
        Assert.Contains($"({size} bytes)", tooLarge.Message);
    }

    [Fact]
    public void Compact_options_keep_the_seeds_4_KiB_datagram_limit_and_say_which_option_raises_it()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(NetstackOptions.Compact with { RunContinuationsInline = true, Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, s);
        var bound = Expect<Reply.Bound>(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("10.0.0.1:53"))));
        Expect<Reply.Sent>(Run(s, stack, new Command.Udp.Send(bound.Socket, NetEndpoint.Parse("10.0.0.2:53"), new byte[4096])));
        var error = ExpectError(Run(s, stack, new Command.Udp.Send(bound.Socket, NetEndpoint.Parse("10.0.0.2:53"), new byte[4097])), NetstackErrorKind.BadRequest);
        Assert.Equal(BadRequestReason.MessageTooLarge, error.Reason);
        Assert.Contains("NetstackOptions.UdpSendBufferSize", error.Message);
    }

    [Fact]
    public void Seed_example_bind_loopback_and_send_leaves_a_33_byte_ipv4_packet_ending_with_hello()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        var bound = Expect<Reply.Bound>(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:1000"))));
        Assert.Equal(NetEndpoint.Parse("127.0.0.1:1000"), bound.Local);
        Expect<Reply.Sent>(Run(s, stack, new Command.Udp.Send(bound.Socket, NetEndpoint.Parse("1.2.3.4:80"), Encoding.ASCII.GetBytes("hello"))));

        byte[] packet = Assert.Single(device.Sent);
        Assert.Equal(20 + 8 + 5, packet.Length);
        Assert.Equal(4, packet[0] >> 4);
        Assert.True(packet.AsSpan().EndsWith("hello"u8));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Udp_between_two_piped_stacks_runs_a_linq_query_over_datagrams(bool v6)
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var a = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(v6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 0)));
        var b = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, 7000)));
        Assert.InRange(a.Local.Port, 49152, 65535);

        var lengths = new List<int>();
        using var query = b.Received.Where(d => d.Data.Length % 2 == 0).Select(d => d.Data.Length).Subscribe(lengths.Add);
        s.AdvanceBy(1);
        for (int i = 1; i <= 6; i++)
            s.Await(a.SendAsync(new byte[i], new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, 7000)));
        s.RunUntil(() => lengths.Count == 3);
        Assert.Equal([2, 4, 6], lengths);
    }

    [Fact]
    public void Received_datagram_carries_source_and_destination()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var a = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(StackPair.A4, 5000)));
        var b = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(NetAddress.AnyV4, 6000)));
        var receive = b.ReceiveAsync();
        s.Await(a.SendAsync("ping"u8.ToArray(), new NetEndpoint(StackPair.B4, 6000)));
        Datagram d = s.Await(receive);
        Assert.Equal(new NetEndpoint(StackPair.A4, 5000), d.Source);
        Assert.Equal(new NetEndpoint(StackPair.B4, 6000), d.Destination);
        Assert.Equal("ping"u8.ToArray(), d.Data.ToArray());
        Assert.False(d.Truncated);
    }

    [Fact]
    public void Receive_with_max_length_truncates_and_reports_the_original_length()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var a = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(StackPair.A4, 5000)));
        var b = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(StackPair.B4, 6000)));
        s.Await(a.SendAsync(new byte[100], new NetEndpoint(StackPair.B4, 6000)));
        Datagram d = s.Await(b.ReceiveAsync(maxLength: 10));
        Assert.True(d.Truncated);
        Assert.Equal(10, d.Data.Length);
        Assert.Equal(100, d.OriginalLength);
    }

    [Fact]
    public void Typed_errors_for_bad_requests()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, s);
        using var other = new Netstack(new NetstackOptions { RunContinuationsInline = true }, s);
        var bound = Expect<Reply.Bound>(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("10.0.0.1:53"))));

        Assert.Equal(BadRequestReason.PortInUse, ExpectError(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("10.0.0.1:53"))), NetstackErrorKind.BadRequest).Reason);
        Assert.Equal(BadRequestReason.PortInUse, ExpectError(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("0.0.0.0:53"))), NetstackErrorKind.BadRequest).Reason);
        Assert.Equal(BadRequestReason.Unaddressable, ExpectError(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("10.9.9.9:1"))), NetstackErrorKind.BadRequest).Reason);
        Assert.Equal(BadRequestReason.WrongIpVersion, ExpectError(Run(s, stack, new Command.Udp.Send(bound.Socket, NetEndpoint.Parse("[fd00::9]:53"), new byte[1])), NetstackErrorKind.BadRequest).Reason);
        Assert.Equal(BadRequestReason.MessageTooLarge, ExpectError(Run(s, stack, new Command.Udp.Send(bound.Socket, NetEndpoint.Parse("10.0.0.2:53"), new byte[NetstackOptions.MaxUdpPayloadV4 + 1])), NetstackErrorKind.BadRequest).Reason);
        Assert.Equal(BadRequestReason.ZeroSizeBuffer, ExpectError(Run(s, stack, new Command.Udp.Receive(bound.Socket, 0)), NetstackErrorKind.BadRequest).Reason);

        // A handle from another stack, and a handle to a closed socket.
        var foreign = Expect<Reply.Bound>(Run(s, other, new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:9"))));
        ExpectError(Run(s, stack, new Command.Udp.Send(foreign.Socket, NetEndpoint.Parse("10.0.0.2:53"), new byte[1])), NetstackErrorKind.InvalidHandle);
        Expect<Reply.Ok>(Run(s, stack, new Command.Udp.Close(bound.Socket)));
        ExpectError(Run(s, stack, new Command.Udp.Send(bound.Socket, NetEndpoint.Parse("10.0.0.2:53"), new byte[1])), NetstackErrorKind.StaleHandle);
        // The endpoint is free again, and the new socket does not answer to the old handle.
        var again = Expect<Reply.Bound>(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("10.0.0.1:53"))));
        Assert.NotEqual(bound.Socket, again.Socket);
    }

    [Fact]
    public void Closing_a_socket_fails_its_waiting_receive()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true }, s);
        var bound = Expect<Reply.Bound>(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:7"))));
        Reply? waiting = null;
        stack.Execute(new Command.Udp.Receive(bound.Socket)).Subscribe(r => waiting = r);
        s.AdvanceBy(10);
        Assert.Null(waiting);
        Expect<Reply.Ok>(Run(s, stack, new Command.Udp.Close(bound.Socket)));
        ExpectError(waiting!, NetstackErrorKind.SocketClosed);
    }

    [Fact]
    public void Cancelled_receive_leaves_its_wait_queue_and_the_datagram_is_buffered_for_the_next()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var a = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(StackPair.A4, 5000)));
        var b = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(StackPair.B4, 6000)));
        Reply? first = null;
        var subscription = pair.B.Execute(new Command.Udp.Receive(b.Handle)).Subscribe(r => first = r);
        s.AdvanceBy(10);
        subscription.Dispose();
        s.Await(a.SendAsync("x"u8.ToArray(), new NetEndpoint(StackPair.B4, 6000)));
        s.AdvanceBy(10);
        Assert.Null(first);
        Assert.Equal("x"u8.ToArray(), s.Await(b.ReceiveAsync()).Data.ToArray());
    }

    [Fact]
    public void Udp_to_a_closed_port_gets_port_unreachable_and_is_counted()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        var raw = Expect<Reply.RawOpened>(Run(s, pair.A, new Command.Raw.Open(4, IpProtocol.Icmp)));
        var a = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(StackPair.A4, 5000)));
        s.Await(a.SendAsync("x"u8.ToArray(), new NetEndpoint(StackPair.B4, 9999)));
        var icmp = Expect<Reply.RawPacket>(Run(s, pair.A, new Command.Raw.Receive(raw.Socket)));
        byte[] packet = icmp.Packet.ToArray();
        Assert.Equal((byte)IcmpV4Type.DestinationUnreachable, packet[20]);
        Assert.Equal(3, packet[21]); // port unreachable
        Assert.Equal(1, pair.B.GetStats().Drops[DropReason.UdpNoSocket]);
    }

    [Fact]
    public void Bad_udp_checksum_is_a_counted_drop()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [InterfaceAddress.Parse("10.0.0.2/24")] }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("10.0.0.2:53")));
        byte[] packet = Devices.TestPackets.Udp4(System.Net.IPAddress.Parse("10.0.0.1"), 1000, System.Net.IPAddress.Parse("10.0.0.2"), 53, "abc"u8);
        packet[^1] ^= 0xFF;
        device.Inject(packet);
        s.AdvanceBy(10);
        Assert.Equal(1, stack.GetStats().Drops[DropReason.UdpMalformed]);
    }

    [Fact]
    public void Full_command_queue_refuses_with_a_typed_error()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, CommandQueueCapacity = 1, CommandQueueLimit = 2 }, s);
        var replies = new List<Reply>();
        for (int i = 0; i < 3; i++) stack.Execute(new Command.Udp.Bind(new NetEndpoint(NetAddress.LoopbackV4, (ushort)(100 + i)))).Subscribe(replies.Add);
        ExpectError(Assert.Single(replies), NetstackErrorKind.CommandQueueFull);
        s.AdvanceBy(10);
        Assert.Equal(3, replies.Count);
    }

    [Fact]
    public void Disposing_the_stack_completes_pending_requests_with_stack_disposed()
    {
        var s = new TestScheduler();
        var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true }, s);
        var bound = Expect<Reply.Bound>(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:7"))));
        Reply? waiting = null, queued = null;
        stack.Execute(new Command.Udp.Receive(bound.Socket)).Subscribe(r => waiting = r);
        s.AdvanceBy(10);
        stack.Execute(new Command.Udp.Receive(bound.Socket)).Subscribe(r => queued = r); // not yet taken by the engine
        stack.Dispose();
        ExpectError(waiting!, NetstackErrorKind.StackDisposed);
        ExpectError(queued!, NetstackErrorKind.StackDisposed);
        ExpectError(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:8"))), NetstackErrorKind.StackDisposed);
    }

    [Fact]
    public void Subscriber_that_throws_hurts_only_itself()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true }, s);
        stack.Execute(new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:7"))).Subscribe(_ => throw new InvalidOperationException("boom"));
        s.AdvanceBy(10);
        Assert.Equal(1, stack.GetStats().SubscriberFaults);
        Expect<Reply.Bound>(Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:8"))));
    }

    [Fact]
    public void Tap_shows_requests_and_replies_with_their_correlation_ids()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true }, s);
        var events = new List<CommandEvent>();
        using var tap = stack.Tap.Subscribe(events.Add);
        Run(s, stack, new Command.Udp.Bind(NetEndpoint.Parse("127.0.0.1:7")));
        Assert.Collection(events,
            e => Assert.IsType<CommandEvent.Taken>(e),
            e => Assert.IsType<Reply.Bound>(Assert.IsType<CommandEvent.Replied>(e).Reply));
        Assert.Equal(events[0].Id, events[1].Id);
    }
}
