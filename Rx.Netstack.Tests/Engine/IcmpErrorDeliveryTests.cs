using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// ICMP errors reach the socket that sent the quoted packet (RFC 1122 §3.2.2, §4.1.3.3, §4.2.3.9), matched by the quoted
/// 4-tuple, and a TCP connection believes one only if it passes RFC 5927's checks; every rejected error is a counted drop.
/// </summary>
public sealed class IcmpErrorDeliveryTests
{
    private static long Drops(Netstack stack, DropReason reason) => stack.GetStats().Drops.GetValueOrDefault(reason);

    private static NetAddress A(bool v6) => v6 ? StackPair.A6 : StackPair.A4;
    private static NetAddress B(bool v6) => v6 ? StackPair.B6 : StackPair.B4;
    private static NetAddress Router(bool v6) => v6 ? MtuRouter.RouterV6 : MtuRouter.RouterV4;

    /// <summary>An ICMP error from the router to A quoting <paramref name="quoted"/> as a router does (IPv4: header + 8 bytes).</summary>
    private static byte[] IcmpToA(bool v6, byte type, byte code, byte[] quoted, uint mtu = 0) =>
        Forge.Icmp(Router(v6), A(v6), new IcmpHeader(type, code, Mtu: mtu), quoted.AsSpan(0, Math.Min(quoted.Length, v6 ? 1232 : 28)));

    private static byte[] HostUnreachable(bool v6, byte[] quoted) =>
        v6 ? IcmpToA(true, (byte)IcmpV6Type.DestinationUnreachable, 3, quoted) : IcmpToA(false, (byte)IcmpV4Type.DestinationUnreachable, 1, quoted);

    private static byte[] PortUnreachable(bool v6, byte[] quoted) =>
        v6 ? IcmpToA(true, (byte)IcmpV6Type.DestinationUnreachable, 4, quoted) : IcmpToA(false, (byte)IcmpV4Type.DestinationUnreachable, 3, quoted);

    private static byte[] PacketTooBig(bool v6, byte[] quoted, uint mtu) =>
        v6 ? IcmpToA(true, (byte)IcmpV6Type.PacketTooBig, 0, quoted, mtu) : IcmpToA(false, (byte)IcmpV4Type.DestinationUnreachable, 4, quoted, mtu);

    /// <summary>Runs virtual time until <paramref name="task"/> succeeded.</summary>
    private static void Done(Microsoft.Reactive.Testing.TestScheduler scheduler, Task task)
    {
        Assert.True(scheduler.RunUntil(() => task.IsCompleted), "the task did not complete");
        task.GetAwaiter().GetResult();
    }

    private static NetstackException Failure(Task task)
    {
        Assert.True(task.IsFaulted, $"the task is {task.Status}, not failed");
        return Assert.IsType<NetstackException>(task.Exception!.InnerException);
    }

    // ---------------------------------------------------------------- UDP

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Udp_port_unreachable_fails_the_waiting_receive_once_with_ConnectionRefused(bool v6)
    {
        using var pair = new StackPair();
        UdpSocket socket = pair.Scheduler.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(v6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 0)));
        var closed = new NetEndpoint(B(v6), 9);
        Task<Datagram> receive = socket.ReceiveAsync();
        Done(pair.Scheduler, socket.SendAsync(new byte[] { 1, 2, 3 }, closed));
        pair.Scheduler.RunUntil(() => receive.IsCompleted, TimeSpan.FromSeconds(1));

        NetstackException error = Failure(receive);
        Assert.Equal(NetstackErrorKind.ConnectionRefused, error.Kind);
        Assert.Equal(closed, error.Error.Remote);

        // Reported once (Linux clears sk_err as it reports it): the next receive waits for a datagram and gets it.
        Task<Datagram> next = socket.ReceiveAsync();
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
        Assert.False(next.IsCompleted);
        UdpSocket peer = pair.Scheduler.Await(UdpSocket.BindAsync(pair.B, closed));
        Done(pair.Scheduler, peer.SendAsync(new byte[] { 9 }, new NetEndpoint(A(v6), socket.Local.Port)));
        Assert.Equal(new byte[] { 9 }, pair.Scheduler.Await(next).Data.ToArray());
    }

    [Fact]
    public void A_pending_udp_error_fails_the_next_send_to_that_remote_only_and_only_once()
    {
        using var pair = new StackPair();
        UdpSocket socket = pair.Scheduler.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(NetAddress.AnyV4, 4000)));
        var closed = new NetEndpoint(StackPair.B4, 9);
        UdpSocket open = pair.Scheduler.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(StackPair.B4, 10)));
        Send(socket, closed);
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(5).Ticks);

        Send(socket, new NetEndpoint(StackPair.B4, 10)); // another remote: unaffected
        Task failed = socket.SendAsync(new byte[] { 1 }, closed);
        pair.Scheduler.RunUntil(() => failed.IsCompleted);
        Assert.Equal(NetstackErrorKind.ConnectionRefused, Failure(failed).Kind);
        Send(socket, closed); // reported once
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(2, pair.B.GetStats().Drops.GetValueOrDefault(DropReason.UdpNoSocket)); // the failed send sent nothing
        Assert.Equal(new byte[] { 1 }, pair.Scheduler.Await(open.ReceiveAsync()).Data.ToArray());

        void Send(UdpSocket from, NetEndpoint to)
        {
            Task sent = from.SendAsync(new byte[] { 1 }, to);
            pair.Scheduler.RunUntil(() => sent.IsCompleted);
            Assert.True(sent.IsCompletedSuccessfully);
        }
    }

    [Fact]
    public void The_received_stream_goes_on_after_an_icmp_error()
    {
        using var pair = new StackPair();
        UdpSocket socket = pair.Scheduler.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(NetAddress.AnyV4, 4000)));
        var datagrams = new List<Datagram>();
        Exception? failure = null;
        using IDisposable subscription = socket.Received.Subscribe(datagrams.Add, e => failure = e);
        var closed = new NetEndpoint(StackPair.B4, 9);
        Done(pair.Scheduler, socket.SendAsync(new byte[] { 1 }, closed));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(5).Ticks);
        Assert.Equal(1, pair.B.GetStats().IcmpOut);

        UdpSocket peer = pair.Scheduler.Await(UdpSocket.BindAsync(pair.B, closed));
        Done(pair.Scheduler, peer.SendAsync(new byte[] { 7 }, new NetEndpoint(StackPair.A4, 4000)));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(5).Ticks);
        Assert.Null(failure);
        Assert.Equal(new byte[] { 7 }, Assert.Single(datagrams).Data.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Udp_host_unreachable_from_a_router_is_reported_as_Unreachable(bool v6)
    {
        using var pair = new StackPair();
        UdpSocket socket = pair.Scheduler.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(A(v6), 4000)));
        var far = new NetEndpoint(v6 ? NetAddress.Parse("fd00:1::9") : NetAddress.Parse("192.0.2.9"), 53);
        byte[] udp = [0x0F, 0xA0, 0, 53, 0, 9, 0, 0, 42]; // 4000 → 53, length 9
        byte[] quoted = Forge.Ip(A(v6), far.Address, IpProtocol.Udp, udp);
        Task<Datagram> receive = socket.ReceiveAsync();
        pair.DeviceB.Transmit.OnNext(HostUnreachable(v6, quoted));
        pair.Scheduler.RunUntil(() => receive.IsCompleted, TimeSpan.FromSeconds(1));
        NetstackException error = Failure(receive);
        Assert.Equal(NetstackErrorKind.Unreachable, error.Kind);
        Assert.Equal(far, error.Error.Remote);

        // The same error about a port nobody has bound is a counted drop.
        udp[1] = 0xA1;
        long before = Drops(pair.A, DropReason.IcmpNoSocket);
        pair.DeviceB.Transmit.OnNext(HostUnreachable(v6, Forge.Ip(A(v6), far.Address, IpProtocol.Udp, udp)));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(before + 1, Drops(pair.A, DropReason.IcmpNoSocket));
    }

    // ---------------------------------------------------------------- TCP

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_connect_fails_at_once_on_host_unreachable_quoting_its_syn(bool v6)
    {
        using var pair = new RoutedPair(hopMtu: 1500);
        NetAddress nowhere = v6 ? NetAddress.Parse("fd00::3") : NetAddress.Parse("10.0.0.3");
        pair.Router.DropIf = p => (v6 ? NetAddress.ReadV6(p.AsSpan(24)) : NetAddress.ReadV4(p.AsSpan(16))) == nowhere;
        Task<TcpConnection> connect = pair.A.ConnectTcpAsync(new NetEndpoint(nowhere, 80));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        byte[] syn = Assert.Single(pair.Router.Dropped);

        // A forged error quoting another sequence number is not believed (RFC 5927 §4.1) …
        byte[] wrong = (byte[])syn.Clone();
        wrong[(v6 ? 40 : 20) + 4] ^= 0x80;
        pair.Router.InjectToA(HostUnreachable(v6, wrong));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.False(connect.IsCompleted);
        Assert.Equal(1, Drops(pair.A, DropReason.IcmpOutOfWindow));

        // … the router's own is, and the connect fails now with the reason rather than after two minutes of SYN retries.
        pair.Router.InjectToA(HostUnreachable(v6, syn));
        pair.Scheduler.RunUntil(() => connect.IsCompleted, TimeSpan.FromMilliseconds(100));
        Assert.Equal(NetstackErrorKind.Unreachable, Failure(connect).Kind);
        Assert.Single(pair.Router.Dropped); // no SYN retry went out
        Assert.Equal(1, pair.A.TcpCounters.IcmpErrorsAccepted);
    }

    /// <summary>A connection A → B whose next data segment from A the router holds back (returned for quoting).</summary>
    private static (TcpConnection Client, TcpConnection Server, byte[] Held) HeldSegment(RoutedPair pair, bool v6)
    {
        var (client, server) = pair.ConnectTcp(80, v6);
        bool hold = true;
        pair.Router.DropIf = p => hold && Forge.TryReadTcp(p, out NetAddress source, out _, out _, out int length) && source == A(v6) && length > 0;
        Task sent = client.SendAsync(RoutedPair.Pattern(1200, 1));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        byte[] held = Assert.Single(pair.Router.Dropped);
        hold = false;
        return (client, server, held);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Port_unreachable_on_an_established_connection_is_a_soft_error(bool v6)
    {
        using var pair = new RoutedPair(hopMtu: 1500);
        var (client, server, held) = HeldSegment(pair, v6);
        pair.Router.InjectToA(PortUnreachable(v6, held));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(1, pair.A.TcpCounters.IcmpErrorsAccepted);
        // RFC 1122 §4.2.3.9, RFC 5461: the connection goes on; the held segment is retransmitted and arrives.
        Assert.Equal(RoutedPair.Pattern(1200, 1), pair.ReadExactly(server, 1200));
        Assert.Equal(Rx.Netstack.Tcp.TcpState.Established, pair.Scheduler.Await(client.GetInfoAsync()).State);
    }

    public static TheoryData<string, bool> Rejected => new()
    {
        { "sequence beyond SND.MAX", false }, { "sequence beyond SND.MAX", true },
        { "sequence before SND.UNA", false }, { "sequence before SND.UNA", true },
        { "MTU not below the current", false }, { "MTU not below the current", true },
        { "IPv6 MTU below 1280", true },
        { "no such connection", false }, { "no such connection", true },
        { "a packet we did not send", false }, { "a packet we did not send", true },
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public void Icmp_errors_failing_rfc_5927_checks_are_counted_drops_that_change_nothing(string what, bool v6)
    {
        using var pair = new RoutedPair(hopMtu: 1500);
        var (client, server, held) = HeldSegment(pair, v6);
        int ip = v6 ? 40 : 20;
        int mssBefore = pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize;
        byte[] quote = (byte[])held.Clone();
        uint mtu = 1000 + (v6 ? 280u : 0);
        DropReason expected;
        switch (what)
        {
            case "sequence beyond SND.MAX":
                quote[ip + 4] ^= 0x40;
                expected = DropReason.IcmpOutOfWindow;
                break;
            case "sequence before SND.UNA":
                quote[ip + 7] -= 1;
                quote[ip + 6] -= 1; // 257 bytes before: acknowledged data (the handshake's ISN lies below)
                expected = DropReason.IcmpOutOfWindow;
                break;
            case "MTU not below the current":
                mtu = 1500;
                expected = DropReason.IcmpBadMtu;
                break;
            case "IPv6 MTU below 1280":
                mtu = 1200;
                expected = DropReason.IcmpBadMtu;
                break;
            case "no such connection":
                quote[ip] ^= 0x10; // our port
                expected = DropReason.IcmpNoSocket;
                break;
            default:
                (v6 ? NetAddress.Parse("fd00::77") : NetAddress.Parse("10.0.0.77")).WriteTo(quote.AsSpan(v6 ? 8 : 12));
                expected = DropReason.IcmpNoSocket;
                break;
        }
        long before = Drops(pair.A, expected);
        pair.Router.InjectToA(PacketTooBig(v6, quote, mtu));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);

        Assert.Equal(before + 1, Drops(pair.A, expected));
        Assert.Equal(0, pair.A.TcpCounters.IcmpErrorsAccepted);
        Assert.Equal(0, pair.A.PathMtuEntries);
        Assert.Equal(mssBefore, pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(RoutedPair.Pattern(1200, 1), pair.ReadExactly(server, 1200));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_valid_packet_too_big_for_a_held_segment_resends_it_smaller_at_once(bool v6)
    {
        using var pair = new RoutedPair(hopMtu: 1500);
        var (client, server, held) = HeldSegment(pair, v6);
        uint mtu = v6 ? 1280u : 1000u;
        pair.Router.InjectToA(PacketTooBig(v6, held, mtu));
        pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(1, pair.A.TcpCounters.IcmpErrorsAccepted);
        Assert.Equal(1, pair.A.PathMtuEntries);
        Assert.Equal((int)mtu - (v6 ? 40 : 20) - 32, pair.Scheduler.Await(client.GetInfoAsync()).MaxSegmentSize);
        Assert.Equal(RoutedPair.Pattern(1200, 1), pair.ReadExactly(server, 1200));
        Assert.Equal(0, pair.A.TcpCounters.Timeouts); // resent on the ICMP error, not after a timeout
        Assert.True(pair.Router.LargestFromA <= mtu);
    }
}
