namespace Rx.Netstack.Diagnostics;

/// <summary>
/// The engine's counters. Written only on the engine's scheduler; read from anywhere (64-bit reads do not tear on the
/// platforms .NET supports; a snapshot taken off the engine thread may be a packet out of date).
/// </summary>
internal sealed class NetstackCounters
{
    public long FramesIn, BytesIn, FramesOut, BytesOut;
    public long Ipv4In, Ipv6In, UdpIn, UdpOut, TcpIn, TcpOut, IcmpIn, IcmpOut, RawIn, RawOut;
    public long FragmentsIn, DatagramsReassembled, FragmentsOut;
    public long TcpBytesIn, TcpBytesOut, UdpBytesIn, UdpBytesOut, IcmpBytesIn, IcmpBytesOut;
    public long IcmpErrorsSent, IcmpErrorsSuppressed, EchoRepliesSent;
    public long CommandsProcessed, CommandsWaited, CommandsRefused, EngineFaults, SubscriberFaults, Passes, PassesOnCaller, WakeupsArmed;
    public long SynCookiesSent, SynCookiesAccepted;
    public long InterceptedSyns, InterceptedSynRetransmits, InterceptionsAccepted, InterceptionsRefused, InterceptionsWithdrawn, InterceptionsExpired;
    public long UdpFlowsOpened, UdpFlowsExpired;
    public long ArpIn, ArpOut, NdpIn, NdpOut, AddressConflicts;
    public long MembershipIn, MembershipOut;
    public readonly long[] Drops = new long[Enum.GetValues<DropReason>().Length];

    public void Drop(DropReason reason) => Drops[(int)reason]++;

    /// <summary>Counts the IP payload bytes of a packet handed to the transport layer.</summary>
    public void CountBytesIn(Wire.IpProtocol protocol, int bytes)
    {
        switch (protocol)
        {
            case Wire.IpProtocol.Tcp: TcpBytesIn += bytes; break;
            case Wire.IpProtocol.Udp: UdpBytesIn += bytes; break;
            case Wire.IpProtocol.Icmp or Wire.IpProtocol.IcmpV6: IcmpBytesIn += bytes; break;
        }
    }

    /// <summary>Counts the IP payload bytes of a packet the stack built.</summary>
    public void CountBytesOut(Wire.IpProtocol protocol, int bytes)
    {
        switch (protocol)
        {
            case Wire.IpProtocol.Tcp: TcpBytesOut += bytes; break;
            case Wire.IpProtocol.Udp: UdpBytesOut += bytes; break;
            case Wire.IpProtocol.Icmp or Wire.IpProtocol.IcmpV6: IcmpBytesOut += bytes; break;
        }
    }
}
