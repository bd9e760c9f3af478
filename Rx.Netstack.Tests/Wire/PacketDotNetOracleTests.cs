using System.Buffers.Binary;
using CsCheck;
using PacketDotNet;
using PacketDotNet.Tcp;
using PacketDotNet.Utils;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;


/// <summary>PacketDotNet, an independent implementation, reads what we emit; and we read what it builds.</summary>
public class PacketDotNetOracleTests
{
    private static byte[] Ipv4Packet(Ipv4Header ip, byte[] transport) => Packets.Ipv4(ip, transport);

    [Fact]
    public void PacketDotNetReadsOurIpv4TcpWithOptions()
    {
        Gen.Select(WireGen.Ipv4, WireGen.Tcp, WireGen.Payload).Sample((ip, tcp, payload) =>
        {
            ip = ip with { Protocol = IpProtocol.Tcp, MoreFragments = false, FragmentOffset = 0 };
            tcp.Flags &= ~TcpFlags.Urg; // PacketDotNet refuses to read options when URG is set
            var bytes = Ipv4Packet(ip, Packets.Tcp(tcp, payload, ip.Source, ip.Destination));

            var theirs = new IPv4Packet(new ByteArraySegment(bytes));
            Assert.True(theirs.ValidIPChecksum);
            Assert.Equal(ip.Source.ToIPAddress(), theirs.SourceAddress);
            Assert.Equal(ip.Destination.ToIPAddress(), theirs.DestinationAddress);
            Assert.Equal(ip.TimeToLive, theirs.TimeToLive);
            Assert.Equal(ip.Identification, theirs.Id);
            Assert.Equal(ip.TypeOfService, theirs.TypeOfService);
            Assert.Equal(bytes.Length, theirs.TotalLength);
            Assert.Equal(ip.DontFragment ? 2 : 0, theirs.FragmentFlags);
            Assert.Equal(ProtocolType.Tcp, theirs.Protocol);

            var segment = Assert.IsType<TcpPacket>(theirs.PayloadPacket);
            Assert.True(segment.ValidTcpChecksum);
            AssertTcpMatches(tcp, payload, segment);
        }, iter: 300);
    }

    [Fact]
    public void PacketDotNetReadsOurIpv6TcpAndUdp()
    {
        Gen.Select(WireGen.Ipv6, WireGen.Tcp, WireGen.Udp, WireGen.Payload, Gen.Bool).Sample((ip, tcp, udp, payload, useTcp) =>
        {
            ip = ip with
            {
                Protocol = useTcp ? IpProtocol.Tcp : IpProtocol.Udp,
                HasFragmentHeader = false,
                FragmentOffset = 0,
                MoreFragments = false,
                FragmentIdentification = 0
            };
            tcp.Flags &= ~TcpFlags.Urg; // PacketDotNet refuses to read options when URG is set
            var transport = useTcp ? Packets.Tcp(tcp, payload, ip.Source, ip.Destination) : Packets.Udp(udp, payload, ip.Source, ip.Destination);
            var bytes = Packets.Ipv6(ip, transport);

            var theirs = new IPv6Packet(new ByteArraySegment(bytes));
            Assert.Equal(ip.Source.ToIPAddress(), theirs.SourceAddress);
            Assert.Equal(ip.Destination.ToIPAddress(), theirs.DestinationAddress);
            Assert.Equal(ip.HopLimit, theirs.HopLimit);
            Assert.Equal(ip.TrafficClass, theirs.TrafficClass);
            Assert.Equal((int)ip.FlowLabel, theirs.FlowLabel);
            Assert.Equal(transport.Length, theirs.PayloadLength);
            if (useTcp)
            {
                var segment = Assert.IsType<TcpPacket>(theirs.PayloadPacket);
                Assert.True(segment.ValidTcpChecksum);
                AssertTcpMatches(tcp, payload, segment);
            }
            else
            {
                var datagram = Assert.IsType<UdpPacket>(theirs.PayloadPacket);
                Assert.True(datagram.ValidUdpChecksum);
                Assert.Equal((udp.SourcePort, udp.DestinationPort, transport.Length), (datagram.SourcePort, datagram.DestinationPort, datagram.Length));
                // PacketDotNet decodes the payload of some well-known ports (DHCP, Wake-on-LAN, L2TP …) as a packet of its own,
                // leaving PayloadData null: a random port hit one of them once in a few hundred runs.
                Assert.Equal(payload, datagram.PayloadData ?? datagram.PayloadPacket?.Bytes ?? []);
            }
        }, iter: 300);
    }

    [Fact]
    public void PacketDotNetReadsOurIpv4UdpAndIcmpEcho()
    {
        Gen.Select(WireGen.Ipv4, WireGen.Udp, WireGen.Payload, Gen.UShort, Gen.UShort).Sample((ip, udp, payload, id, seq) =>
        {
            ip = ip with { Protocol = IpProtocol.Udp, MoreFragments = false, FragmentOffset = 0 };
            var theirs = new IPv4Packet(new ByteArraySegment(Ipv4Packet(ip, Packets.Udp(udp, payload, ip.Source, ip.Destination))));
            var datagram = Assert.IsType<UdpPacket>(theirs.PayloadPacket);
            Assert.True(datagram.ValidUdpChecksum);
            Assert.Equal((udp.SourcePort, udp.DestinationPort), (datagram.SourcePort, datagram.DestinationPort));

            ip = ip with { Protocol = IpProtocol.Icmp };
            theirs = new IPv4Packet(new ByteArraySegment(Ipv4Packet(ip, Packets.IcmpV4(new IcmpHeader(8, 0, id, seq), payload))));
            var echo = Assert.IsType<IcmpV4Packet>(theirs.PayloadPacket);
            Assert.True(echo.ValidIcmpChecksum);
            Assert.Equal(IcmpV4TypeCode.EchoRequest, echo.TypeCode);
            Assert.Equal((id, seq), (echo.Id, echo.Sequence));
        }, iter: 200);
    }

    [Fact]
    public void PacketDotNetReadsOurIcmpV6AndFragmentHeader()
    {
        Gen.Select(WireGen.Ipv6, WireGen.Payload, Gen.UShort, Gen.UShort).Sample((ip, payload, id, seq) =>
        {
            ip = ip with { Protocol = IpProtocol.IcmpV6, HasFragmentHeader = false };
            var message = Packets.IcmpV6(new IcmpHeader(128, 0, id, seq), payload, ip.Source, ip.Destination);
            var theirs = new IPv6Packet(new ByteArraySegment(Packets.Ipv6(ip, message)));
            var echo = Assert.IsType<IcmpV6Packet>(theirs.PayloadPacket);
            Assert.Equal(PacketDotNet.IcmpV6Type.EchoRequest, echo.Type);
            Assert.True(echo.ValidIcmpChecksum);
        }, iter: 200);

        var fragmented = new Ipv6Header(NetAddress.Parse("2001:db8::1"), NetAddress.Parse("2001:db8::2"), IpProtocol.Udp,
            HasFragmentHeader: true, FragmentOffset: 1480, MoreFragments: true, FragmentIdentification: 0x01020304);
        var packet = new IPv6Packet(new ByteArraySegment(Packets.Ipv6(fragmented, new byte[16])));
        Assert.Equal(ProtocolType.IPv6FragmentHeader, packet.NextHeader);
        var header = Assert.IsType<IPv6FragmentationExtensionHeader>(Assert.Single(packet.ExtensionHeaders));
        Assert.Equal(ProtocolType.Udp, header.NextHeader);
        Assert.True(header.More);
        Assert.Equal(1480 / 8, header.FragmentOffset);
    }

    private static void AssertTcpMatches(TcpHeader expected, byte[] payload, TcpPacket segment)
    {
        Assert.Equal(expected.SourcePort, segment.SourcePort);
        Assert.Equal(expected.DestinationPort, segment.DestinationPort);
        Assert.Equal(expected.Sequence.Value, segment.SequenceNumber);
        Assert.Equal(expected.Acknowledgment.Value, segment.AcknowledgmentNumber);
        Assert.Equal((byte)expected.Flags, (byte)segment.Flags);
        Assert.Equal(expected.Window, segment.WindowSize);
        Assert.Equal(expected.UrgentPointer, (ushort)segment.UrgentPointer); // PacketDotNet reads it signed
        Assert.Equal(expected.Length / 4, segment.DataOffset);
        Assert.Equal(payload, segment.PayloadData ?? segment.PayloadPacket?.Bytes ?? []); // see the UDP case above

        var options = (IEnumerable<TcpOption>?)segment.OptionsCollection ?? []; // null when there are none
        var mss = options.OfType<MaximumSegmentSizeOption>().SingleOrDefault();
        Assert.Equal(expected.MaxSegmentSize, mss?.Value ?? 0);
        var scale = options.OfType<WindowScaleFactorOption>().SingleOrDefault();
        Assert.Equal(expected.WindowScale, scale is null ? -1 : (sbyte)scale.ScaleFactor);
        Assert.Equal(expected.SackPermitted, options.OfType<SelectiveAcknowledgmentPermittedOption>().Any());
        var timestamps = options.OfType<TimeStampOption>().SingleOrDefault();
        Assert.Equal(expected.HasTimestamps, timestamps is not null);
        if (timestamps is not null) Assert.Equal((expected.TimestampValue, expected.TimestampEcho), (timestamps.Value, timestamps.EchoReply));
        var sack = options.OfType<SelectiveAcknowledgmentOption>().SingleOrDefault();
        int blocks = expected.SackBlocksEmitted;
        Assert.Equal(blocks > 0, sack is not null);
        if (sack is not null) Assert.Equal(2 + 8 * blocks, sack.Length);
    }

    // ---- the reverse: PacketDotNet builds, we parse ----

    [Fact]
    public void WeReadPacketDotNetsIpv4Tcp()
    {
        Gen.Select(WireGen.UnicastV4, WireGen.AnyV4, Gen.UShort, Gen.UShort, Gen.UInt, Gen.UInt, Gen.UShort, WireGen.Payload)
            .Sample((source, destination, sourcePort, destinationPort, seq, ack, window, payload) =>
            {
                // PacketDotNet cannot grow a header for options, so it gets a 28-byte header to fill in.
                byte[] buffer = [.. new byte[12], 7 << 4, .. new byte[7], 2, 4, 0x05, 0xB4, 1, 3, 3, 7, .. payload]; // MSS 1460, NOP, WS 7
                var tcp = new TcpPacket(new ByteArraySegment(buffer))
                {
                    SourcePort = sourcePort, DestinationPort = destinationPort,
                    SequenceNumber = seq, AcknowledgmentNumber = ack, WindowSize = window,
                    Synchronize = true, Acknowledgment = true,
                };
                var ip = new IPv4Packet(source.ToIPAddress(), destination.ToIPAddress()) { TimeToLive = 33, Id = 9, PayloadPacket = tcp };
                ip.UpdateCalculatedValues();
                tcp.UpdateTcpChecksum();
                ip.UpdateIPChecksum();

                Assert.Equal(WireError.None, Ipv4Header.TryParse(ip.Bytes, out var header, out _, out var ipPayload));
                Assert.Equal((source, destination, IpProtocol.Tcp, (byte)33, (ushort)9), (header.Source, header.Destination, header.Protocol,
                    header.TimeToLive, header.Identification));
                Assert.Equal(WireError.None, TcpHeader.TryParse(ipPayload, source, destination, out var ours, out var tcpPayload));
                Assert.Equal((sourcePort, destinationPort, seq, ack, window), (ours.SourcePort, ours.DestinationPort, ours.Sequence.Value,
                    ours.Acknowledgment.Value, ours.Window));
                Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, ours.Flags);
                Assert.Equal((ushort)1460, ours.MaxSegmentSize);
                Assert.Equal(7, ours.WindowScale);
                Assert.Equal(payload, tcpPayload.ToArray());
            }, iter: 200);
    }

    [Fact]
    public void WeReadPacketDotNetsIpv6Udp()
    {
        Gen.Select(WireGen.UnicastV6, WireGen.AnyV6, Gen.UShort, Gen.UShort[1, ushort.MaxValue], Gen.Byte, WireGen.Payload)
            .Sample((source, destination, sourcePort, destinationPort, hopLimit, payload) =>
            {
                var udp = new UdpPacket(sourcePort, destinationPort) { PayloadData = payload };
                var ip = new IPv6Packet(source.ToIPAddress(), destination.ToIPAddress()) { HopLimit = hopLimit, PayloadPacket = udp };
                ip.UpdateCalculatedValues();
                udp.UpdateUdpChecksum();

                Assert.Equal(WireError.None, Ipv6Header.TryParse(ip.Bytes, out var header, out _, out var ipPayload, out _));
                Assert.Equal((source, destination, IpProtocol.Udp, hopLimit), (header.Source, header.Destination, header.Protocol, header.HopLimit));
                Assert.Equal(WireError.None, UdpHeader.TryParse(ipPayload, source, destination, out var ours, out var udpPayload));
                Assert.Equal(new UdpHeader(sourcePort, destinationPort), ours);
                Assert.Equal(payload, udpPayload.ToArray());
            }, iter: 200);
    }

    [Fact]
    public void WeReadPacketDotNetsIcmpV4Echo()
    {
        Gen.Select(Gen.UShort, Gen.UShort, WireGen.Payload).Sample((id, seq, payload) =>
        {
            var bytes = new byte[8 + payload.Length];
            payload.CopyTo(bytes, 8);
            var echo = new IcmpV4Packet(new ByteArraySegment(bytes)) { TypeCode = IcmpV4TypeCode.EchoReply, Id = id, Sequence = seq };
            echo.UpdateIcmpChecksum();
            Assert.Equal(WireError.None, IcmpHeader.TryParseV4(echo.Bytes, out var header, out var body));
            Assert.Equal(new IcmpHeader(0, 0, id, seq), header);
            Assert.Equal(payload, body.ToArray());
        }, iter: 200);
    }

    [Fact]
    public void OurChecksumAgreesWithPacketDotNetsOnItsOwnPackets()
    {
        Gen.Select(WireGen.UnicastV4, WireGen.AnyV4, WireGen.Payload).Sample((source, destination, payload) =>
        {
            var udp = new UdpPacket(1, 2) { PayloadData = payload };
            var ip = new IPv4Packet(source.ToIPAddress(), destination.ToIPAddress()) { PayloadPacket = udp };
            ip.UpdateCalculatedValues();
            udp.UpdateUdpChecksum();
            var bytes = udp.Bytes;
            ushort theirs = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(6));
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(6), 0);
            ushort ours = Checksum.Finish(Checksum.Accumulate(bytes, Checksum.PseudoHeader(source, destination, IpProtocol.Udp, bytes.Length)));
            // A sum that comes out zero is sent as 0xFFFF (RFC 768); PacketDotNet writes 0x0000 instead. In one's complement
            // both are zero, so compare them as such: the rare sample with a zero sum failed CI by chance.
            static ushort OnesComplementZeroAsFfff(ushort sum) => sum == 0 ? (ushort)0xFFFF : sum;
            Assert.Equal(OnesComplementZeroAsFfff(theirs), OnesComplementZeroAsFfff(ours));
        }, iter: 200);
    }
}
