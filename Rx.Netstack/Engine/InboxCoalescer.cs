using System.Buffers.Binary;
using System.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// Receive coalescing in the round (GRO in software, before IP): consecutive in-order TCP segments of one flow waiting in the
/// inbox are handed to IP and TCP as one larger segment — one parse, one demultiplexing, one receive and one ACK decision per
/// run instead of per frame. An in-memory pipe delivers a sender's whole burst before the receiver's round, so runs form there;
/// a device that delivers one frame per round forms none and nothing changes.
/// </summary>
/// <remarks>
/// <para>A frame joins the run only when nothing is lost by merging — the rules of Linux's <c>tcp_gro_receive</c>
/// (net/ipv4/tcp_offload.c): the same addresses, ports, TOS/traffic class and TTL/hop limit; IPv4 without options and not a
/// fragment, IPv6 without extension headers; the segment starts where the run ends and carries the same ACK number, window,
/// urgent pointer and TCP options byte for byte (so the same timestamp: a segment with a newer TSval starts a new run); only
/// the ACK flag (the last may add PSH: a pushed segment ends the run); the run's segments but the last all of the first's
/// size; at most 64 KiB of IP packet. A SYN, FIN, RST, URG, ECE or CWR segment, a pure ACK, an out-of-order segment, another
/// flow's segment, a UDP datagram — each goes through as it came, in its place.</para>
/// <para>Checksums: a frame the device did not vouch for has its IPv4 header and TCP checksums verified before it joins (a bad
/// one ends the run and reaches the stack alone, which counts the drop as before); the merged segment is then handed over as
/// verified. On a trusted link too, the IPv4 header checksum of every frame of a run of two or more is checked: only the first
/// header is kept, with its checksum written anew.</para>
/// <para>The merged segment is built in one buffer of this coalescer, reused for every run (the stack copies what it keeps:
/// the packet has no owner a connection could hold on to), so coalescing allocates nothing after the first run. Not
/// thread-safe: used by the round, under the engine lock.</para>
/// </remarks>
internal sealed class InboxCoalescer
{
    /// <summary>The largest merged packet: the IPv4 total length's limit (IPv6 is held to the same, header included).</summary>
    private const int MaxMerged = 65535;

    private const byte Tcp = 6;
    private const byte FlagAck = 0x10, FlagPsh = 0x08;

    // ---------------------------------------------------------------- state

    /// <summary>Where the merged packet is built (made on the first run of two, then reused).</summary>
    private byte[]? _merged;

    /// <summary>The run's first frame (its headers lead the merged packet); valid while <see cref="_active"/>.</summary>
    private InboxFrame _lead;

    /// <summary>The first frame's layout.</summary>
    private Segment _leadSegment;

    /// <summary>The last segment of the run: where the next must start, whether the run may go on, its flags (the merged
    /// segment carries its PSH).</summary>
    private Segment _last;

    /// <summary>Bytes of the merged packet so far (headers and payloads; 0 until a second frame joined).</summary>
    private int _mergedLength;

    /// <summary>Segments in the run.</summary>
    private int _count;

    /// <summary>True between <see cref="TryStart"/> returning true and <see cref="Finish"/>.</summary>
    private bool _active;

    /// <summary>Segments that went into merged packets (each merged packet counts all of its segments).</summary>
    public long SegmentsCoalesced { get; private set; }

    /// <summary>A frame's layout when it may be part of a run: an IP packet carrying a data segment with ACK (and maybe PSH) only.</summary>
    private readonly record struct Segment(int IpHeaderLength, int TcpHeaderLength, int PayloadLength, uint Sequence, byte Flags)
    {
        public int PayloadStart => IpHeaderLength + TcpHeaderLength;
    }

    /// <summary>
    /// Starts a run with <paramref name="frame"/> (an IP packet, not a link frame) if it may lead one: a data segment with the
    /// ACK flag only, verified or from a trusted link. False: hand it to the stack as it is.
    /// </summary>
    public bool TryStart(in InboxFrame frame)
    {
        Debug.Assert(!_active, "one run at a time");
        ReadOnlySpan<byte> packet = frame.Bytes;
        if (!TryParse(packet, out Segment segment) || (segment.Flags & FlagPsh) != 0) return false;
        // Its IPv4 header checksum waits for a second frame to join (TryJoin): alone, the frame goes to IP as it came, which
        // checks its header anyway.
        if (!frame.ChecksumTrusted && !TcpChecksumHolds(packet, segment)) return false;
        _lead = frame;
        _leadSegment = segment;
        _last = segment;
        _count = 1;
        _mergedLength = 0;
        _active = true;
        return true;
    }

    /// <summary>
    /// Adds <paramref name="frame"/> to the run if it continues it (see the remarks); its bytes are copied, so the caller may
    /// release it at once. False: the run is over and <paramref name="frame"/> is left alone.
    /// </summary>
    public bool TryJoin(in InboxFrame frame)
    {
        Debug.Assert(_active, "a run was started");
        // The previous segment must be full-sized and not pushed: a short or pushed segment ends the run, as in GRO.
        if (_last.PayloadLength != _leadSegment.PayloadLength || (_last.Flags & FlagPsh) != 0) return false;
        if (frame.FromLoopback != _lead.FromLoopback) return false;
        ReadOnlySpan<byte> packet = frame.Bytes;
        if (!TryParse(packet, out Segment next) || next.IpHeaderLength != _leadSegment.IpHeaderLength
            || next.TcpHeaderLength != _leadSegment.TcpHeaderLength) return false;
        if (next.Sequence != _last.Sequence + (uint)_last.PayloadLength) return false;
        int length = (_mergedLength == 0 ? _lead.Length : _mergedLength) + next.PayloadLength;
        if (length > MaxMerged) return false;
        ReadOnlySpan<byte> head = _lead.Bytes;
        if (!SameFlowAndHeaders(head, packet, _leadSegment)) return false;
        if (!HeaderChecksumHolds(packet, next) || !frame.ChecksumTrusted && !TcpChecksumHolds(packet, next)) return false;
        if (_mergedLength == 0 && !HeaderChecksumHolds(head, _leadSegment)) return false; // the merged packet keeps this header

        byte[] merged = _merged ??= new byte[MaxMerged];
        if (_mergedLength == 0)
        {
            head.CopyTo(merged);
            _mergedLength = head.Length;
        }
        packet[next.PayloadStart..].CopyTo(merged.AsSpan(_mergedLength));
        _mergedLength += next.PayloadLength;
        _last = next;
        _count++;
        return true;
    }

    /// <summary>
    /// Ends the run and gives what to hand to the stack: the first frame itself (marked verified: its checksums were) when
    /// nothing joined it, else the merged packet, valid until the next run starts. The caller releases the first frame's buffer
    /// either way.
    /// </summary>
    public InboxFrame Finish()
    {
        Debug.Assert(_active, "a run was started");
        _active = false;
        if (_count < 2) return _lead with { ChecksumTrusted = true };
        Span<byte> packet = _merged.AsSpan(0, _mergedLength);
        if (_leadSegment.IpHeaderLength == Ipv4Header.HeaderLength)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[2..], (ushort)_mergedLength);
            packet[10] = 0;
            packet[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(packet[10..], Checksum.Compute(packet[..Ipv4Header.HeaderLength]));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)(_mergedLength - Ipv6Header.HeaderLength));
        }
        packet[_leadSegment.IpHeaderLength + 13] = _last.Flags;
        SegmentsCoalesced += _count;
        // Every segment's checksum held (verified here or vouched for by the link): the merged one is passed as verified,
        // and its TCP checksum field is not recomputed (a link with checksum offload leaves it unset too). It has no owner:
        // the stack copies what it keeps, and the round is over with it before the next run starts.
        return new InboxFrame(_merged!, 0, _mergedLength, _lead.FromLoopback, ChecksumTrusted: true,
            Coalesced: new CoalescedRun(_count, _leadSegment.PayloadLength));
    }

    private static bool TryParse(ReadOnlySpan<byte> packet, out Segment segment)
    {
        segment = default;
        int ipHeader;
        if (packet.Length < Ipv4Header.HeaderLength + TcpHeader.MinHeaderLength) return false;
        switch (packet[0] >> 4)
        {
            case 4:
                ipHeader = (packet[0] & 0x0F) * 4;
                // No IPv4 options (they would have to match too), TCP, the whole frame (no link padding), not a fragment.
                if (ipHeader != Ipv4Header.HeaderLength || packet[9] != Tcp || BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != packet.Length) return false;
                if ((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) != 0) return false;
                break;
            case 6:
                ipHeader = Ipv6Header.HeaderLength;
                if (packet.Length < ipHeader + TcpHeader.MinHeaderLength || packet[6] != Tcp) return false; // extension headers: as it came
                if (ipHeader + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) != packet.Length) return false;
                break;
            default:
                return false;
        }
        ReadOnlySpan<byte> tcp = packet[ipHeader..];
        int tcpHeader = (tcp[12] >> 4) * 4;
        byte flags = tcp[13];
        int payload = packet.Length - ipHeader - tcpHeader;
        // ACK, maybe PSH, nothing else: no SYN, FIN, RST, URG, ECE, CWR (and the reserved bits of byte 12 clear).
        if (tcpHeader < TcpHeader.MinHeaderLength || payload <= 0 || (flags & ~FlagPsh) != FlagAck || (tcp[12] & 0x0F) != 0) return false;
        segment = new Segment(ipHeader, tcpHeader, payload, BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), flags);
        return true;
    }

    /// <summary>
    /// True when the IP headers agree but for length, identification and checksum, and the TCP headers but for the sequence
    /// number, PSH and checksum: ports, ACK number, data offset, window, urgent pointer and options.
    /// </summary>
    private static bool SameFlowAndHeaders(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Segment layout)
    {
        if (layout.IpHeaderLength == Ipv4Header.HeaderLength)
        {
            // Version/IHL, TOS (ECN included: a CE mark must reach TCP on its own); TTL, protocol; addresses.
            if (a[0] != b[0] || a[1] != b[1] || a[8] != b[8] || a[9] != b[9] || !a.Slice(12, 8).SequenceEqual(b.Slice(12, 8))) return false;
        }
        else
        {
            // Version, traffic class, flow label; next header, hop limit; addresses.
            if (!a[..4].SequenceEqual(b[..4]) || a[6] != b[6] || a[7] != b[7] || !a.Slice(8, 32).SequenceEqual(b.Slice(8, 32))) return false;
        }
        ReadOnlySpan<byte> ta = a[layout.IpHeaderLength..], tb = b[layout.IpHeaderLength..];
        return ta[..4].SequenceEqual(tb[..4])                 // ports
            && ta.Slice(8, 4).SequenceEqual(tb.Slice(8, 4))   // ACK number
            && ta[12] == tb[12]                               // data offset
            && ta.Slice(14, 2).SequenceEqual(tb.Slice(14, 2)) // window
            && ta.Slice(18, layout.TcpHeaderLength - 18).SequenceEqual(tb.Slice(18, layout.TcpHeaderLength - 18)); // urgent pointer, options
    }

    /// <summary>The IPv4 header checksum (IPv6 has none): checked on every frame, as only the first header is kept and its
    /// checksum is written anew.</summary>
    private static bool HeaderChecksumHolds(ReadOnlySpan<byte> packet, Segment segment) =>
        segment.IpHeaderLength != Ipv4Header.HeaderLength || Checksum.Verify(packet[..Ipv4Header.HeaderLength]);

    /// <summary>The TCP checksum of a frame the link did not vouch for.</summary>
    private static bool TcpChecksumHolds(ReadOnlySpan<byte> packet, Segment segment)
    {
        bool v4 = segment.IpHeaderLength == Ipv4Header.HeaderLength;
        NetAddress source = v4 ? NetAddress.ReadV4(packet[12..]) : NetAddress.ReadV6(packet[8..]);
        NetAddress destination = v4 ? NetAddress.ReadV4(packet[16..]) : NetAddress.ReadV6(packet[24..]);
        ReadOnlySpan<byte> tcp = packet[segment.IpHeaderLength..];
        return Checksum.Verify(tcp, Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, tcp.Length));
    }
}
