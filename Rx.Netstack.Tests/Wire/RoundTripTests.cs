using CsCheck;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;

/// <summary>Property tests: emitting a header and parsing the bytes gives the same record and payload back.</summary>
public class RoundTripTests
{
    [Fact]
    public void Ipv4()
    {
        Gen.Select(WireGen.Ipv4, WireGen.Payload).Sample((header, payload) =>
        {
            var bytes = Packets.Ipv4(header, payload);
            Assert.Equal(WireError.None, Rx.Netstack.Wire.Ipv4Header.TryParse(bytes, out var parsed, out int headerLength, out var parsedPayload));
            Assert.Equal(header, parsed);
            Assert.Equal(20, headerLength);
            Assert.Equal(payload, parsedPayload.ToArray());
        });
    }

    [Fact]
    public void Ipv6WithAndWithoutFragmentHeader()
    {
        Gen.Select(WireGen.Ipv6, WireGen.Payload).Sample((header, payload) =>
        {
            // A real fragment that is not the last must carry a multiple of 8 bytes; offsets stay below 64000 so the
            // fragment ends within 65535 (RFC 8200 §4.5).
            if (header.MoreFragments) payload = payload[..(payload.Length & ~7)];
            var bytes = Packets.Ipv6(header, payload);
            Assert.Equal(WireError.None,
                Rx.Netstack.Wire.Ipv6Header.TryParse(bytes, out var parsed, out int offset, out var parsedPayload, out int pointer));
            Assert.Equal(header, parsed);
            Assert.Equal(Rx.Netstack.Wire.Ipv6Header.EmittedLength(header), offset);
            Assert.Equal(header.HasFragmentHeader ? 40 : 6, pointer); // the next-header field that named the protocol
            Assert.Equal(payload, parsedPayload.ToArray());
        });
    }

    [Fact]
    public void Udp()
    {
        Gen.Select(WireGen.Udp, WireGen.Payload, WireGen.AddressPair).Sample((header, payload, pair) =>
        {
            var bytes = Packets.Udp(header, payload, pair.Source, pair.Destination);
            Assert.Equal(WireError.None,
                Rx.Netstack.Wire.UdpHeader.TryParse(bytes, pair.Source, pair.Destination, out var parsed, out var parsedPayload));
            Assert.Equal(header, parsed);
            Assert.Equal(payload, parsedPayload.ToArray());
        });
    }

    [Fact]
    public void Tcp()
    {
        Gen.Select(WireGen.Tcp, WireGen.Payload, WireGen.AddressPair).Sample((header, payload, pair) =>
        {
            var bytes = Packets.Tcp(header, payload, pair.Source, pair.Destination);
            Assert.Equal(0, (bytes.Length - payload.Length) % 4);
            Assert.Equal(WireError.None,
                Rx.Netstack.Wire.TcpHeader.TryParse(bytes, pair.Source, pair.Destination, out var parsed, out var parsedPayload));
            Packets.AssertSame(Packets.AsParsed(header), parsed);
            Assert.Equal(payload, parsedPayload.ToArray());
        });
    }

    /// <summary>Every combination of the five options, with 1–4 SACK blocks when SACK is in the set.</summary>
    public static TheoryData<int, int> OptionSets()
    {
        var data = new TheoryData<int, int>();
        for (int set = 0; set < 32; set++)
            for (int blocks = (set & 16) != 0 ? 1 : 0; blocks <= ((set & 16) != 0 ? 4 : 0); blocks++)
                data.Add(set, blocks);
        return data;
    }

    [Theory]
    [MemberData(nameof(OptionSets))]
    public void TcpEveryOptionCombination(int set, int blocks)
    {
        var header = new TcpHeader(40000, 443, TcpFlags.Ack | TcpFlags.Psh)
        {
            Sequence = new SeqNumber(0xFFFF_FFF0), Acknowledgment = new SeqNumber(7), Window = 1000,
            MaxSegmentSize = (set & 1) != 0 ? (ushort)1460 : (ushort)0,
            WindowScale = (set & 2) != 0 ? (sbyte)7 : (sbyte)-1,
            SackPermitted = (set & 4) != 0,
            HasTimestamps = (set & 8) != 0,
            TimestampValue = (set & 8) != 0 ? 0xDEADBEEF : 0,
            TimestampEcho = (set & 8) != 0 ? 42u : 0,
        };
        for (int b = 0; b < blocks; b++) header.AddSackBlock(new SackBlock(new SeqNumber((uint)(100 * b)), new SeqNumber((uint)(100 * b + 50))));

        int fixedOptions = ((set & 1) != 0 ? 4 : 0) + ((set & 2) != 0 ? 3 : 0) + ((set & 4) != 0 ? 2 : 0) + ((set & 8) != 0 ? 10 : 0);
        int expectedBlocks = blocks == 0 ? 0 : Math.Min(blocks, Math.Max(0, (40 - fixedOptions - 2) / 8));
        Assert.Equal(expectedBlocks, header.SackBlocksEmitted);
        int optionBytes = fixedOptions + (expectedBlocks > 0 ? 2 + 8 * expectedBlocks : 0);
        Assert.Equal(20 + (optionBytes + 3) / 4 * 4, header.Length);
        Assert.True(header.Length <= 60);

        var (source, destination) = (NetAddress.Parse("10.0.0.1"), NetAddress.Parse("10.0.0.2"));
        byte[] payload = [1, 2, 3];
        var bytes = Packets.Tcp(header, payload, source, destination);
        Assert.Equal(header.Length, bytes[12] >> 4 << 2);
        Assert.Equal(WireError.None, Rx.Netstack.Wire.TcpHeader.TryParse(bytes, source, destination, out var parsed, out var parsedPayload));
        Packets.AssertSame(Packets.AsParsed(header), parsed);
        Assert.Equal(payload, parsedPayload.ToArray());
    }

    [Fact]
    public void IcmpV4()
    {
        var gen = Gen.Select(Gen.OneOf<byte>(0, 3, 8, 11, 12, 13, 5, 42), Gen.Byte, Gen.UShort, Gen.UShort, Gen.UShort, Gen.Byte, WireGen.Payload);
        gen.Sample((type, code, id, seq, mtu, pointer, body) =>
        {
            var header = type switch
            {
                0 or 8 or 13 => new IcmpHeader(type, code, id, seq),
                3 => new IcmpHeader(type, code, Mtu: mtu),
                12 => new IcmpHeader(type, code, Pointer: pointer),
                _ => new IcmpHeader(type, code),
            };
            var bytes = Packets.IcmpV4(header, body);
            Assert.Equal(WireError.None, IcmpHeader.TryParseV4(bytes, out var parsed, out var parsedBody));
            Assert.Equal(header, parsed);
            Assert.Equal(body, parsedBody.ToArray());
        });
    }

    [Fact]
    public void IcmpV6()
    {
        var gen = Gen.Select(Gen.OneOf<byte>(1, 2, 3, 4, 128, 129, 135, 200), Gen.Byte, Gen.UShort, Gen.UShort, Gen.UInt, WireGen.Payload,
            Gen.Select(WireGen.UnicastV6, WireGen.AnyV6));
        gen.Sample((type, code, id, seq, value, body, pair) =>
        {
            var header = type switch
            {
                128 or 129 => new IcmpHeader(type, code, id, seq),
                2 => new IcmpHeader(type, code, Mtu: value),
                4 => new IcmpHeader(type, code, Pointer: value),
                _ => new IcmpHeader(type, code),
            };
            var bytes = Packets.IcmpV6(header, body, pair.Item1, pair.Item2);
            Assert.Equal(WireError.None, IcmpHeader.TryParseV6(bytes, pair.Item1, pair.Item2, out var parsed, out var parsedBody));
            Assert.Equal(header, parsed);
            Assert.Equal(body, parsedBody.ToArray());
        });
    }
}
