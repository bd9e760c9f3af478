namespace Rx.Netstack.Diagnostics;

/// <summary>A snapshot of a stack's counters, for dashboards and tests.</summary>
public sealed record NetstackStats
{
    /// <summary>When the snapshot was taken (the stack's scheduler time).</summary>
    public DateTimeOffset Timestamp { get; init; }
    /// <summary>Frames received from the device.</summary>
    public long FramesIn { get; init; }
    /// <summary>Bytes received from the device.</summary>
    public long BytesIn { get; init; }
    /// <summary>Frames sent to the device.</summary>
    public long FramesOut { get; init; }
    /// <summary>Bytes sent to the device.</summary>
    public long BytesOut { get; init; }
    /// <summary>IPv4 packets accepted.</summary>
    public long Ipv4In { get; init; }
    /// <summary>IPv6 packets accepted.</summary>
    public long Ipv6In { get; init; }
    /// <summary>UDP datagrams delivered to sockets.</summary>
    public long UdpIn { get; init; }
    /// <summary>UDP datagrams sent.</summary>
    public long UdpOut { get; init; }
    /// <summary>TCP segments accepted.</summary>
    public long TcpIn { get; init; }
    /// <summary>TCP segments sent.</summary>
    public long TcpOut { get; init; }
    /// <summary>ICMP messages accepted.</summary>
    public long IcmpIn { get; init; }
    /// <summary>ICMP messages sent.</summary>
    public long IcmpOut { get; init; }
    /// <summary>Fragments received.</summary>
    public long FragmentsIn { get; init; }
    /// <summary>Datagrams reassembled from fragments.</summary>
    public long DatagramsReassembled { get; init; }
    /// <summary>Fragments sent.</summary>
    public long FragmentsOut { get; init; }
    /// <summary>TCP bytes (headers and payload) received: the IP payload of every TCP packet that reached the transport layer.</summary>
    public long TcpBytesIn { get; init; }
    /// <summary>TCP bytes (headers and payload) the stack sent.</summary>
    public long TcpBytesOut { get; init; }
    /// <summary>UDP bytes (headers and payload) received.</summary>
    public long UdpBytesIn { get; init; }
    /// <summary>UDP bytes (headers and payload) sent.</summary>
    public long UdpBytesOut { get; init; }
    /// <summary>ICMP and ICMPv6 bytes received.</summary>
    public long IcmpBytesIn { get; init; }
    /// <summary>ICMP and ICMPv6 bytes the stack built (echo replies and requests, errors).</summary>
    public long IcmpBytesOut { get; init; }
    /// <summary>Packets copied to raw sockets.</summary>
    public long RawIn { get; init; }
    /// <summary>Packets sent by raw sockets.</summary>
    public long RawOut { get; init; }
    /// <summary>TCP segments retransmitted.</summary>
    public long TcpRetransmissions { get; init; }
    /// <summary>Open sockets by kind.</summary>
    public IReadOnlyDictionary<string, int> SocketsByKind { get; init; } = new Dictionary<string, int>();
    /// <summary>TCP connections by state.</summary>
    public IReadOnlyDictionary<string, int> ConnectionsByState { get; init; } = new Dictionary<string, int>();
    /// <summary>Drops by reason (only reasons with a non-zero count).</summary>
    public IReadOnlyDictionary<DropReason, long> Drops { get; init; } = new Dictionary<DropReason, long>();
    /// <summary>Commands the engine processed.</summary>
    public long CommandsProcessed { get; init; }
    /// <summary>Engine passes run (each takes the queued commands and frames, fires due timers, flushes changed sockets).</summary>
    public long Passes { get; init; }
    /// <summary>Of <see cref="Passes"/>, those run on the thread that brought the work instead of the stack's own event loop.</summary>
    public long PassesOnCaller { get; init; }
    /// <summary>Received TCP segments that reached IP and TCP merged with their neighbours (receive coalescing, see
    /// <see cref="NetstackOptions.CoalesceReceivedSegments"/>): each merged segment counts all the segments it stands for.</summary>
    public long SegmentsCoalesced { get; init; }
    /// <summary>Times the engine (re)armed its one timed wake-up on the scheduler (an earlier deadline appeared).</summary>
    public long WakeupsArmed { get; init; }
    /// <summary>Replies whose subscriber threw (the fault is contained and counted).</summary>
    public long SubscriberFaults { get; init; }

    /// <summary>SYN-ACKs answered statelessly with a SYN cookie because a listener's SYN queue was full (RFC 4987).</summary>
    public long SynCookiesSent { get; init; }
    /// <summary>Connections admitted from a valid returned SYN cookie.</summary>
    public long SynCookiesAccepted { get; init; }
    /// <summary>Commands that found the queue's room taken and waited for a later round (<see cref="NetstackOptions.CommandQueueCapacity"/>).</summary>
    public long CommandsWaited { get; init; }
    /// <summary>Commands refused because <see cref="NetstackOptions.CommandQueueLimit"/> commands were waiting already.</summary>
    public long CommandsRefused { get; init; }
    /// <summary>Commands the engine failed on (answered with <see cref="Commands.NetstackErrorKind.EngineFault"/>; a bug to report).</summary>
    public long EngineFaults { get; init; }
    /// <summary>Commands waiting for the engine when the snapshot was taken.</summary>
    public int CommandQueueDepth { get; init; }

    /// <summary>SYNs to intercepted destinations offered to the application (a retransmission of one is not offered again).</summary>
    public long InterceptedSyns { get; init; }
    /// <summary>SYNs retransmitted by clients while their offer waited for a decision (answered by nothing, as the offer stands).</summary>
    public long InterceptedSynRetransmits { get; init; }
    /// <summary>Offers the application accepted.</summary>
    public long InterceptionsAccepted { get; init; }
    /// <summary>Offers the application refused.</summary>
    public long InterceptionsRefused { get; init; }
    /// <summary>Offers the client reset before the decision.</summary>
    public long InterceptionsWithdrawn { get; init; }
    /// <summary>Offers refused with a reset because nobody decided within the interceptor's decision timeout.</summary>
    public long InterceptionsExpired { get; init; }
    /// <summary>Intercepted UDP flows opened.</summary>
    public long UdpFlowsOpened { get; init; }
    /// <summary>Intercepted UDP flows closed by their idle timeout.</summary>
    public long UdpFlowsExpired { get; init; }
    /// <summary>ARP packets received (Ethernet devices).</summary>
    public long ArpIn { get; init; }
    /// <summary>ARP packets sent: requests, replies, announcements.</summary>
    public long ArpOut { get; init; }
    /// <summary>IPv6 neighbour discovery messages received (solicitations and advertisements of neighbours and routers).</summary>
    public long NdpIn { get; init; }
    /// <summary>IPv6 neighbour discovery messages sent.</summary>
    public long NdpOut { get; init; }
    /// <summary>Times another node was heard using one of the stack's addresses (ARP, or IPv6 duplicate address detection).</summary>
    public long AddressConflicts { get; init; }
    /// <summary>IGMP and MLD messages received and read (queries, other hosts' reports); malformed ones are drops.</summary>
    public long MembershipIn { get; init; }
    /// <summary>IGMP and MLD reports, leaves and dones sent for the multicast groups sockets joined.</summary>
    public long MembershipOut { get; init; }

    // Loss recovery, ECN and path MTU (the stack's TCP counters; docs/architecture.md, docs/pmtu.md).
    /// <summary>TCP fast retransmits: loss found by duplicate ACKs, SACK or RACK's time rule (RFC 5681 §3.2, RFC 6675, RFC 8985).</summary>
    public long TcpFastRetransmits { get; init; }
    /// <summary>TCP fast recovery episodes entered.</summary>
    public long TcpRecoveryEpisodes { get; init; }
    /// <summary>TCP retransmission timeouts, SYN retries included (RFC 6298).</summary>
    public long TcpTimeouts { get; init; }
    /// <summary>TCP tail loss probes sent (RFC 8985 §7).</summary>
    public long TcpTailLossProbes { get; init; }
    /// <summary>Times RACK's reordering timer fired (RFC 8985 §6.2).</summary>
    public long TcpReorderTimeouts { get; init; }
    /// <summary>Out-of-order TCP segments a receiver did not keep because they would have opened more holes than it tracks
    /// (one per two segments of the smallest MSS in the buffer, 32 to 4,096); the sender resends them.</summary>
    public long TcpOutOfOrderDropped { get; init; }
    /// <summary>TCP segments dropped by PAWS (RFC 7323 §5.3): their timestamp was older than the newest one of the data
    /// acknowledged.</summary>
    public long TcpPawsDrops { get; init; }
    /// <summary>D-SACK blocks received: a peer got data twice (RFC 2883).</summary>
    public long TcpDuplicateSacksReceived { get; init; }
    /// <summary>D-SACK blocks sent for data received twice (RFC 2883).</summary>
    public long TcpDuplicateSacksSent { get; init; }
    /// <summary>TCP loss episodes found needless (D-SACK, RFC 3708; timestamps, RFC 3522) and their window reductions undone.</summary>
    public long TcpSpuriousRetransmissionsUndone { get; init; }
    /// <summary>TCP segments received with an ECN congestion mark, CE (RFC 3168 §5).</summary>
    public long TcpCongestionMarksReceived { get; init; }
    /// <summary>TCP window reductions for an echoed congestion mark, ECE (RFC 3168 §6.1.2).</summary>
    public long TcpCongestionEchoResponses { get; init; }
    /// <summary>ICMP errors about a TCP connection that passed RFC 5927's checks and were acted on.</summary>
    public long TcpIcmpErrorsAccepted { get; init; }
    /// <summary>Times a TCP connection lowered its MSS for the path (a validated packet too big, or a black hole).</summary>
    public long TcpPathMtuReductions { get; init; }
    /// <summary>Path MTU black holes suspected: full-sized segments timed out repeatedly and the MSS fell back (RFC 4821, RFC 8899).</summary>
    public long TcpPathMtuBlackHoles { get; init; }
    /// <summary>Lowered path MTU estimates raised to the link's again after their time (RFC 1191 §6.3).</summary>
    public long TcpPathMtuRaises { get; init; }

    /// <summary>All drops together.</summary>
    public long TotalDrops => Drops.Values.Sum();
}
