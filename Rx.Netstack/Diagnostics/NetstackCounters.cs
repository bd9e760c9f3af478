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
    public long IcmpErrorsSent, IcmpErrorsSuppressed, EchoRepliesSent;
    public long CommandsProcessed, CommandsRefused, SubscriberFaults, Passes;
    public long SynCookiesSent, SynCookiesAccepted;
    public readonly long[] Drops = new long[Enum.GetValues<DropReason>().Length];

    public void Drop(DropReason reason) => Drops[(int)reason]++;
}
