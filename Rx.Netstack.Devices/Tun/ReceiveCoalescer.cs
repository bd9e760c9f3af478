using System.Buffers.Binary;
using System.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Devices;

/// <summary>
/// Receive coalescing for a TUN descriptor without offloads (GRO in software): the packets of one read burst are held, and a
/// run of consecutive in-order TCP segments of one flow is handed to the stack as one larger segment — one pass of IP and TCP
/// input, and one ACK decision, instead of one per 1500-byte packet. The kernel's GRO does the same under a network card.
/// </summary>
/// <remarks>
/// <para>A run is merged only when nothing is lost by merging (Linux's <c>tcp_gro_receive</c> rules): the same addresses,
/// ports, TOS/traffic class and TTL/hop limit; IPv4 without options and not a fragment, IPv6 without extension headers; each
/// segment starting where the previous ended, carrying the same ACK number, window and TCP options byte for byte, and only
/// the ACK flag (the last may add PSH); every segment but the last of the first one's size; at most 64 KiB in all. Anything
/// else — a SYN, a FIN, a RST, a pure ACK, a UDP datagram — goes through as it came, in its place.</para>
/// <para>Checksums: the device verifies each segment of a run (the stack cannot check what it no longer sees) and gives the
/// merged segment a correct checksum from the segments' payload sums, so the stack's own check still holds; a run with a
/// bad segment is delivered segment by segment, and the stack counts the bad one as it would have.</para>
/// <para>Not thread-safe: owned by the device's reader thread.</para>
/// </remarks>
internal sealed class ReceiveCoalescer
{
    /// <summary>Packets held per burst at most (the device's reads per poll()).</summary>
    public const int MaxPackets = 64;

    /// <summary>Room one read needs: the largest IP packet, so a read never truncates whatever the MTU became.</summary>
    public const int ReadRoom = 65536;

    /// <summary>The largest merged packet: the IP total length's limit.</summary>
    private const int MaxMerged = 65535;

    private const byte Tcp = 6;
    private const byte FlagAck = 0x10, FlagPsh = 0x08;

    // ---------------------------------------------------------------- state

    /// <summary>The burst's packets, back to back (each read gets <see cref="ReadRoom"/> at most).</summary>
    private readonly byte[] _batch = new byte[ReadRoom * 3];

    /// <summary>Where each held packet starts in <see cref="_batch"/>, and its length.</summary>
    private readonly int[] _start = new int[MaxPackets], _length = new int[MaxPackets];

    /// <summary>Packets held.</summary>
    private int _count;

    /// <summary>Bytes of <see cref="_batch"/> in use.</summary>
    private int _used;

    /// <summary>Where a merged packet is built: a stack takes the buffer of a merged packet (8 KiB or more) instead of copying it,
    /// and the next one is built in a fresh buffer from the pool (see <see cref="DeviceReadBuffer"/>).</summary>
    private readonly DeviceReadBuffer _merged = new();

    /// <summary>Segments that went into merged packets (each merged packet counts all of its segments).</summary>
    public long SegmentsCoalesced;

    /// <summary>Merged packets delivered.</summary>
    public long PacketsMerged;

    /// <summary>Where the next read goes; empty when the burst is full (flush first).</summary>
    public Span<byte> NextReadBuffer => _count < MaxPackets && _batch.Length - _used >= ReadRoom ? _batch.AsSpan(_used, ReadRoom) : default;

    /// <summary>Keeps the packet just read into <see cref="NextReadBuffer"/>.</summary>
    public void Commit(int length)
    {
        _start[_count] = _used;
        _length[_count] = length;
        _count++;
        _used += length;
    }

    /// <summary>Hands every held packet to <paramref name="deliver"/>, in order, runs merged; then holds none.</summary>
    public void Flush(IObserver<ReadOnlyMemory<byte>> deliver)
    {
        try
        {
            int i = 0;
            while (i < _count)
            {
                int end = RunEnd(i);
                if (end - i >= 2 && TryMerge(i, end, out int mergedLength))
                {
                    SegmentsCoalesced += end - i;
                    PacketsMerged++;
                    _merged.Deliver(deliver, 0, mergedLength);
                }
                else
                {
                    for (int k = i; k < end; k++) deliver.OnNext(new ReadOnlyMemory<byte>(_batch, _start[k], _length[k]));
                }
                i = end;
            }
        }
        finally
        {
            _count = 0;
            _used = 0;
        }
    }

    private Span<byte> Packet(int k) => _batch.AsSpan(_start[k], _length[k]);

    /// <summary>The segment's layout if it may start or join a run: a data segment with ACK (and maybe PSH) only.</summary>
    private readonly record struct Segment(int IpHeaderLength, int TcpHeaderLength, int PayloadLength, uint Sequence, byte Flags)
    {
        public int PayloadStart => IpHeaderLength + TcpHeaderLength;
    }

    private static bool TryParse(ReadOnlySpan<byte> packet, out Segment segment)
    {
        segment = default;
        int ipHeader, total;
        if (packet.Length < 20) return false;
        switch (packet[0] >> 4)
        {
            case 4:
                ipHeader = (packet[0] & 0x0F) * 4;
                total = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
                // No IPv4 options (they would have to match too), not a fragment, TCP, and the length the read says.
                if (ipHeader != Ipv4Header.HeaderLength || packet[9] != Tcp || total != packet.Length) return false;
                if ((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) != 0) return false;
                break;
            case 6:
                ipHeader = Ipv6Header.HeaderLength;
                if (packet.Length < ipHeader || packet[6] != Tcp) return false; // extension headers: as it came
                total = ipHeader + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
                if (total != packet.Length) return false;
                break;
            default:
                return false;
        }
        if (packet.Length < ipHeader + TcpHeader.MinHeaderLength) return false;
        ReadOnlySpan<byte> tcp = packet[ipHeader..];
        int tcpHeader = (tcp[12] >> 4) * 4;
        byte flags = tcp[13];
        int payload = packet.Length - ipHeader - tcpHeader;
        if (tcpHeader < TcpHeader.MinHeaderLength || payload <= 0 || (flags & ~FlagPsh) != FlagAck) return false;
        segment = new Segment(ipHeader, tcpHeader, payload, BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), flags);
        return true;
    }

    /// <summary>The end (exclusive) of the run that starts at packet <paramref name="first"/>: just it, or it and the segments that may join it.</summary>
    private int RunEnd(int first)
    {
        ReadOnlySpan<byte> head = Packet(first);
        if (!TryParse(head, out Segment lead) || (lead.Flags & FlagPsh) != 0) return first + 1;
        Segment previous = lead;
        int total = head.Length;
        int k = first + 1;
        for (; k < _count; k++)
        {
            ReadOnlySpan<byte> packet = Packet(k);
            // The previous one must be full-sized and without PSH: a short or pushed segment ends the run, as in GRO.
            if (previous.PayloadLength != lead.PayloadLength || (previous.Flags & FlagPsh) != 0) break;
            if (!TryParse(packet, out Segment next) || next.IpHeaderLength != lead.IpHeaderLength || next.TcpHeaderLength != lead.TcpHeaderLength) break;
            if (next.Sequence != previous.Sequence + (uint)previous.PayloadLength) break;
            if (total + next.PayloadLength > MaxMerged || !SameFlowAndHeaders(head, packet, lead)) break;
            total += next.PayloadLength;
            previous = next;
        }
        return k;
    }

    /// <summary>
    /// True when the IP headers agree but for length, id and checksum, and the TCP headers but for the sequence number,
    /// flags' PSH and checksum: ports, ACK, window, urgent pointer and options.
    /// </summary>
    private static bool SameFlowAndHeaders(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Segment layout)
    {
        if (layout.IpHeaderLength == Ipv4Header.HeaderLength)
        {
            // Version/IHL, TOS; TTL, protocol; addresses (id, flags/fragment and checksum may differ).
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

    /// <summary>
    /// Builds packets [<paramref name="first"/>, <paramref name="end"/>) as one in <see cref="_merged"/>: the first's headers,
    /// all payloads, the last's flags, lengths and checksums made right. False when a segment's checksum is wrong.
    /// </summary>
    private bool TryMerge(int first, int end, out int mergedLength)
    {
        mergedLength = 0;
        ReadOnlySpan<byte> head = Packet(first);
        if (!TryParse(head, out Segment lead)) return false; // RunEnd made a run of it: it parses
        bool v4 = lead.IpHeaderLength == Ipv4Header.HeaderLength;
        NetAddress source = v4 ? NetAddress.ReadV4(head[12..]) : NetAddress.ReadV6(head[8..]);
        NetAddress destination = v4 ? NetAddress.ReadV4(head[16..]) : NetAddress.ReadV6(head[24..]);

        // Verify every segment, keeping each payload's sum for the merged checksum.
        ulong payloadSum = 0;
        int payloadOffset = 0;
        int headers = lead.PayloadStart;
        Span<byte> target = _merged.Span;
        Debug.Assert(target.Length >= MaxMerged, "a merged packet fits its buffer");
        head[..headers].CopyTo(target);
        int at = headers;
        byte lastFlags = lead.Flags;
        for (int k = first; k < end; k++)
        {
            ReadOnlySpan<byte> packet = Packet(k);
            ReadOnlySpan<byte> tcp = packet[lead.IpHeaderLength..];
            ReadOnlySpan<byte> payload = packet[headers..];
            uint header = Checksum.Accumulate(tcp[..lead.TcpHeaderLength], Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, tcp.Length));
            uint data = Checksum.Accumulate(payload);
            if (Fold((ulong)header + data) != 0xFFFF) return false; // the stack will see and count the bad one
            // A payload that starts at an odd offset of the merged one contributes its sum byte-swapped (RFC 1071 §2(B)).
            ushort folded = (ushort)Fold(data);
            payloadSum += (payloadOffset & 1) == 0 ? folded : (ushort)(folded << 8 | folded >> 8);
            payloadOffset += payload.Length;
            payload.CopyTo(target[at..]);
            at += payload.Length;
            lastFlags = tcp[13];
        }
        mergedLength = at;
        Span<byte> merged = target[..mergedLength];
        if (v4)
        {
            BinaryPrimitives.WriteUInt16BigEndian(merged[2..], (ushort)mergedLength);
            merged[10] = 0;
            merged[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(merged[10..], Checksum.Compute(merged[..Ipv4Header.HeaderLength]));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(merged[4..], (ushort)(mergedLength - Ipv6Header.HeaderLength));
        }
        Span<byte> mergedTcp = merged[lead.IpHeaderLength..];
        mergedTcp[13] = lastFlags;
        mergedTcp[16] = 0;
        mergedTcp[17] = 0;
        uint headerSum = Checksum.Accumulate(mergedTcp[..lead.TcpHeaderLength], Checksum.PseudoHeader(source, destination, IpProtocol.Tcp, mergedTcp.Length));
        ushort checksum = (ushort)~Fold((ulong)headerSum + payloadSum);
        BinaryPrimitives.WriteUInt16BigEndian(mergedTcp[16..], checksum);
        return true;
    }

    /// <summary>The one's-complement sum folded to 16 bits.</summary>
    private static uint Fold(ulong sum)
    {
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (uint)sum;
    }
}
