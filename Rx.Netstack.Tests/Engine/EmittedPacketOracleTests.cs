using System.Reactive.Linq;
using PacketDotNet;
using PacketDotNet.Utils;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// Everything a stack puts on the wire in a realistic session — UDP, echo requests and replies, ICMP errors, a TCP
/// connection's whole life, IPv4 and IPv6 fragments — is read by PacketDotNet, an independent parser, which must agree that
/// every header is well formed and every checksum valid.
/// </summary>
public sealed class EmittedPacketOracleTests
{
    [Fact]
    public void PacketDotNet_accepts_every_packet_the_engine_emits()
    {
        var scheduler = new Microsoft.Reactive.Testing.TestScheduler();
        var (left, right) = PipeDevice.CreatePair(1280);
        using var capture = new CaptureDevice(left, scheduler);
        var frames = new List<byte[]>();
        using var tap = capture.Frames.Where(f => f.Direction == CaptureDirection.Out).Subscribe(f => frames.Add(f.Data));
        using var a = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [new(StackPair.A4, 24), new(StackPair.A6, 64)], UdpSendBufferSize = 4000 }, scheduler);
        using var b = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [new(StackPair.B4, 24), new(StackPair.B6, 64)] }, scheduler);
        a.Attach(capture);
        b.Attach(right);

        foreach (bool v6 in new[] { false, true })
        {
            NetAddress to = v6 ? StackPair.B6 : StackPair.B4;
            var udp = scheduler.Await(UdpSocket.BindAsync(a, new NetEndpoint(v6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 0)));
            scheduler.Await(udp.SendAsync(new byte[100], new NetEndpoint(to, 9)));   // B answers: port unreachable
            scheduler.Await(udp.SendAsync(new byte[3000], new NetEndpoint(to, 9)));  // fragments
            scheduler.Await(a.Ping(to, 2000));                                        // fragmented echo request
            scheduler.Await(b.Ping(v6 ? StackPair.A6 : StackPair.A4, 64));            // A sends an echo reply
            var listener = scheduler.Await(TcpConnectionListener.ListenAsync(b, new NetEndpoint(to, 80)));
            var accept = listener.AcceptAsync();
            var client = scheduler.Await(TcpConnection.ConnectAsync(a, new NetEndpoint(to, 80)));
            var server = scheduler.Await(accept);
            scheduler.Await(client.SendAsync(new byte[5000]));
            scheduler.Await(server.ReadAsync(new byte[8000]).AsTask());
            scheduler.Await(client.CloseAsync());
            scheduler.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        }

        Assert.True(frames.Count > 20, $"only {frames.Count} frames captured");
        var seen = new HashSet<string>();
        foreach (byte[] frame in frames)
        {
            IPPacket ip = (frame[0] >> 4) == 4 ? new IPv4Packet(new ByteArraySegment(frame)) : new IPv6Packet(new ByteArraySegment(frame));
            Assert.Equal(frame.Length, ip.TotalLength);
            if (ip is IPv4Packet v4)
            {
                Assert.True(v4.ValidIPChecksum, "IPv4 header checksum");
                if ((v4.FragmentFlags & 1) != 0 || v4.FragmentOffset != 0) { seen.Add("ipv4-fragment"); continue; }
            }
            if (ip is IPv6Packet && frame[6] == 44) { seen.Add("ipv6-fragment"); continue; }
            switch (ip.PayloadPacket)
            {
                case TcpPacket tcp:
                    Assert.True(tcp.ValidTcpChecksum, "TCP checksum");
                    seen.Add($"tcp{frame[0] >> 4}:{(tcp.Synchronize ? "syn" : tcp.Finished ? "fin" : tcp.PayloadData?.Length > 0 ? "data" : "ack")}");
                    break;
                case UdpPacket u:
                    Assert.True(u.ValidUdpChecksum, "UDP checksum");
                    seen.Add($"udp{frame[0] >> 4}");
                    break;
                case IcmpV4Packet icmp:
                    Assert.True(icmp.ValidIcmpChecksum, "ICMPv4 checksum");
                    seen.Add($"icmp4:{icmp.TypeCode}");
                    break;
                case IcmpV6Packet icmp6:
                    // PacketDotNet has no ICMPv6 checksum check: verify with the pseudo-header ourselves.
                    var src = NetAddress.FromIPAddress(ip.SourceAddress);
                    var dst = NetAddress.FromIPAddress(ip.DestinationAddress);
                    byte[] message = frame[40..];
                    Assert.True(Rx.Netstack.Wire.Checksum.Verify(message, Rx.Netstack.Wire.Checksum.PseudoHeader(src, dst, Rx.Netstack.Wire.IpProtocol.IcmpV6, message.Length)), "ICMPv6 checksum");
                    seen.Add($"icmp6:{icmp6.Type}");
                    break;
                default:
                    Assert.Fail($"unexpected packet {ip}");
                    break;
            }
        }
        foreach (string expected in new[] { "udp4", "udp6", "ipv4-fragment", "ipv6-fragment", "tcp4:syn", "tcp4:data", "tcp4:fin", "tcp4:ack",
                     "tcp6:syn", "tcp6:data", "tcp6:fin", "icmp4:EchoReply", "icmp6:EchoReply" })
            Assert.Contains(expected, seen);
    }
}
