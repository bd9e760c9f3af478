using System.Buffers.Binary;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;

/// <summary>The IPv6 extension-header walk (RFC 8200 §4) and the parameter-problem pointers it reports.</summary>
public class Ipv6ExtensionHeaderTests
{
    private static readonly NetAddress Source = NetAddress.Parse("2001:db8::1");
    private static readonly NetAddress Destination = NetAddress.Parse("2001:db8::2");
    private static readonly byte[] Upper = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

    /// <summary>An 8-byte-multiple extension header: next header, length, then <paramref name="body"/> (6 + 8n bytes).</summary>
    private static byte[] Extension(IpProtocol next, params byte[] body)
    {
        Assert.Equal(6, body.Length % 8);
        return [(byte)next, (byte)(body.Length / 8), .. body];
    }

    /// <summary>A packet whose fixed header names <paramref name="first"/>, followed by the given headers and <see cref="Upper"/>.</summary>
    private static byte[] Chain(IpProtocol first, params byte[][] headers)
    {
        byte[] rest = [.. headers.SelectMany(h => h), .. Upper];
        var packet = new byte[40 + rest.Length];
        Ipv6Header.Emit(packet, new Ipv6Header(Source, Destination, first), rest.Length);
        rest.CopyTo(packet, 40);
        return packet;
    }

    private static byte[] Fragment(IpProtocol next, int offset, bool more, uint id)
    {
        var f = new byte[8];
        f[0] = (byte)next;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)(offset | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(4), id);
        return f;
    }

    private static readonly byte[] PadN4 = [1, 4, 0, 0, 0, 0];

    [Fact]
    public void WalksHopByHopDestinationRoutingAndAtomicFragmentToTheUpperLayer()
    {
        var packet = Chain(IpProtocol.HopByHop,
            Extension(IpProtocol.Ipv6DestinationOptions, PadN4),                // 40..48
            Extension(IpProtocol.Ipv6Route, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), // 48..64: routing type 0, segments left 0
            Extension(IpProtocol.Ipv6Fragment, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0), // 64..80 (destination options, two PadN)
            Fragment(IpProtocol.Udp, 0, false, 0xABCD));                         // 80..88, atomic
        Assert.Equal(WireError.None, Ipv6Header.TryParse(packet, out var header, out int offset, out var payload, out int pointer));
        Assert.Equal(IpProtocol.Udp, header.Protocol);
        Assert.True(header.HasFragmentHeader);
        Assert.False(header.IsFragment);
        Assert.Equal(0xABCDu, header.FragmentIdentification);
        Assert.Equal(80, header.UnfragmentablePartLength);
        Assert.Equal(88, offset);
        Assert.Equal(80, pointer);
        Assert.Equal(Upper, payload.ToArray());
    }

    [Fact]
    public void ARealFragmentStopsTheWalkAtItsFragmentHeader()
    {
        // Offset 16 bytes, M set, with 8 bytes of data: the next header (destination options) is not examined.
        var packet = Chain(IpProtocol.Ipv6DestinationOptions, Extension(IpProtocol.Ipv6Fragment, PadN4),
            Fragment(IpProtocol.Ipv6DestinationOptions, 16, true, 7));
        packet = packet[..^2]; // 8 bytes of fragment data
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)(packet.Length - 40));
        Assert.Equal(WireError.None, Ipv6Header.TryParse(packet, out var header, out int offset, out var payload, out _));
        Assert.True(header.IsFragment);
        Assert.Equal((IpProtocol.Ipv6DestinationOptions, 16, true, 7u, 48), (header.Protocol, header.FragmentOffset, header.MoreFragments,
            header.FragmentIdentification, header.UnfragmentablePartLength));
        Assert.Equal(56, offset);
        Assert.Equal(8, payload.Length);
    }

    [Fact]
    public void HopByHopAnywhereButFirstIsAnUnknownNextHeaderAtTheFieldThatNamedIt()
    {
        var packet = Chain(IpProtocol.Ipv6DestinationOptions, Extension(IpProtocol.HopByHop, PadN4), Extension(IpProtocol.Udp, PadN4));
        Assert.Equal(WireError.UnknownNextHeader, Ipv6Header.TryParse(packet, out _, out _, out _, out int pointer));
        Assert.Equal(40, pointer); // RFC 8200 §4.1: the destination options' next-header field
        Assert.Equal(1, Ipv6Header.ParameterProblemCode(packet, WireError.UnknownNextHeader, pointer));
    }

    [Fact]
    public void RoutingHeaderWithSegmentsLeftPointsAtItsRoutingType()
    {
        var packet = Chain(IpProtocol.HopByHop, Extension(IpProtocol.Ipv6Route, PadN4),
            Extension(IpProtocol.Tcp, 4, 2, 0, 0, 0, 0)); // routing type 4, segments left 2
        Assert.Equal(WireError.BadExtensionHeader, Ipv6Header.TryParse(packet, out _, out _, out _, out int pointer));
        Assert.Equal(48 + 2, pointer); // RFC 8200 §4.4: "pointing to the unrecognized Routing Type"
        Assert.Equal(4, packet[pointer]);
        Assert.Equal(0, Ipv6Header.ParameterProblemCode(packet, WireError.BadExtensionHeader, pointer));
    }

    [Theory]
    [InlineData(253)] // experimental
    [InlineData(51)]  // AH: an extension the stack does not implement
    [InlineData(132)] // SCTP
    public void AnUnhandledProtocolIsReportedWithThePointerToItsNextHeaderField(byte protocol)
    {
        var packet = Chain(IpProtocol.Ipv6DestinationOptions, Extension((IpProtocol)protocol, PadN4));
        Assert.Equal(WireError.None, Ipv6Header.TryParse(packet, out var header, out int offset, out _, out int pointer));
        Assert.Equal((IpProtocol)protocol, header.Protocol);
        Assert.Equal(48, offset);
        Assert.Equal(40, pointer);
        Assert.Equal(protocol, packet[pointer]);
    }

    [Fact]
    public void UnrecognisedOptionsFollowTheirActionBits()
    {
        // RFC 8200 §4.2: 00 skip, 01 discard, 10 discard and report, 11 report unless the destination is multicast.
        byte[] WithOption(byte type) => Chain(IpProtocol.Ipv6DestinationOptions, Extension(IpProtocol.Udp, 0, 1, 0, type, 0, 0));
        Assert.Equal(WireError.None, Ipv6Header.TryParse(WithOption(0x1E), out _, out _, out _, out _));
        foreach (var (type, code) in new[] { (0x5E, -1), (0x9E, 2), (0xDE, 2) })
        {
            var packet = WithOption((byte)type);
            Assert.Equal(WireError.BadOption, Ipv6Header.TryParse(packet, out _, out _, out _, out int pointer));
            Assert.Equal(45, pointer); // after a Pad1 and an empty PadN
            Assert.Equal(code, Ipv6Header.ParameterProblemCode(packet, WireError.BadOption, pointer));
            NetAddress.Parse("ff02::1").WriteTo(packet.AsSpan(24));
            Assert.Equal(type == 0x9E ? 2 : -1, Ipv6Header.ParameterProblemCode(packet, WireError.BadOption, pointer));
        }
    }

    [Fact]
    public void AnOptionRunningPastItsHeaderIsABadExtensionHeader()
    {
        var packet = Chain(IpProtocol.HopByHop, Extension(IpProtocol.Udp, 0, 0, 1, 3, 0, 0)); // PadN of 3 in 2 bytes
        Assert.Equal(WireError.BadExtensionHeader, Ipv6Header.TryParse(packet, out _, out _, out _, out int pointer));
        Assert.Equal(44, pointer);
    }

    [Fact]
    public void AnExtensionHeaderRunningPastThePayloadIsTruncated()
    {
        var packet = Chain(IpProtocol.HopByHop, Extension(IpProtocol.Udp, PadN4));
        packet[41] = 5; // claims 48 bytes
        Assert.Equal(WireError.Truncated, Ipv6Header.TryParse(packet, out _, out _, out _, out _));
    }

    [Fact]
    public void FragmentLengthRulesPointAtTheRightField()
    {
        // RFC 8200 §4.5: M set and a length that is not a multiple of 8 → pointer at the payload length.
        var odd = Chain(IpProtocol.Ipv6Fragment, Fragment(IpProtocol.Udp, 0, true, 1)); // 10 bytes of data
        Assert.Equal(WireError.BadExtensionHeader, Ipv6Header.TryParse(odd, out _, out _, out _, out int pointer));
        Assert.Equal(4, pointer);
        // A fragment reaching past 65535 → pointer at its fragment offset field.
        var far = Chain(IpProtocol.Ipv6Fragment, Fragment(IpProtocol.Udp, 65528, false, 1));
        Assert.Equal(WireError.BadExtensionHeader, Ipv6Header.TryParse(far, out _, out _, out _, out pointer));
        Assert.Equal(42, pointer);
    }

    [Fact]
    public void BadVersionPayloadLengthAndSource()
    {
        var packet = Chain(IpProtocol.Udp);
        var bad = (byte[])packet.Clone();
        bad[0] = 0x45;
        Assert.Equal(WireError.BadVersion, Ipv6Header.TryParse(bad, out _, out _, out _, out _));
        bad = (byte[])packet.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(bad.AsSpan(4), (ushort)(Upper.Length + 1));
        Assert.Equal(WireError.BadLength, Ipv6Header.TryParse(bad, out _, out _, out _, out _));
        Assert.Equal(WireError.None, Ipv6Header.TryParseQuoted(bad, out _, out _, out var quoted));
        Assert.Equal(Upper, quoted.ToArray());
        bad = (byte[])packet.Clone();
        NetAddress.Parse("ff02::1").WriteTo(bad.AsSpan(8));
        Assert.Equal(WireError.BadField, Ipv6Header.TryParse(bad, out _, out _, out _, out _));
        byte[] padded = [.. packet, 0xEE, 0xEE];
        Assert.Equal(WireError.None, Ipv6Header.TryParse(padded, out _, out _, out var payload, out _));
        Assert.Equal(Upper, payload.ToArray());
    }
}
