using System.Buffers.Binary;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;
using Xunit.Abstractions;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>
/// Hostile input: a seeded, bounded stream of random and mutated packets of every kind fed to a stack (B) that has live TCP
/// connections (v4 and v6) and UDP sockets, while those connections keep exchanging data with the other stack (A).
/// Set RXNETSTACK_FUZZ_PACKETS to fuzz more than the CI default (and RXNETSTACK_FUZZ_SEED to change the seed).
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int DefaultPackets = 200_000;
    private const int Batch = 500;

    [Fact]
    public void Random_and_mutated_packets_never_crash_the_stack_leak_or_disturb_live_connections()
    {
        int packets = int.TryParse(Environment.GetEnvironmentVariable("RXNETSTACK_FUZZ_PACKETS"), out int p) && p > 0 ? p : DefaultPackets;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("RXNETSTACK_FUZZ_SEED"), out int sd) ? sd : 20240607;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var pair = new StackPair(configure: o => o);
        var s = pair.Scheduler;

        // B: two UDP sockets that drain what they get, two listeners; A: live echo connections on v4 and v6.
        var udp4 = Bind(pair, new NetEndpoint(StackPair.B4, 53));
        var udp6 = Bind(pair, new NetEndpoint(StackPair.B6, 53));
        bool fuzzing = true;
        var v4 = new EchoTraffic(pair.A, pair.B, new NetEndpoint(StackPair.B4, 80), 3000, () => fuzzing, TimeSpan.FromMilliseconds(1));
        var v6 = new EchoTraffic(pair.A, pair.B, new NetEndpoint(StackPair.B6, 8080), 3000, () => fuzzing, TimeSpan.FromMilliseconds(1));
        v4.Listen(64);
        v6.Listen(64);
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        int baselineB = pair.B.SocketCount, baselineA = pair.A.SocketCount;

        // Templates: what A sends to B (to mutate) and what B sends to A (for ICMP errors quoting B's own connections).
        var toB = new List<byte[]>();
        var fromB = new List<byte[]>();
        using var tapToB = pair.DeviceB.Received.Subscribe(f => { if (toB.Count < 400) toB.Add(f.ToArray()); });
        using var tapFromB = pair.DeviceA.Received.Subscribe(f => { if (fromB.Count < 400) fromB.Add(f.ToArray()); });
        v4.Connect(4);
        v6.Connect(4);
        Assert.True(s.RunUntil(() => v4.Clients.All(c => c.Rounds > 2) && v6.Clients.All(c => c.Rounds > 2), TimeSpan.FromSeconds(10)));

        output.WriteLine($"setup done at {watch.Elapsed}");
        var fuzzer = new PacketFuzzer(new Random(seed), toB, fromB);
        NetstackStats before = pair.B.GetStats();
        long injected = 0;
        while (injected < packets)
        {
            for (int i = 0; i < Batch && injected < packets; i++, injected++)
                pair.DeviceA.Transmit.OnNext(fuzzer.Next());
            s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks); // the live connections keep going between batches
        }
        NetstackStats during = pair.B.GetStats();
        output.WriteLine($"fuzz done at {watch.Elapsed}");
        int roundsDuringFuzz = v4.Clients.Concat(v6.Clients).Sum(c => c.Rounds);

        // The live connections still transfer correctly and finish cleanly.
        fuzzing = false;
        Assert.True(s.RunUntil(() => v4.ClientsFinished == 4 && v6.ClientsFinished == 4, TimeSpan.FromMinutes(2)),
            $"clients finished: {v4.ClientsFinished + v6.ClientsFinished}/8; failures: {string.Join("; ", v4.Failures.Concat(v6.Failures))}");
        Assert.Empty(v4.Failures);
        Assert.Empty(v6.Failures);
        Assert.All(v4.Clients.Concat(v6.Clients), c => Assert.True(c.Intact, $"client {c.Local}: {c.BytesSent} sent, {c.BytesReceived} echoed"));

        output.WriteLine($"clients finished at {watch.Elapsed}");
        // After every timer had its turn (SYN-ACK retries, TIME-WAIT, reassembly timeout), memory and sockets are back.
        s.AdvanceBy(TimeSpan.FromMinutes(5).Ticks);
        Assert.Equal(baselineB, pair.B.SocketCount);
        Assert.Equal(baselineA, pair.A.SocketCount);
        Assert.Equal(0, pair.B.ReassemblyMemoryInUse);
        Assert.Equal(0, pair.A.ReassemblyMemoryInUse);

        output.WriteLine($"timers done at {watch.Elapsed}");
        // No exception escaped (the scheduler would have thrown) and none was swallowed by the engine's guard.
        NetstackStats after = pair.B.GetStats();
        Assert.Equal((0, 0), (after.SubscriberFaults, after.EngineFaults));
        StatsAssert.TallyMatchesTable(pair.A);
        StatsAssert.TallyMatchesTable(pair.B);
        Assert.Equal((0, 0), (pair.A.GetStats().SubscriberFaults, pair.A.GetStats().EngineFaults));

        // Accounting at the IP layer: every frame B took from its device, plus every datagram it reassembled, was either
        // dropped by the IP layer (counted by reason) or accepted as a fragment or a whole packet.
        long framesIn = after.FramesIn + after.DatagramsReassembled;
        long ipDrops = Drops(after, DropReason.InboxFull, DropReason.BadIpVersion, DropReason.Ipv4Malformed, DropReason.Ipv6Malformed,
            DropReason.Ipv6UnknownNextHeader, DropReason.NotForUs, DropReason.MulticastNotJoined);
        Assert.Equal(framesIn, ipDrops + after.FragmentsIn + after.Ipv4In + after.Ipv6In);
        // Transport layer: every whole packet went to UDP, TCP or ICMP (accepted or dropped by reason), was an unknown protocol,
        // or was an IPv6 "no next header" packet (counted as such).
        long udp = after.UdpIn + Drops(after, DropReason.UdpMalformed, DropReason.UdpNoSocket);
        long tcp = after.TcpIn + Drops(after, DropReason.TcpMalformed);
        long icmp = after.IcmpIn + Drops(after, DropReason.IcmpMalformed);
        long transport = udp + tcp + icmp + Drops(after, DropReason.UnknownProtocol, DropReason.Ipv6NoNextHeader)
            + after.MembershipIn + Drops(after, DropReason.IgmpMalformed); // IGMP (MLD is ICMPv6, counted there too)
        long ipIn = after.Ipv4In + after.Ipv6In;
        // (ICMP errors whose quote is unusable count as accepted ICMP and as a drop, so ICMP drops are a tolerance here.)
        Assert.InRange(ipIn - transport, -Drops(after, DropReason.IcmpMalformed) - after.MembershipIn, 0);
        Assert.InRange(Drops(after, DropReason.Ipv6NoNextHeader), 1, fuzzer.NoNextHeaderUpperBound);
        output.WriteLine($"no-next-header: {Drops(after, DropReason.Ipv6NoNextHeader):N0} counted of at most {fuzzer.NoNextHeaderUpperBound:N0} sent");

        // The fuzzer reached deep code, not only the parsers' first checks.
        Assert.True(after.DatagramsReassembled > 0, "no fragmented datagram was reassembled");
        Assert.True(pair.B.TcpCounters.ChallengeAcksSent > 0, "no challenge ACK was sent (RFC 5961)");
        Assert.True(pair.B.TcpCounters.IcmpErrorsAccepted > 0, "no ICMP error about a live connection passed RFC 5927's checks");
        Assert.True(Drops(after, DropReason.UdpNoSocket, DropReason.TcpNoConnection) > 0, "no datagram or segment for a closed port");

        output.WriteLine($"seed {seed}: {injected:N0} packets injected, {roundsDuringFuzz} echo rounds completed meanwhile");
        output.WriteLine($"B frames in {after.FramesIn:N0} (+{after.DatagramsReassembled:N0} reassembled); IP drops {ipDrops:N0}, fragments {after.FragmentsIn:N0}, whole packets {ipIn:N0}");
        output.WriteLine($"transport: UDP {udp:N0}, TCP {tcp:N0}, ICMP {icmp:N0}, unknown protocol {Drops(after, DropReason.UnknownProtocol):N0}, no-next-header {ipIn - transport:N0}");
        output.WriteLine("drops by reason: " + string.Join(", ", after.Drops.OrderBy(d => d.Key).Select(d => $"{d.Key} {d.Value:N0}")));
        output.WriteLine($"challenge ACKs sent {pair.B.TcpCounters.ChallengeAcksSent:N0}, suppressed {pair.B.TcpCounters.ChallengeAcksSuppressed:N0}; " +
            $"resets sent {pair.B.TcpCounters.ResetsSent:N0}; inbox drops during fuzz {during.Drops.GetValueOrDefault(DropReason.InboxFull) - before.Drops.GetValueOrDefault(DropReason.InboxFull)}");
        Assert.True(roundsDuringFuzz > 8, "the live connections made progress while being fuzzed");
        GC.KeepAlive(udp4);
        GC.KeepAlive(udp6);
    }

    private static long Drops(NetstackStats stats, params DropReason[] reasons) => reasons.Sum(r => stats.Drops.GetValueOrDefault(r));

    /// <summary>Binds a UDP socket on B and keeps receiving from it, so its queue never stays full.</summary>
    private static SocketHandle Bind(StackPair pair, NetEndpoint local)
    {
        var reply = (Reply.Bound)pair.Scheduler.Await(pair.B.Execute(new Command.Udp.Bind(local)));
        void Drain() => pair.B.Execute(new Command.Udp.Receive(reply.Socket)).Subscribe(r => { if (r is Reply.DatagramReceived) Drain(); });
        Drain();
        return reply.Socket;
    }
}

/// <summary>Makes the hostile packets: random bytes, blind mutations of captured packets, and well-formed forgeries of every kind.</summary>
internal sealed class PacketFuzzer(Random random, List<byte[]> toB, List<byte[]> fromB)
{
    private static readonly NetAddress[] V4Sources = [StackPair.A4, NetAddress.Parse("10.0.0.77"), NetAddress.Parse("198.18.0.9"), NetAddress.Parse("10.0.0.255")];
    private static readonly NetAddress[] V6Sources = [StackPair.A6, NetAddress.Parse("fd00::77"), NetAddress.Parse("2001:db8::9"), NetAddress.Parse("ff02::1")];
    private static readonly NetAddress[] V4Destinations = [StackPair.B4, StackPair.B4, StackPair.B4, NetAddress.Parse("10.0.0.255"), NetAddress.Parse("255.255.255.255"), NetAddress.Parse("10.0.0.3")];
    private static readonly NetAddress[] V6Destinations = [StackPair.B6, StackPair.B6, StackPair.B6, NetAddress.Parse("ff02::1"), NetAddress.Parse("fd00::3")];
    private static readonly ushort[] Ports = [80, 8080, 53, 9, 0, 65535];

    /// <summary>Packets that may have been IPv6 "no next header" (the only whole packets no transport counts).</summary>
    public long NoNextHeaderUpperBound { get; private set; }

    public byte[] Next()
    {
        byte[] packet = random.Next(12) switch
        {
            0 => RandomBytes(),
            1 or 2 => Mutate(Pick(toB) ?? RandomBytes()),
            3 => random.Next(4) == 0 ? InWindowAtLiveConnection() : BlindTcp(),
            4 => TcpWithRawOptions(),
            5 => TcpWithOptions(),
            6 => UdpPacket(),
            7 => IcmpErrorQuotingOurs(),
            8 => OtherIcmp(),
            9 or 10 => Fragments(),
            _ => Ipv6ExtensionHeaders(),
        };
        if (MayEndInNoNextHeader(packet)) NoNextHeaderUpperBound++;
        return packet;
    }

    /// <summary>
    /// Whether an IPv6 packet's header chain, walked leniently (hop-by-hop, routing, fragment and destination options headers
    /// followed as far as the bytes go), ends in "no next header" (59): the only packets the stack may count as such.
    /// </summary>
    private static bool MayEndInNoNextHeader(byte[] packet)
    {
        if (packet.Length < Ipv6Header.HeaderLength || packet[0] >> 4 != 6) return false;
        byte next = packet[6];
        int at = Ipv6Header.HeaderLength;
        while (next is 0 or 43 or 44 or 60 && at + 8 <= packet.Length)
        {
            int length = next == 44 ? 8 : 8 * (packet[at + 1] + 1);
            next = packet[at];
            at += length;
        }
        return next == 59;
    }

    private byte[]? Pick(List<byte[]> list) => list.Count == 0 ? null : list[random.Next(list.Count)];

    private bool V6 => random.Next(2) == 0;

    private NetAddress Source(bool v6) => v6 ? V6Sources[random.Next(V6Sources.Length)] : V4Sources[random.Next(V4Sources.Length)];

    private NetAddress Destination(bool v6) => v6 ? V6Destinations[random.Next(V6Destinations.Length)] : V4Destinations[random.Next(V4Destinations.Length)];

    private ushort Port() => random.Next(3) == 0 ? (ushort)random.Next(65536) : Ports[random.Next(Ports.Length)];

    private byte[] Bytes(int max)
    {
        byte[] b = new byte[random.Next(max + 1)];
        random.NextBytes(b);
        return b;
    }

    private byte[] RandomBytes()
    {
        byte[] b = Bytes(random.Next(4) == 0 ? 1500 : 80);
        if (b.Length > 0 && random.Next(2) == 0) b[0] = (byte)((random.Next(2) == 0 ? 0x45 : 0x60) | (b[0] & 0x0F & (random.Next(2) == 0 ? 0 : 0xF)));
        return b;
    }

    /// <summary>Blind mutations: bit flips, random bytes, truncation, extension, length fields rewritten.</summary>
    private byte[] Mutate(byte[] template)
    {
        var b = new List<byte>(template);
        int mutations = 1 + random.Next(4);
        for (int m = 0; m < mutations && b.Count > 0; m++)
        {
            switch (random.Next(6))
            {
                case 0: b[random.Next(b.Count)] ^= (byte)(1 << random.Next(8)); break;
                case 1: b[random.Next(b.Count)] = (byte)random.Next(256); break;
                case 2: int cut = random.Next(b.Count); b.RemoveRange(cut, b.Count - cut); break;
                case 3: b.AddRange(Bytes(64)); break;
                case 4 when b.Count > 6: // an IP length field
                    int at = b[0] >> 4 == 6 ? 4 : 2;
                    b[at] = (byte)random.Next(256);
                    b[at + 1] = (byte)random.Next(256);
                    break;
                default: b[Math.Min(b.Count - 1, random.Next(60))] = (byte)random.Next(256); break; // inside the headers
            }
        }
        return [.. b];
    }

    /// <summary>A blind attacker's TCP segment at a live connection: the real 4-tuple (from a captured packet), random
    /// sequence and acknowledgment numbers, random flags and data, a correct checksum.</summary>
    private byte[] BlindTcp()
    {
        if (Pick(toB) is not { } template || !Forge.TryReadTcp(template, out NetAddress src, out NetAddress dst, out TcpHeader h, out _))
            return TcpWithOptions();
        h.Sequence = new SeqNumber((uint)random.NextInt64());
        h.Acknowledgment = new SeqNumber((uint)random.NextInt64());
        h.Flags = (TcpFlags)random.Next(256);
        h.Window = (ushort)random.Next(65536);
        return Forge.Tcp(src, dst, h, Bytes(random.Next(3) == 0 ? 600 : 0));
    }

    /// <summary>
    /// An attacker who guessed the window of a live connection (RFC 5961's threat): a captured segment's 4-tuple, sequence
    /// number moved forward into the window, SYN or RST set, a newer timestamp so PAWS lets it in. B must answer with a
    /// challenge ACK and keep the connection (the test's live connections would fail otherwise) — unless the RST lands exactly
    /// on RCV.NXT, which the offsets here (past one 3,000-byte message) keep it from.
    /// </summary>
    private byte[] InWindowAtLiveConnection()
    {
        if (Pick(toB) is not { } template || !Forge.TryReadTcp(template, out NetAddress src, out NetAddress dst, out TcpHeader h, out _))
            return TcpWithOptions();
        h.Sequence += random.Next(3001, 12000);
        h.Flags = random.Next(2) == 0 ? TcpFlags.Syn : TcpFlags.Rst;
        if (h.HasTimestamps) h.TimestampValue += 100_000u;
        return Forge.Tcp(src, dst, h);
    }

    /// <summary>Every TCP option kind, well-formed or not: EOL, NOP, MSS, WS, SACK-permitted, SACK, timestamps, unknown kinds,
    /// wrong lengths, lengths running past the header.</summary>
    private byte[] TcpWithRawOptions()
    {
        var options = new List<byte>();
        int count = random.Next(8);
        for (int i = 0; i < count && options.Count < 40; i++)
        {
            byte kind = random.Next(10) switch { 0 => 0, 1 => 1, 2 => 2, 3 => 3, 4 => 4, 5 => 5, 6 => 8, 7 => 34, 8 => 253, _ => (byte)random.Next(256) };
            options.Add(kind);
            if (kind is 0 or 1) continue;
            int length = random.Next(5) == 0 ? random.Next(256) : kind switch { 2 => 4, 3 => 3, 4 => 2, 5 => 2 + 8 * random.Next(1, 5), 8 => 10, _ => random.Next(2, 12) };
            options.Add((byte)length);
            for (int j = 2; j < length && options.Count < 40; j++) options.Add((byte)random.Next(256));
        }
        bool v6 = V6;
        return Forge.TcpRawOptions(Source(v6), Destination(v6), Port(), Port(), (uint)random.NextInt64(), (uint)random.NextInt64(),
            (TcpFlags)random.Next(256), (ushort)random.Next(65536), [.. options], Bytes(random.Next(4) == 0 ? 100 : 0));
    }

    private byte[] TcpWithOptions()
    {
        bool v6 = V6;
        var h = new TcpHeader(Port(), Port(), (TcpFlags)(random.Next(4) == 0 ? random.Next(256) : (int)TcpFlags.Syn))
        {
            Sequence = new SeqNumber((uint)random.NextInt64()),
            Acknowledgment = new SeqNumber((uint)random.NextInt64()),
            Window = (ushort)random.Next(65536),
            MaxSegmentSize = (ushort)(random.Next(2) == 0 ? random.Next(65536) : 0),
            WindowScale = (sbyte)(random.Next(3) == 0 ? -1 : random.Next(20)),
            SackPermitted = random.Next(2) == 0,
            HasTimestamps = random.Next(2) == 0,
            TimestampValue = (uint)random.NextInt64(),
            TimestampEcho = (uint)random.NextInt64(),
        };
        int blocks = random.Next(5);
        for (int i = 0; i < blocks; i++) h.AddSackBlock(new SackBlock(new SeqNumber((uint)random.NextInt64()), new SeqNumber((uint)random.NextInt64())));
        return Forge.Tcp(Source(v6), Destination(v6), h, Bytes(random.Next(3) == 0 ? 200 : 0));
    }

    private byte[] UdpPacket()
    {
        bool v6 = V6;
        NetAddress src = Source(v6), dst = Destination(v6);
        byte[] packet = Forge.Udp(src, dst, Port(), random.Next(2) == 0 ? (ushort)53 : Port(), Bytes(random.Next(4) == 0 ? 1400 : 100));
        int udpAt = v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        switch (random.Next(6))
        {
            case 0: packet[udpAt + 6] = packet[udpAt + 7] = 0; break; // no checksum (fine on v4, not on v6)
            case 1: BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(udpAt + 4), (ushort)random.Next(65536)); break; // UDP length
        }
        return packet;
    }

    /// <summary>ICMP errors quoting a packet B really sent (its live connections), with the quote's sequence number kept or
    /// changed, every error type and code, a random MTU, and a quote cut at a random length.</summary>
    private byte[] IcmpErrorQuotingOurs()
    {
        if (Pick(fromB) is not { } sent) return OtherIcmp();
        bool v6 = sent[0] >> 4 == 6;
        byte[] quote = sent.AsSpan(0, Math.Min(sent.Length, 28 + random.Next(v6 ? 80 : 60))).ToArray();
        int tcpAt = v6 ? Ipv6Header.HeaderLength : (sent[0] & 0xF) * 4;
        if (random.Next(2) == 0 && quote.Length >= tcpAt + 8)
            BinaryPrimitives.WriteUInt32BigEndian(quote.AsSpan(tcpAt + 4), (uint)random.NextInt64());
        NetAddress from = v6 ? NetAddress.ReadV6(sent.AsSpan(24)) : NetAddress.ReadV4(sent.AsSpan(16));
        NetAddress to = v6 ? NetAddress.ReadV6(sent.AsSpan(8)) : NetAddress.ReadV4(sent.AsSpan(12));
        if (random.Next(4) == 0) from = Source(v6);
        byte type = (byte)(v6 ? random.Next(1, 5) : random.Next(3) switch { 0 => 3, 1 => 11, _ => 12 });
        byte code = (byte)random.Next(v6 ? 8 : 16);
        uint mtu = (uint)(random.Next(3) switch { 0 => random.Next(65536), 1 => random.Next(60, 1500), _ => 1280 + random.Next(300) });
        return Forge.Icmp(from, to, new IcmpHeader(type, code, Mtu: mtu, Pointer: (uint)random.Next(64)), quote);
    }

    private byte[] OtherIcmp()
    {
        bool v6 = V6;
        byte type = (byte)(random.Next(3) switch { 0 => v6 ? 128 : 8, 1 => v6 ? 129 : 0, _ => random.Next(256) });
        return Forge.Icmp(Source(v6), Destination(v6), new IcmpHeader(type, (byte)random.Next(3), (ushort)random.Next(65536), (ushort)random.Next(65536)),
            Bytes(random.Next(4) == 0 ? 1400 : 64));
    }

    /// <summary>
    /// Fragments of a UDP datagram or echo request: sometimes a complete set in random order, sometimes a random subset with
    /// duplicates, overlaps and bad offsets, ids from a small range so datagrams collide.
    /// </summary>
    private byte[] Fragments()
    {
        if (_pendingFragments.Count > 0)
        {
            byte[] next = _pendingFragments[^1];
            _pendingFragments.RemoveAt(_pendingFragments.Count - 1);
            return next;
        }
        bool v6 = V6;
        NetAddress src = random.Next(3) == 0 ? Source(v6) : (v6 ? StackPair.A6 : StackPair.A4), dst = Destination(v6);
        bool echo = random.Next(2) == 0;
        byte[] upper = echo
            ? Forge.IcmpMessage(src, dst, new IcmpHeader((byte)(v6 ? 128 : 8), 0, 1, 1), Bytes(3000))
            : Forge.UdpDatagram(src, dst, Port(), 53, Bytes(3000));
        IpProtocol protocol = echo ? (v6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp) : IpProtocol.Udp;
        uint id = (uint)random.Next(16);
        int chunk = 8 * random.Next(1, 200);
        var pieces = new List<byte[]>();
        for (int offset = 0; offset < upper.Length; offset += chunk)
        {
            int length = Math.Min(chunk, upper.Length - offset);
            bool more = offset + length < upper.Length;
            int at = offset;
            switch (random.Next(12))
            {
                case 0: at = Math.Max(0, offset - 8 * random.Next(1, 4)); break; // overlap
                case 1: continue; // missing: the datagram times out
                case 2: more = !more; break;
            }
            pieces.Add(Forge.Fragment(src, dst, protocol, id, at, more, upper.AsSpan(offset, length)));
            if (random.Next(10) == 0) pieces.Add(pieces[^1]); // duplicate
        }
        for (int i = pieces.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (pieces[i], pieces[j]) = (pieces[j], pieces[i]);
        }
        if (random.Next(4) == 0 && pieces.Count > 0) pieces[random.Next(pieces.Count)] = Mutate(pieces[random.Next(pieces.Count)]);
        _pendingFragments.AddRange(pieces);
        return _pendingFragments.Count > 0 ? Fragments() : RandomBytes();
    }

    private readonly List<byte[]> _pendingFragments = [];

    /// <summary>IPv6 with hop-by-hop, routing, destination options and unknown or absent next headers.</summary>
    private byte[] Ipv6ExtensionHeaders()
    {
        var chain = new List<byte>();
        byte[] kinds = [0, 43, 60, 59, 6, 17, 58, 200, 44];
        int count = random.Next(1, 4);
        byte first = kinds[random.Next(kinds.Length)];
        byte current = first;
        for (int i = 0; i < count && current is 0 or 43 or 60; i++)
        {
            byte next = kinds[random.Next(kinds.Length)];
            int units = random.Next(3);
            chain.Add(next);
            chain.Add((byte)units);
            for (int j = 2; j < 8 * (units + 1); j++) chain.Add((byte)(random.Next(3) == 0 ? random.Next(256) : 0));
            current = next;
        }
        chain.AddRange(Bytes(60));
        byte[] packet = new byte[Ipv6Header.HeaderLength + chain.Count];
        chain.CopyTo(packet, Ipv6Header.HeaderLength);
        Ipv6Header.Emit(packet, new Ipv6Header(Source(true), Destination(true), (IpProtocol)first), chain.Count);
        return packet;
    }
}
