using System.Net;
using Rx.Netstack.Cli;

namespace Rx.Netstack.Tests.Cli;

/// <summary>The SOCKS5 UDP request header (RFC 1928 §7) the proxy wraps and unwraps its flows' datagrams with.</summary>
public sealed class Socks5ClientTests
{
    [Theory]
    [InlineData("10.79.0.2:7007", "00000001 0a4f0002 1b5f")]
    [InlineData("[fd79::2]:53", "00000004 fd790000000000000000000000000002 0035")]
    public void The_udp_header_carries_the_destination_and_reads_back(string destination, string hex)
    {
        IPEndPoint endpoint = IPEndPoint.Parse(destination);
        byte[] datagram = new byte[Socks5Client.MaxUdpHeaderLength + 3];
        int length = Socks5Client.WriteUdpHeader(datagram, endpoint);
        Assert.Equal(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal)), datagram[..length]);
        "abc"u8.CopyTo(datagram.AsSpan(length));

        Assert.Equal(UdpHeaderResult.Ok, Socks5Client.ReadUdpHeader(datagram.AsSpan(0, length + 3), out IPEndPoint? source, out int header));
        Assert.Equal(endpoint, source);
        Assert.Equal(length, header);
        Assert.Equal("abc"u8.ToArray(), datagram[header..(length + 3)]);
    }

    [Theory]
    [InlineData("000001010a4f00021b5f616263", "Fragment")]    // FRAG 1: not reassembled, dropped
    [InlineData("000081010a4f00021b5f", "Fragment")]          // the last fragment (high bit) too
    [InlineData("000000010a4f0002", "Malformed")]             // cut before the port
    [InlineData("000000040a4f00021b5f", "Malformed")]         // IPv6 type, four address bytes
    [InlineData("00000003036f7267 0035", "Malformed")]        // a domain name: not a destination we sent to
    [InlineData("000100010a4f00021b5f", "Malformed")]         // reserved bytes set
    [InlineData("000000", "Malformed")]
    public void Fragments_and_unreadable_headers_are_told_apart(string hex, string expected) =>
        Assert.Equal(Enum.Parse<UdpHeaderResult>(expected), Socks5Client.ReadUdpHeader(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal)), out _, out _));

    [Fact]
    public void A_v4_mapped_source_reads_as_ipv4()
    {
        byte[] datagram = Convert.FromHexString("0000000400000000000000000000ffff0a4f00021b5f");
        Assert.Equal(UdpHeaderResult.Ok, Socks5Client.ReadUdpHeader(datagram, out IPEndPoint? source, out _));
        Assert.Equal(IPEndPoint.Parse("10.79.0.2:7007"), source);
    }
}
