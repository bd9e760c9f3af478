using BenchmarkDotNet.Attributes;
using Rx.Netstack.Wire;
using TcpWire = Rx.Netstack.Wire.Tcp;
using UdpWire = Rx.Netstack.Wire.Udp;

namespace Rx.Netstack.Benchmarks;

/// <summary>Parse and emit of each wire type over pre-built packets (headers plus a 64-byte payload, checksums included).</summary>
[MemoryDiagnoser]
public class WireBenchmarks
{
    private static readonly NetAddress S4 = NetAddress.Parse("10.0.0.1"), D4 = NetAddress.Parse("10.0.0.2");
    private static readonly NetAddress S6 = NetAddress.Parse("fd00::1"), D6 = NetAddress.Parse("fd00::2");
    private const int PayloadLength = 64;

    private readonly byte[] _ipv4 = new byte[Ipv4.HeaderLength + PayloadLength];
    private readonly byte[] _ipv6 = new byte[Ipv6.HeaderLength + PayloadLength];
    private readonly byte[] _udp = new byte[UdpWire.HeaderLength + PayloadLength];
    private readonly byte[] _tcp = new byte[TcpWire.MaxHeaderLength + PayloadLength];
    private readonly byte[] _icmpV4 = new byte[Icmp.HeaderLength + PayloadLength];
    private readonly byte[] _icmpV6 = new byte[Icmp.HeaderLength + PayloadLength];
    private readonly byte[] _scratch = new byte[2048];
    private int _tcpLength;
    private TcpHeader _tcpHeader;

    [GlobalSetup]
    public void Setup()
    {
        Ipv4.Emit(_ipv4, new Ipv4Header(S4, D4, IpProtocol.Udp, Identification: 7), PayloadLength);
        Ipv6.Emit(_ipv6, new Ipv6Header(S6, D6, IpProtocol.Udp), PayloadLength);
        UdpWire.Emit(_udp, new UdpHeader(40000, 53), PayloadLength, S4, D4);
        _tcpHeader = new TcpHeader(40000, 80, TcpFlags.Ack | TcpFlags.Psh)
        {
            Sequence = new SeqNumber(1000), Acknowledgment = new SeqNumber(2000), Window = 65535,
            HasTimestamps = true, TimestampValue = 12345, TimestampEcho = 54321,
        };
        _tcpLength = TcpWire.Emit(_tcp, _tcpHeader, PayloadLength, S4, D4);
        Icmp.EmitV4(_icmpV4, new IcmpHeader((byte)IcmpV4Type.EchoRequest, 0, 1, 2), PayloadLength);
        Icmp.EmitV6(_icmpV6, new IcmpHeader((byte)IcmpV6Type.EchoRequest, 0, 1, 2), PayloadLength, S6, D6);
    }

    [Benchmark] public WireError ParseIpv4() => Ipv4.TryParse(_ipv4, out _, out _, out _);
    [Benchmark] public int EmitIpv4() => Ipv4.Emit(_scratch, new Ipv4Header(S4, D4, IpProtocol.Udp, Identification: 7), PayloadLength);
    [Benchmark] public WireError ParseIpv6() => Ipv6.TryParse(_ipv6, out _, out _, out _, out _);
    [Benchmark] public int EmitIpv6() => Ipv6.Emit(_scratch, new Ipv6Header(S6, D6, IpProtocol.Udp), PayloadLength);
    [Benchmark] public WireError ParseUdp() => UdpWire.TryParse(_udp, S4, D4, out _, out _);
    [Benchmark] public int EmitUdp() => UdpWire.Emit(_scratch, new UdpHeader(40000, 53), PayloadLength, S4, D4);
    [Benchmark] public WireError ParseTcp() => TcpWire.TryParse(_tcp.AsSpan(0, _tcpLength), S4, D4, out _, out _);
    [Benchmark] public int EmitTcp() => TcpWire.Emit(_scratch, _tcpHeader, PayloadLength, S4, D4);
    [Benchmark] public WireError ParseIcmpV4() => Icmp.TryParseV4(_icmpV4, out _, out _);
    [Benchmark] public int EmitIcmpV4() => Icmp.EmitV4(_scratch, new IcmpHeader((byte)IcmpV4Type.EchoRequest, 0, 1, 2), PayloadLength);
    [Benchmark] public WireError ParseIcmpV6() => Icmp.TryParseV6(_icmpV6, S6, D6, out _, out _);
    [Benchmark] public int EmitIcmpV6() => Icmp.EmitV6(_scratch, new IcmpHeader((byte)IcmpV6Type.EchoRequest, 0, 1, 2), PayloadLength, S6, D6);
}
