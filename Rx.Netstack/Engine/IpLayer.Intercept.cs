using Rx.Netstack.Commands;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

internal sealed partial class IpLayer
{
    /// <summary>
    /// Tells the client of an intercepted offer or flow that its destination is unreachable, with an ICMP error sent from
    /// that destination — what a router on the way would send. The quote is rebuilt from what the demultiplexer kept: an IP
    /// header from client to destination and the head of the transport header (<paramref name="transportHead"/>, at least
    /// the 8 bytes RFC 792 asks for: ports and, for TCP, the sequence number the client's RFC 5927 check compares).
    /// </summary>
    public void SendInterceptRefusal(NetAddress client, NetAddress destination, IpProtocol protocol, ReadOnlySpan<byte> transportHead,
        InterceptRefusal how, Instant now)
    {
        bool v6 = client.IsV6;
        byte code = how switch
        {
            InterceptRefusal.NetworkUnreachable => 0,
            InterceptRefusal.HostUnreachable => (byte)(v6 ? 3 : 1),
            InterceptRefusal.AdministrativelyProhibited => (byte)(v6 ? 1 : 13),
            _ => (byte)(v6 ? 4 : 3), // port unreachable
        };
        int ipLength = v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        Span<byte> quote = stackalloc byte[Ipv6Header.HeaderLength + 64];
        int head = Math.Min(transportHead.Length, 64);
        if (v6) Ipv6Header.Emit(quote, new Ipv6Header(client, destination, protocol), head);
        else Ipv4Header.Emit(quote, new Ipv4Header(client, destination, protocol), head);
        transportHead[..head].CopyTo(quote[ipLength..]);
        SendIcmpError(quote[..(ipLength + head)], client, destination, v6,
            v6 ? (byte)IcmpV6Type.DestinationUnreachable : (byte)IcmpV4Type.DestinationUnreachable, code, 0, now, fromDestination: true);
    }
}
