using System.Buffers.Binary;
using System.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// Which engine of a sharded stack owns a flow (docs/sharding.md): a TCP flow by a keyed hash of the remote address, the remote
/// port and the local port — not the local address, so a connect can be placed before its source address is chosen, and an
/// incoming segment needs no route lookup. Everything that is not TCP (UDP, ICMP echo, raw, IP fragments) belongs to the home
/// engine 0, except an ICMP error that quotes a TCP segment, which goes to the engine of the flow it quotes.
/// </summary>
/// <remarks>
/// The hash is the stack's own, not the kernel's (Linux keys its flow hash with a boot-time secret): frames that a multi-queue
/// link hands to the wrong engine are moved to the right one (<see cref="ShardPort"/>), and a Linux TUN learns from the first
/// packet we send on a flow which queue the flow belongs to (its "automq" flow table), so a flow's later frames arrive right.
/// </remarks>
internal readonly struct FlowSharding
{
    /// <summary>The number of engines (1: no sharding; every flow is engine 0's).</summary>
    public readonly int Count;

    /// <summary>This engine's index, for <see cref="Owns"/>.</summary>
    public readonly int Index;

    /// <summary>The hash's key: one per sharded stack, so an outsider cannot aim every flow at one engine without knowing it.</summary>
    private readonly ulong _key;

    public FlowSharding(int count, int index, ulong key)
    {
        Debug.Assert(count >= 1 && index >= 0 && index < count, "index within count");
        Count = count;
        Index = index;
        _key = key;
    }

    /// <summary>True when this stack is one engine of several.</summary>
    public bool IsSharded => Count > 1;

    /// <summary>True when the flow (<paramref name="remote"/>, <paramref name="localPort"/>) is this engine's (always, unsharded).</summary>
    public bool Owns(NetEndpoint remote, ushort localPort) => Count <= 1 || ShardOf(remote, localPort) == Index;

    /// <summary>The engine of the TCP flow between <paramref name="remote"/> and local port <paramref name="localPort"/>.</summary>
    public int ShardOf(NetEndpoint remote, ushort localPort)
    {
        Span<byte> address = stackalloc byte[16];
        remote.Address.WriteTo(address);
        return ShardOf(address[..remote.Address.Length], remote.Port, localPort);
    }

    /// <summary>The engine of a TCP flow given the remote address's wire bytes (4 or 16).</summary>
    public int ShardOf(ReadOnlySpan<byte> remoteAddress, ushort remotePort, ushort localPort)
    {
        if (Count <= 1) return 0;
        ulong h = _key;
        if (remoteAddress.Length == 4)
        {
            h = Mix(h ^ BinaryPrimitives.ReadUInt32BigEndian(remoteAddress));
        }
        else
        {
            h = Mix(h ^ BinaryPrimitives.ReadUInt64BigEndian(remoteAddress));
            h = Mix(h ^ BinaryPrimitives.ReadUInt64BigEndian(remoteAddress[8..]));
        }
        h = Mix(h ^ ((ulong)remotePort << 16 | localPort));
        // Lemire's multiply-shift maps the top 32 bits onto 0..Count-1 without a division (Linux's reciprocal_scale).
        return (int)(((h >> 32) * (ulong)Count) >> 32);
    }

    /// <summary>
    /// The engine a received IP packet belongs to: a TCP segment's flow (source = remote), an ICMP error's quoted TCP flow
    /// (quoted destination = remote), anything else (and anything too short to tell) the home engine 0. Reads only fixed
    /// offsets of the headers; the engine checks the packet properly when it processes it.
    /// </summary>
    public int ShardOfPacket(ReadOnlySpan<byte> packet)
    {
        if (Count <= 1 || packet.IsEmpty) return 0;
        return (packet[0] >> 4) switch
        {
            4 => ShardOfV4(packet, quoted: false),
            6 => ShardOfV6(packet, quoted: false),
            _ => 0,
        };
    }

    private int ShardOfV4(ReadOnlySpan<byte> packet, bool quoted)
    {
        if (packet.Length < Ipv4Header.HeaderLength) return 0;
        int headerLength = (packet[0] & 0x0F) * 4;
        // A fragment has no ports (or not all of it): fragments are reassembled on the home engine.
        ushort fragment = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        if ((fragment & 0x3FFF) != 0 || headerLength < Ipv4Header.HeaderLength || packet.Length < headerLength + 4) return 0;
        ReadOnlySpan<byte> transport = packet[headerLength..];
        return packet[9] switch
        {
            // A quoted packet is one we sent: its destination is the remote end.
            (byte)IpProtocol.Tcp when quoted => ShardOf(packet.Slice(16, 4), Port(transport, 2), Port(transport, 0)),
            (byte)IpProtocol.Tcp => ShardOf(packet.Slice(12, 4), Port(transport, 0), Port(transport, 2)),
            // Destination unreachable, source quench, time exceeded, parameter problem (RFC 792) quote the packet after 8 bytes.
            (byte)IpProtocol.Icmp when !quoted && transport[0] is 3 or 4 or 11 or 12 && transport.Length > IcmpHeader.HeaderLength
                => ShardOfV4(transport[IcmpHeader.HeaderLength..], quoted: true),
            _ => 0,
        };
    }

    private int ShardOfV6(ReadOnlySpan<byte> packet, bool quoted)
    {
        const int headerLength = Ipv6Header.HeaderLength;
        if (packet.Length < headerLength + 4) return 0;
        ReadOnlySpan<byte> transport = packet[headerLength..];
        // Only TCP right after the fixed header: a packet with extension headers (fragments among them) is the home engine's.
        return packet[6] switch
        {
            (byte)IpProtocol.Tcp when quoted => ShardOf(packet.Slice(24, 16), Port(transport, 2), Port(transport, 0)),
            (byte)IpProtocol.Tcp => ShardOf(packet.Slice(8, 16), Port(transport, 0), Port(transport, 2)),
            // ICMPv6 errors (RFC 4443 §3: types 1 to 4) quote the packet after 8 bytes.
            (byte)IpProtocol.IcmpV6 when !quoted && transport[0] is >= 1 and <= 4 && transport.Length > IcmpHeader.HeaderLength
                => ShardOfV6(transport[IcmpHeader.HeaderLength..], quoted: true),
            _ => 0,
        };
    }

    private static ushort Port(ReadOnlySpan<byte> transport, int offset) => BinaryPrimitives.ReadUInt16BigEndian(transport[offset..]);

    /// <summary>SplitMix64's finalizer: every input bit reaches every output bit.</summary>
    private static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
