using BenchmarkDotNet.Attributes;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Benchmarks;

/// <summary>Parse and emit of each wire type over pre-built packets (headers plus a 64-byte payload, checksums included).</summary>
[MemoryDiagnoser]
public class WireBenchmarks
{
    private static readonly NetAddress S4 = NetAddress.Parse("10.0.0.1"), D4 = NetAddress.Parse("10.0.0.2");
    private static readonly NetAddress S6 = NetAddress.Parse("fd00::1"), D6 = NetAddress.Parse("fd00::2");
    private const int PayloadLength = 64;

    private readonly byte[] _ipv4 = new byte[Ipv4Header.HeaderLength + PayloadLength];
    private readonly byte[] _ipv6 = new byte[Ipv6Header.HeaderLength + PayloadLength];
    private readonly byte[] _udp = new byte[UdpHeader.HeaderLength + PayloadLength];
    private readonly byte[] _tcp = new byte[TcpHeader.MaxHeaderLength + PayloadLength];
    private readonly byte[] _icmpV4 = new byte[IcmpHeader.HeaderLength + PayloadLength];
    private readonly byte[] _icmpV6 = new byte[IcmpHeader.HeaderLength + PayloadLength];
    private readonly byte[] _scratch = new byte[2048];
    private int _tcpLength;
    private TcpHeader _tcpHeader;

    [GlobalSetup]
    public void Setup()
    {
        Ipv4Header.Emit(_ipv4, new Ipv4Header(S4, D4, IpProtocol.Udp, Identification: 7), PayloadLength);
        Ipv6Header.Emit(_ipv6, new Ipv6Header(S6, D6, IpProtocol.Udp), PayloadLength);
        UdpHeader.Emit(_udp, new UdpHeader(40000, 53), PayloadLength, S4, D4);
        _tcpHeader = new TcpHeader(40000, 80, TcpFlags.Ack | TcpFlags.Psh)
        {
            Sequence = new SeqNumber(1000), Acknowledgment = new SeqNumber(2000), Window = 65535,
            HasTimestamps = true, TimestampValue = 12345, TimestampEcho = 54321,
        };
        _tcpLength = TcpHeader.Emit(_tcp, _tcpHeader, PayloadLength, S4, D4);
        IcmpHeader.EmitV4(_icmpV4, new IcmpHeader((byte)IcmpV4Type.EchoRequest, 0, 1, 2), PayloadLength);
        IcmpHeader.EmitV6(_icmpV6, new IcmpHeader((byte)IcmpV6Type.EchoRequest, 0, 1, 2), PayloadLength, S6, D6);
    }

    [Benchmark] public WireError ParseIpv4() => Ipv4Header.TryParse(_ipv4, out _, out _, out _);
    [Benchmark] public int EmitIpv4() => Ipv4Header.Emit(_scratch, new Ipv4Header(S4, D4, IpProtocol.Udp, Identification: 7), PayloadLength);
    [Benchmark] public WireError ParseIpv6() => Ipv6Header.TryParse(_ipv6, out _, out _, out _, out _);
    [Benchmark] public int EmitIpv6() => Ipv6Header.Emit(_scratch, new Ipv6Header(S6, D6, IpProtocol.Udp), PayloadLength);
    [Benchmark] public WireError ParseUdp() => UdpHeader.TryParse(_udp, S4, D4, out _, out _);
    [Benchmark] public int EmitUdp() => UdpHeader.Emit(_scratch, new UdpHeader(40000, 53), PayloadLength, S4, D4);
    [Benchmark] public WireError ParseTcp() => TcpHeader.TryParse(_tcp.AsSpan(0, _tcpLength), S4, D4, out _, out _);
    [Benchmark] public int EmitTcp() => TcpHeader.Emit(_scratch, _tcpHeader, PayloadLength, S4, D4);
    [Benchmark] public WireError ParseIcmpV4() => IcmpHeader.TryParseV4(_icmpV4, out _, out _);
    [Benchmark] public int EmitIcmpV4() => IcmpHeader.EmitV4(_scratch, new IcmpHeader((byte)IcmpV4Type.EchoRequest, 0, 1, 2), PayloadLength);
    [Benchmark] public WireError ParseIcmpV6() => IcmpHeader.TryParseV6(_icmpV6, S6, D6, out _, out _);
    [Benchmark] public int EmitIcmpV6() => IcmpHeader.EmitV6(_scratch, new IcmpHeader((byte)IcmpV6Type.EchoRequest, 0, 1, 2), PayloadLength, S6, D6);
}
