using Rx.Netstack.Tcp;

namespace Rx.Netstack;

/// <summary>
/// How a <see cref="Netstack"/> is built. Defaults mirror the seed crate's (MTU 1280, TCP 16 KiB, raw 4 KiB × 32) except
/// where a .NET user expects more: UDP datagrams up to 65,507 bytes (IPv4) / 65,527 (IPv6), a command queue that waits
/// instead of refusing. <see cref="Compact"/> has the seed's small UDP buffers. Every value is settable.
/// </summary>
public sealed record NetstackOptions
{
    /// <summary>The stack's addresses at start (more can be set at run time with <see cref="Commands.Command.Stack.SetAddresses"/>).</summary>
    public IReadOnlyList<InterfaceAddress> Addresses { get; init; } = [];

    /// <summary>
    /// DNS servers (asked on port 53, in order) for names the stack is given: <see cref="Netstack.NameResolver"/> asks them
    /// over the stack's own UDP, and <c>ConnectTcpAsync("host:port")</c> and <c>NetstackHttp.CreateHandler(stack)</c> resolve
    /// with it. Empty by default: only IP literals then, or a resolver passed explicitly. wireguard-go's
    /// <c>CreateNetTUN(addrs, dns, mtu)</c> takes the same list.
    /// </summary>
    public IReadOnlyList<NetAddress> DnsServers { get; init; } = [];

    /// <summary>Also own 127.0.0.1/8 and ::1, delivered inside the stack without a device (the seed's <c>loopback</c> option).</summary>
    public bool EnableLoopback { get; init; } = true;

    /// <summary>The MTU used while no device is attached; an attached device's MTU replaces it.</summary>
    public int Mtu { get; init; } = 1280;

    /// <summary>
    /// Bytes of received datagrams a UDP socket holds before it drops (counted as <see cref="Diagnostics.DropReason.UdpBufferFull"/>).
    /// Default 256 KiB, near Linux's default receive buffer, so the largest datagram fits several times over; the array is
    /// rented only while datagrams wait, so an idle socket holds none of it. <see cref="Compact"/> has the seed's 4 KiB.
    /// </summary>
    public int UdpReceiveBufferSize { get; init; } = 256 * 1024;

    /// <summary>Datagrams a UDP socket holds before it drops (counted). Default 128 (the seed's: 32).</summary>
    public int UdpReceiveQueueLength { get; init; } = 128;

    /// <summary>
    /// The largest datagram a UDP socket sends (larger → <see cref="Commands.BadRequestReason.MessageTooLarge"/>). Default
    /// <see cref="MaxUdpPayloadV6"/>: every datagram UDP can carry (<see cref="MaxUdpPayloadV4"/> over IPv4), as
    /// <c>System.Net.Sockets</c> allows; larger than the MTU means IP fragments. <see cref="Compact"/> has the seed's 4 KiB.
    /// </summary>
    public int UdpSendBufferSize { get; init; } = MaxUdpPayloadV6;

    /// <summary>The largest UDP payload over IPv4: 65,535 − 20 (IPv4 header) − 8 (UDP header).</summary>
    public const int MaxUdpPayloadV4 = 65_507;

    /// <summary>The largest UDP payload over IPv6 without jumbograms: 65,535 (payload length) − 8 (UDP header).</summary>
    public const int MaxUdpPayloadV6 = 65_527;

    /// <summary>
    /// The seed crate's small buffers — UDP and raw 4 KiB × 32 packets, 4 KiB largest datagram — for many sockets in little
    /// memory (an embedded device, a test with thousands of stacks). Combine with <c>with { … }</c>.
    /// </summary>
    public static NetstackOptions Compact { get; } = new()
    {
        UdpReceiveBufferSize = 4 * 1024,
        UdpReceiveQueueLength = 32,
        UdpSendBufferSize = 4 * 1024,
    };

    /// <summary>Bytes of received packets a raw socket holds.</summary>
    public int RawReceiveBufferSize { get; init; } = 4 * 1024;

    /// <summary>Packets a raw socket holds.</summary>
    public int RawReceiveQueueLength { get; init; } = 32;

    /// <summary>The largest packet a raw socket sends.</summary>
    public int RawSendBufferSize { get; init; } = 4 * 1024;

    /// <summary>TCP settings for connections that do not bring their own.</summary>
    public TcpSettings Tcp { get; init; } = new();

    /// <summary>
    /// The command queue's room: commands the engine takes in one round of a pass. A command submitted while this many are
    /// waiting already is not refused — it waits its turn (FIFO) for room in a later round, its task or reply observable
    /// still pending, and cancelling (or disposing the subscription) withdraws it. So a burst from thousands of connections
    /// is admitted as the engine catches up, and each round still leaves time for frames and timers. Nothing blocks a
    /// thread, the engine's own least of all. See <see cref="CommandQueueLimit"/> for the hard bound and docs/architecture.md.
    /// </summary>
    public int CommandQueueCapacity { get; init; } = 1024;

    /// <summary>
    /// The hard bound: commands waiting for the engine, in the queue and beyond its room, together. A command past it is
    /// answered at once with <see cref="Commands.NetstackErrorKind.CommandQueueFull"/> (counted in
    /// <see cref="Diagnostics.NetstackStats.CommandsRefused"/>): only a runaway producer that submits without waiting for its
    /// replies gets there (an ordinary caller has a handful of requests in flight per socket, and sockets are bounded by
    /// <see cref="MaxSockets"/>). The seed's channel had 32 commands; this bounds memory instead (~250 B a command).
    /// </summary>
    public int CommandQueueLimit { get; init; } = 256 * 1024;

    /// <summary>Received frames waiting for the engine; beyond it frames are dropped (counted as <see cref="Diagnostics.DropReason.InboxFull"/>).</summary>
    public int FrameQueueCapacity { get; init; } = 8192;

    /// <summary>The most sockets of all kinds one stack holds (beyond it: <see cref="Commands.NetstackErrorKind.LimitReached"/>).</summary>
    public int MaxSockets { get; init; } = 65536;

    /// <summary>Connections in TIME-WAIT at most; beyond it a closing connection skips TIME-WAIT (counted), as Linux does.</summary>
    public int MaxTimeWaitConnections { get; init; } = 16384;

    /// <summary>
    /// Makes the stack's choices reproducible, for tests: the secrets of initial sequence numbers (RFC 6528) and SYN cookies,
    /// and where ephemeral ports start, all derive from this seed, so the same traffic on the same virtual clock gives the same
    /// bytes. Null (the default) draws the secrets from a cryptographic generator, as a stack facing a network must: a known
    /// seed makes sequence numbers predictable to an attacker. <c>VirtualNetwork</c> sets one per stack.
    /// </summary>
    public int? RandomSeed { get; init; }

    /// <summary>Listeners answer with SYN cookies (RFC 4987) when their SYN queue is full.</summary>
    public bool EnableSynCookies { get; init; } = true;

    /// <summary>How long an incomplete IP datagram is kept waiting for its fragments.</summary>
    public TimeSpan ReassemblyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes all incomplete datagrams may hold together; beyond it new fragments are dropped (counted).</summary>
    public int ReassemblyMemoryLimit { get; init; } = 4 * 1024 * 1024;

    /// <summary>ICMP error messages the stack sends per second at most (RFC 1122 §4.3.2.8, RFC 4443 §2.4(f)).</summary>
    public int IcmpErrorRatePerSecond { get; init; } = 100;

    /// <summary>
    /// Let code after an <c>await</c> on the friendly async API (<c>SendAsync</c>, <c>ReadAsync</c>, the <c>Stream</c> …) resume
    /// directly on the engine's thread instead of the thread pool. It saves a thread hop per operation (request/response
    /// latency roughly triples without it, see docs/benchmarks.md) but that code then runs inside the engine's pass: it must
    /// never block (no synchronous <c>Stream.Read</c>, no <c>.Result</c>) and should be short. Off by default.
    /// </summary>
    public bool RunContinuationsInline { get; init; }

    /// <summary>
    /// Receive coalescing in the engine (software GRO): consecutive in-order TCP segments of one flow that wait in the inbox
    /// together are handed to IP and TCP as one segment, following Linux's GRO rules (same headers and options, nothing but ACK
    /// and a final PSH, no gap). It saves a parse, a lookup and a receive per segment, and most pure ACKs: the receiver answers
    /// a run with one ACK, as Linux does under GRO — a stretch ACK, which a sender on RFC 3465's L = 2·SMSS grows its slow
    /// start by less. Runs form only when frames wait together (an in-memory pipe, a loaded engine). On by default, as GRO
    /// is on a Linux network card; false hands every segment to TCP as it came (docs/benchmarks.md, "Issue 16: receive
    /// coalescing in the engine", says what it buys).
    /// </summary>
    public bool CoalesceReceivedSegments { get; init; } = true;

    /// <summary>
    /// Echo requests to an address an interceptor answers for (<see cref="Commands.Command.Intercept"/>): answered by the
    /// stack from that address (true, the default), or left to the application, which sees them on a raw ICMP socket (false).
    /// </summary>
    public bool AnswerInterceptedEcho { get; init; } = true;

    /// <summary>The TTL / hop limit of packets the stack sends.</summary>
    public byte DefaultTimeToLive { get; init; } = 64;

    /// <summary>How the stack behaves on an Ethernet device: MAC address, VLAN, neighbour cache, DAD, router discovery.</summary>
    public Link.EthernetSettings Ethernet { get; init; } = new();

    /// <summary>Static routes, used on an Ethernet device to pick each packet's next hop (connected prefixes need none):
    /// <c>Routes = [Route.Default(NetAddress.Parse("10.0.0.254"))]</c>. Ignored on an IP device.</summary>
    public IReadOnlyList<Route> Routes { get; init; } = [];
    /// <summary>
    /// Protocol engines behind the one <see cref="Netstack"/>, each with its own thread, state and device queue: TCP flows are
    /// placed on an engine by a hash of their addresses and ports, listeners listen on every engine, and stats and the socket
    /// table merge (docs/sharding.md). More than one needs a device with as many queues (<see cref="IMultiQueuePacketDevice"/>).
    /// Default 1. Limits such as <see cref="MaxSockets"/> and the queues hold per engine.
    /// </summary>
    public int Engines { get; init; } = 1;

    /// <summary>Checks the values and throws <see cref="ArgumentException"/> naming the first that is wrong.</summary>
    public void Validate()
    {
        static void Require(bool ok, string what)
        {
            if (!ok) throw new ArgumentException($"Invalid NetstackOptions: {what}.");
        }
        Require(Addresses is not null, "Addresses is null");
        Require(DnsServers is not null && DnsServers.All(server => !server.IsUnspecified), "DnsServers is null or holds an unspecified address");
        Require(Mtu is >= 576 and <= 65535, $"Mtu {Mtu} must be within 576..65535");
        Require(UdpReceiveBufferSize > 0 && UdpReceiveQueueLength > 0, "UDP receive buffer and queue must be positive");
        Require(UdpSendBufferSize is > 0 and <= MaxUdpPayloadV6, $"UdpSendBufferSize must be within 1..{MaxUdpPayloadV6}");
        Require(RawReceiveBufferSize > 0 && RawReceiveQueueLength > 0, "raw receive buffer and queue must be positive");
        Require(RawSendBufferSize is > 0 and <= 65535, "RawSendBufferSize must be within 1..65535");
        Require(CommandQueueCapacity > 0, "CommandQueueCapacity must be positive");
        Require(CommandQueueLimit >= CommandQueueCapacity, "CommandQueueLimit must be at least CommandQueueCapacity");
        Require(FrameQueueCapacity > 0, "FrameQueueCapacity must be positive");
        Require(MaxSockets > 0, "MaxSockets must be positive");
        Require(MaxTimeWaitConnections >= 0, "MaxTimeWaitConnections must not be negative");
        Require(ReassemblyTimeout > TimeSpan.Zero, "ReassemblyTimeout must be positive");
        Require(ReassemblyMemoryLimit >= 0, "ReassemblyMemoryLimit must not be negative");
        Require(IcmpErrorRatePerSecond >= 0, "IcmpErrorRatePerSecond must not be negative");
        Require(DefaultTimeToLive > 0, "DefaultTimeToLive must be positive");
        Require(Engines is >= 1 and <= 64, $"Engines {Engines} must be within 1..64");
        Require(Tcp is not null, "Tcp is null");
        Require(Routes is not null && Routes.All(r => r.Destination.IsV6 == r.Gateway.IsV6 && r.PrefixLength >= 0
            && r.PrefixLength <= (r.Destination.IsV6 ? 128 : 32) && !r.Gateway.IsUnspecified && !r.Gateway.IsMulticast),
            "Routes is null or holds a route with a bad prefix length, a gateway of the other family, or a non-unicast gateway");
        Require(Ethernet is not null, "Ethernet is null");
        Ethernet!.Validate();
        Tcp!.Validate();
    }
}
