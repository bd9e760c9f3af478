using System.Buffers.Binary;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;


/// <summary>Every prefix of every header, flipped checksums and broken fields give the documented error, never an exception.</summary>
public class MalformedInputTests
{
    private static readonly NetAddress V4Source = NetAddress.Parse("192.0.2.1");
    private static readonly NetAddress V4Destination = NetAddress.Parse("198.51.100.7");
    private static readonly NetAddress V6Source = NetAddress.Parse("2001:db8::1");
    private static readonly NetAddress V6Destination = NetAddress.Parse("2001:db8::2");
    private static readonly byte[] Payload = [.. Enumerable.Range(1, 37).Select(i => (byte)(i * 7 + 3))];

    private static TcpHeader FullTcpHeader()
    {
        var header = new TcpHeader(5000, 80, TcpFlags.Ack)
        {
            Sequence = new SeqNumber(1), Acknowledgment = new SeqNumber(2), Window = 512,
            MaxSegmentSize = 1400, WindowScale = 3, HasTimestamps = true, TimestampValue = 9, TimestampEcho = 8
        };
        header.AddSackBlock(new SackBlock(new SeqNumber(10), new SeqNumber(20)));
        return header;
    }

    public delegate WireError Parser(byte[] bytes);

    public static TheoryData<string> Kinds() => ["ipv4", "ipv6", "ipv6-fragment", "udp4", "udp6", "tcp4", "tcp6", "icmp4", "icmp6"];

    /// <summary>The kinds with a checksum of their own.</summary>
    public static TheoryData<string> ChecksummedKinds() => ["ipv4", "udp4", "udp6", "tcp4", "tcp6", "icmp4", "icmp6"];

    /// <summary>The kinds with a checksum that covers their payload (IPv4's covers only its header).</summary>
    public static TheoryData<string> PayloadChecksummedKinds() => ["udp4", "udp6", "tcp4", "tcp6", "icmp4", "icmp6"];

    /// <summary>A valid message of each kind, its parser, and the offset of its checksum field (−1 for none).</summary>
    private static (byte[] Bytes, Parser Parse, int ChecksumOffset) Sample(string kind) => kind switch
    {
        "ipv4" => (Packets.Ipv4(new Ipv4Header(V4Source, V4Destination, IpProtocol.Udp, Identification: 77), Payload),
            b => Ipv4Header.TryParse(b, out _, out _, out _), 10),
        "ipv6" => (Packets.Ipv6(new Ipv6Header(V6Source, V6Destination, IpProtocol.Tcp), Payload),
            b => Ipv6Header.TryParse(b, out _, out _, out _, out _), -1),
        "ipv6-fragment" => (Packets.Ipv6(new Ipv6Header(V6Source, V6Destination, IpProtocol.Udp, HasFragmentHeader: true,
                FragmentOffset: 64, MoreFragments: false, FragmentIdentification: 5), Payload),
            b => Ipv6Header.TryParse(b, out _, out _, out _, out _), -1),
        "udp4" => (Packets.Udp(new UdpHeader(53, 1000), Payload, V4Source, V4Destination),
            b => UdpHeader.TryParse(b, V4Source, V4Destination, out _, out _), 6),
        "udp6" => (Packets.Udp(new UdpHeader(53, 1000), Payload, V6Source, V6Destination),
            b => UdpHeader.TryParse(b, V6Source, V6Destination, out _, out _), 6),
        "tcp4" => (Packets.Tcp(FullTcpHeader(), Payload, V4Source, V4Destination),
            b => TcpHeader.TryParse(b, V4Source, V4Destination, out _, out _), 16),
        "tcp6" => (Packets.Tcp(FullTcpHeader(), Payload, V6Source, V6Destination),
            b => TcpHeader.TryParse(b, V6Source, V6Destination, out _, out _), 16),
        "icmp4" => (Packets.IcmpV4(new IcmpHeader(8, 0, 1, 2), Payload), b => IcmpHeader.TryParseV4(b, out _, out _), 2),
        "icmp6" => (Packets.IcmpV6(new IcmpHeader(128, 0, 1, 2), Payload, V6Source, V6Destination),
            b => IcmpHeader.TryParseV6(b, V6Source, V6Destination, out _, out _), 2),
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void EveryPrefixIsRejected(string kind)
    {
        var (bytes, parse, _) = Sample(kind);
        Assert.Equal(WireError.None, parse(bytes));
        for (int length = 0; length < bytes.Length; length++)
            Assert.NotEqual(WireError.None, parse(bytes[..length]));
    }

    [Theory]
    [MemberData(nameof(ChecksummedKinds))]
    public void AFlippedChecksumByteIsBadChecksum(string kind)
    {
        var (bytes, parse, checksumOffset) = Sample(kind);
        Assert.True(checksumOffset >= 0);
        for (int i = 0; i < 2; i++)
        {
            var copy = (byte[])bytes.Clone();
            copy[checksumOffset + i] ^= 0x5A;
            Assert.Equal(WireError.BadChecksum, parse(copy));
        }
    }

    [Theory]
    [MemberData(nameof(PayloadChecksummedKinds))]
    public void AFlippedPayloadByteIsBadChecksum(string kind)
    {
        var (bytes, parse, checksumOffset) = Sample(kind);
        Assert.True(checksumOffset >= 0);
        var copy = (byte[])bytes.Clone();
        copy[^5] ^= 0x10;
        Assert.Equal(WireError.BadChecksum, parse(copy));
    }

    /// <summary>
    /// IPv6 has no checksum and IPv4's covers only its header: a flipped payload byte passes the IP layer and comes out as
    /// it is (the transport's checksum, tested above, is what catches it), and nothing else of the packet changes.
    /// </summary>
    [Theory]
    [InlineData("ipv4")]
    [InlineData("ipv6")]
    [InlineData("ipv6-fragment")]
    public void AFlippedPayloadBytePassesTheIpLayerUnchangedForTheTransportToCatch(string kind)
    {
        var (bytes, _, _) = Sample(kind);
        var copy = (byte[])bytes.Clone();
        copy[^5] ^= 0x10;
        ReadOnlySpan<byte> payload;
        if (kind == "ipv4") Assert.Equal(WireError.None, Ipv4Header.TryParse(copy, out _, out _, out payload));
        else Assert.Equal(WireError.None, Ipv6Header.TryParse(copy, out _, out _, out payload, out _));
        byte[] expected = [.. Payload];
        expected[^5] ^= 0x10;
        Assert.Equal(expected, payload.ToArray());
    }

    // ---- IPv4 ----

    [Fact]
    public void Ipv4BadVersionIhlAndLengths()
    {
        var packet = Packets.Ipv4(new Ipv4Header(V4Source, V4Destination, IpProtocol.Tcp), Payload);
        WireError Parse(Action<byte[]> edit)
        {
            var copy = (byte[])packet.Clone();
            edit(copy);
            Packets.FixIpv4Checksum(copy.AsSpan(0, Math.Max(20, Math.Min(copy.Length, (copy[0] & 0xF) * 4))));
            return Ipv4Header.TryParse(copy, out _, out _, out _);
        }
        Assert.Equal(WireError.BadVersion, Parse(b => b[0] = 0x65));
        Assert.Equal(WireError.BadHeaderLength, Parse(b => b[0] = 0x44));
        Assert.Equal(WireError.BadHeaderLength, Parse(b => b[0] = 0x40));
        Assert.Equal(WireError.BadHeaderLength, Ipv4Header.TryParse(WithIhl(packet, 15).AsSpan(0, 50), out _, out _, out _));
        Assert.Equal(WireError.BadLength, Parse(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), (ushort)(b.Length + 1))));
        Assert.Equal(WireError.BadLength, Parse(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 19)));
        Assert.Equal(WireError.BadField, Parse(b => NetAddress.Parse("224.0.0.5").WriteTo(b.AsSpan(12))));
        Assert.Equal(WireError.BadField, Parse(b => NetAddress.Parse("255.255.255.255").WriteTo(b.AsSpan(12))));
        Assert.Equal(WireError.None, Parse(_ => { }));
    }

    private static byte[] WithIhl(byte[] packet, int ihl)
    {
        var copy = (byte[])packet.Clone();
        copy[0] = (byte)(0x40 | ihl);
        return copy;
    }

    [Fact]
    public void Ipv4IgnoresLinkPaddingAndSkipsOptions()
    {
        // 24-byte header: a router-alert option (RFC 2113), then the payload, then 6 bytes of link padding.
        var packet = new byte[24 + Payload.Length + 6];
        Ipv4Header.Emit(packet, new Ipv4Header(V4Source, V4Destination, IpProtocol.Udp, 9, 1234, DontFragment: true), 0);
        packet[0] = 0x46;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)(24 + Payload.Length));
        packet[20] = 0x94; packet[21] = 4; // router alert, length 4, value 0
        Payload.CopyTo(packet, 24);
        packet[^1] = 0xEE;
        Packets.FixIpv4Checksum(packet);

        Assert.Equal(WireError.None, Ipv4Header.TryParse(packet, out var header, out int headerLength, out var payload));
        Assert.Equal(24, headerLength);
        Assert.Equal(Payload, payload.ToArray());
        Assert.Equal(new Ipv4Header(V4Source, V4Destination, IpProtocol.Udp, 9, 1234, DontFragment: true), header);
    }

    [Fact]
    public void Ipv4QuotedPacketsMayBeCutShort()
    {
        var packet = Packets.Ipv4(new Ipv4Header(V4Source, V4Destination, IpProtocol.Udp), Payload);
        var quote = packet[..28];
        Assert.Equal(WireError.BadLength, Ipv4Header.TryParse(quote, out _, out _, out _));
        Assert.Equal(WireError.None, Ipv4Header.TryParseQuoted(quote, out var header, out _, out var payload));
        Assert.Equal(V4Source, header.Source);
        Assert.Equal(8, payload.Length);
        Assert.True(UdpHeader.TryReadQuoted(payload, out var ports));
        Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(Payload), ports.SourcePort);
    }

    // ---- UDP ----

    [Fact]
    public void UdpLengthPortAndZeroChecksumRules()
    {
        var datagram = Packets.Udp(new UdpHeader(53, 1000), Payload, V4Source, V4Destination);
        WireError Parse(Action<byte[]> edit, NetAddress source, NetAddress destination, bool fix = true)
        {
            var copy = (byte[])datagram.Clone();
            edit(copy);
            if (fix) Packets.FixTransportChecksum(copy, 6, IpProtocol.Udp, source, destination);
            return UdpHeader.TryParse(copy, source, destination, out _, out _);
        }
        Assert.Equal(WireError.BadLength, Parse(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), 7), V4Source, V4Destination, fix: false));
        Assert.Equal(WireError.BadLength, Parse(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)(b.Length + 1)), V4Source, V4Destination, fix: false));
        Assert.Equal(WireError.BadField, Parse(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 0), V4Source, V4Destination));
        // RFC 768: zero means "no checksum" over IPv4; RFC 8200 §8.1: not allowed over IPv6.
        Assert.Equal(WireError.None, Parse(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), 0), V4Source, V4Destination, fix: false));
        Assert.Equal(WireError.BadChecksum, Parse(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), 0), V6Source, V6Destination, fix: false));
    }

    [Fact]
    public void UdpLinkPaddingBeyondTheLengthFieldIsIgnored()
    {
        byte[] padded = [.. Packets.Udp(new UdpHeader(53, 1000), Payload, V4Source, V4Destination), 1, 2, 3];
        Assert.Equal(WireError.None, UdpHeader.TryParse(padded, V4Source, V4Destination, out _, out var payload));
        Assert.Equal(Payload, payload.ToArray());
    }

    [Fact]
    public void UdpSendsAComputedZeroChecksumAsAllOnes()
    {
        // Search for the two payload bytes that make the checksum come out as zero.
        var buffer = new byte[10];
        for (int word = 0; word <= 0xFFFF; word++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(8), (ushort)word);
            UdpHeader.Emit(buffer, new UdpHeader(1, 2), 2, V4Source, V4Destination);
            if (BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(6)) != 0xFFFF) continue;
            Assert.Equal(WireError.None, UdpHeader.TryParse(buffer, V4Source, V4Destination, out _, out _));
            return;
        }
        Assert.Fail("no payload gave a zero checksum");
    }

    // ---- TCP ----

    [Fact]
    public void TcpDataOffsetOutOfRange()
    {
        var segment = Packets.Tcp(FullTcpHeader(), Payload, V4Source, V4Destination);
        var low = (byte[])segment.Clone();
        low[12] = 4 << 4;
        Assert.Equal(WireError.BadHeaderLength, TcpHeader.TryParse(low, V4Source, V4Destination, out _, out _));
        var high = segment[..40];
        high[12] = 15 << 4;
        Assert.Equal(WireError.BadHeaderLength, TcpHeader.TryParse(high, V4Source, V4Destination, out _, out _));
    }

    public static TheoryData<byte[]> MalformedOptions() => new()
    {
        { [5, 0, 0, 0] },                 // SACK kind with length 0
        { [3, 1, 0, 0] },                 // length 1
        { [1, 1, 1, 2] },                 // MSS kind is the last byte: no length byte
        { [1, 1, 8, 10] },                // timestamps running past the header
        { [2, 3, 5, 0] },                 // MSS with length 3
        { [2, 5, 5, 180, 0, 0, 0, 0] },   // MSS with length 5
        { [3, 4, 7, 0] },                 // window scale with length 4
        { [4, 3, 0, 0] },                 // SACK-permitted with length 3
        { [8, 8, 0, 0, 0, 1, 0, 0] },     // timestamps with length 8
        { [5, 6, 0, 0, 0, 1, 0, 0] },     // SACK with a partial block
        { [5, 2, 0, 0] },                 // SACK with no block
    };

    [Theory]
    [MemberData(nameof(MalformedOptions))]
    public void MalformedTcpOptionsAreBadOption(byte[] options)
    {
        var segment = Packets.TcpWithRawOptions(options, V4Source, V4Destination, 5);
        Assert.Equal(WireError.BadOption, TcpHeader.TryParse(segment, V4Source, V4Destination, out _, out _));
    }

    [Fact]
    public void TcpSkipsUnknownOptionsStopsAtEndOfListAndClampsWindowScale()
    {
        // Unknown kind 30 (MPTCP) of length 4, window scale 15, then EOL followed by bytes that are not options.
        byte[] options = [30, 4, 1, 2, 3, 3, 15, 0, 99, 99, 99, 99];
        var segment = Packets.TcpWithRawOptions(options, V6Source, V6Destination, 3);
        Assert.Equal(WireError.None, TcpHeader.TryParse(segment, V6Source, V6Destination, out var header, out var payload));
        Assert.Equal(14, header.WindowScale); // RFC 7323 §2.3
        Assert.Equal(0, header.MaxSegmentSize);
        Assert.False(header.HasTimestamps);
        Assert.Equal(3, payload.Length);
    }

    [Fact]
    public void TcpQuotedHeaderGivesPortsAndSequence()
    {
        var segment = Packets.Tcp(FullTcpHeader(), Payload, V4Source, V4Destination);
        Assert.True(TcpHeader.TryReadQuoted(segment.AsSpan(0, 8), out ushort sourcePort, out ushort destinationPort, out var sequence));
        Assert.Equal(((ushort)5000, (ushort)80, new SeqNumber(1)), (sourcePort, destinationPort, sequence));
        Assert.False(TcpHeader.TryReadQuoted(segment.AsSpan(0, 7), out _, out _, out _));
    }
}
