using CsCheck;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;

/// <summary>CsCheck generators for addresses and wire headers, shared by the wire tests.</summary>
internal static class WireGen
{
    /// <summary>A unicast IPv4 address (1.0.0.0–223.255.255.255), valid as a source.</summary>
    public static readonly Gen<NetAddress> UnicastV4 = Gen.UInt[0x0100_0000u, 0xDFFF_FFFFu].Select(NetAddress.V4);

    /// <summary>Any IPv4 address.</summary>
    public static readonly Gen<NetAddress> AnyV4 = Gen.UInt.Select(NetAddress.V4);

    /// <summary>A non-multicast IPv6 address, valid as a source.</summary>
    public static readonly Gen<NetAddress> UnicastV6 =
        Gen.Select(Gen.ULong[0, 0xFEFF_FFFF_FFFF_FFFFul], Gen.ULong, NetAddress.V6);

    /// <summary>Any IPv6 address.</summary>
    public static readonly Gen<NetAddress> AnyV6 = Gen.Select(Gen.ULong, Gen.ULong, NetAddress.V6);

    /// <summary>A source/destination pair of one IP version.</summary>
    public static readonly Gen<(NetAddress Source, NetAddress Destination)> AddressPair =
        Gen.Bool.SelectMany(v6 => v6 ? Gen.Select(UnicastV6, AnyV6) : Gen.Select(UnicastV4, AnyV4));

    public static readonly Gen<Ipv4Header> Ipv4 =
        Gen.Select(UnicastV4, AnyV4, Gen.Byte, Gen.Byte, Gen.UShort, Gen.Bool, Gen.Bool, Gen.Int[0, 0x1FFF])
            .SelectMany(t => Gen.Byte.Select(tos =>
                new Ipv4Header(t.Item1, t.Item2, (IpProtocol)t.Item3, t.Item4, t.Item5, t.Item6, t.Item7, t.Item8 * 8, tos)));

    /// <summary>IPv6 headers as a parse would report them: the protocol is an upper-layer number (not an extension header).</summary>
    public static readonly Gen<Ipv6Header> Ipv6 =
        Gen.Select(UnicastV6, AnyV6, UpperLayerProtocolV6, Gen.Byte, Gen.Byte, Gen.UInt[0, 0xF_FFFF], Gen.Bool)
            .SelectMany(t => Gen.Select(Gen.Int[0, 8000], Gen.Bool, Gen.UInt).Select(f =>
                t.Item7
                    ? new Ipv6Header(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6, true, f.Item1 * 8, f.Item2, f.Item3, 40)
                    : new Ipv6Header(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6)));

    /// <summary>Protocol numbers the IPv6 parser stops at.</summary>
    public static Gen<IpProtocol> UpperLayerProtocolV6 =>
        Gen.Byte.Where(b => b is not (0 or 43 or 44 or 60)).Select(b => (IpProtocol)b);

    public static readonly Gen<UdpHeader> Udp = Gen.Select(Gen.UShort, Gen.UShort[1, ushort.MaxValue], (s, d) => new UdpHeader(s, d));

    /// <summary>A TCP header with a random set of options, as a parse of its emitted form would report it.</summary>
    public static readonly Gen<TcpHeader> Tcp =
        Gen.Select(Gen.UShort, Gen.UShort, Gen.UInt, Gen.UInt, Gen.Byte, Gen.UShort, Gen.UShort)
            .SelectMany(basic => Gen.Select(
                    Gen.Frequency((1, Gen.Const((ushort)0)), (2, Gen.UShort[1, ushort.MaxValue])),
                    Gen.Frequency((1, Gen.Const((sbyte)-1)), (2, Gen.SByte[0, 14])),
                    Gen.Bool, Gen.Bool, Gen.UInt, Gen.UInt, Gen.Int[0, 4])
                .SelectMany(opt => Gen.Select(Gen.UInt, Gen.UInt).Array[opt.Item7].Select(blocks =>
                {
                    var h = new TcpHeader(basic.Item1, basic.Item2, (TcpFlags)basic.Item5)
                    {
                        Sequence = new SeqNumber(basic.Item3),
                        Acknowledgment = new SeqNumber(basic.Item4),
                        Window = basic.Item6,
                        UrgentPointer = basic.Item7,
                        MaxSegmentSize = opt.Item1,
                        WindowScale = opt.Item2,
                        SackPermitted = opt.Item3,
                        HasTimestamps = opt.Item4,
                        TimestampValue = opt.Item4 ? opt.Item5 : 0,
                        TimestampEcho = opt.Item4 ? opt.Item6 : 0,
                    };
                    foreach (var (l, r) in blocks) h.AddSackBlock(new SackBlock(new SeqNumber(l), new SeqNumber(r)));
                    return h;
                })));

    /// <summary>Payload bytes.</summary>
    public static readonly Gen<byte[]> Payload = Gen.Byte.Array[0, 200];
}
