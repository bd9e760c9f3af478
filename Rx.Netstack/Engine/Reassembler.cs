using System.Buffers;
using System.Buffers.Binary;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// Reassembles IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5) fragments into whole packets that re-enter IP input as if they
/// had arrived unfragmented. Overlapping fragments discard the whole datagram (RFC 5722 for IPv6; the same rule for IPv4,
/// as Linux does); exact duplicates are ignored. Incomplete datagrams time out and all of them together are held within a
/// memory limit. Buffers come from the shared pool and go back when a datagram completes, times out or is discarded.
/// </summary>
internal sealed class Reassembler : TimerOwner
{
    private const int MaxDatagram = 65535;

    private readonly Dictionary<Key, Entry> _entries = [];
    private readonly TimeSpan _timeout;
    private readonly int _memoryLimit;
    private readonly NetstackCounters _counters;
    private readonly Action<Entry> _onTimeout;
    private int _memoryInUse;
    private Instant _earliest = Instant.Never;

    internal readonly record struct Key(NetAddress Source, NetAddress Destination, uint Identification, byte Protocol);

    /// <summary>One incomplete datagram.</summary>
    internal sealed class Entry
    {
        public required Key Id;
        public byte[] Buffer = [];
        public int HeaderLength;            // unfragmentable header copied from the first fragment (0 until it arrives)
        public int TotalPayload = -1;       // known once the last fragment arrives
        public readonly List<(int Start, int End)> Ranges = [];
        public Instant Deadline;
        public bool IsV6;
        public NetAddress Source => Id.Source;
        public NetAddress Destination => Id.Destination;
    }

    public Reassembler(TimeSpan timeout, int memoryLimit, NetstackCounters counters, Action<Entry> onTimeout)
    {
        _timeout = timeout;
        _memoryLimit = memoryLimit;
        _counters = counters;
        _onTimeout = onTimeout;
    }

    public int MemoryInUse => _memoryInUse;
    public int Count => _entries.Count;

    public override Instant PollAt => _earliest;

    /// <summary>
    /// Adds one fragment. <paramref name="header"/> is the packet's unfragmentable part (IPv4 header; IPv6 fixed header),
    /// <paramref name="data"/> the fragment's data at byte <paramref name="offset"/> of the original payload.
    /// Returns a whole packet when this fragment completed its datagram; the span stays valid until the next call.
    /// </summary>
    public bool TryAdd(bool isV6, NetAddress source, NetAddress destination, uint identification, byte protocol,
        ReadOnlySpan<byte> header, int offset, ReadOnlySpan<byte> data, bool moreFragments, Instant now, out ReadOnlySpan<byte> packet)
    {
        packet = default;
        ReleaseCompleted();
        int end = offset + data.Length;
        // IPv4's total length counts its header; IPv6's payload length does not count the fixed header (RFC 8200 §3), so a
        // whole IPv6 datagram may be 40 bytes longer than 65535.
        int limit = isV6 ? MaxDatagram - (header.Length - Ipv6Header.HeaderLength) : MaxDatagram - header.Length;
        if ((moreFragments && (data.Length % 8) != 0) || end > limit || data.Length == 0 && moreFragments)
        {
            _counters.Drop(DropReason.FragmentRejected);
            return false;
        }

        var key = new Key(source, destination, identification, protocol);
        if (!_entries.TryGetValue(key, out Entry? entry))
        {
            entry = new Entry { Id = key, Deadline = now + _timeout, IsV6 = isV6 };
            _entries.Add(key, entry);
            if (entry.Deadline < _earliest) _earliest = entry.Deadline;
        }

        foreach (var (s, e) in entry.Ranges)
        {
            if (s == offset && e == end) return false; // exact duplicate: ignore
            if (offset < e && s < end)
            {
                // RFC 5722: overlapping fragments → discard the datagram silently.
                Discard(entry);
                _counters.Drop(DropReason.FragmentRejected);
                return false;
            }
        }
        if (!moreFragments)
        {
            if (entry.TotalPayload >= 0 && entry.TotalPayload != end || entry.Ranges.Exists(r => r.End > end))
            {
                Discard(entry);
                _counters.Drop(DropReason.FragmentRejected);
                return false;
            }
            entry.TotalPayload = end;
        }
        else if (entry.TotalPayload >= 0 && end > entry.TotalPayload)
        {
            Discard(entry);
            _counters.Drop(DropReason.FragmentRejected);
            return false;
        }

        int headerRoom = isV6 ? Ipv6Header.HeaderLength : Ipv4Header.MaxHeaderRoom;
        if (!EnsureCapacity(entry, headerRoom + end))
        {
            Discard(entry);
            _counters.Drop(DropReason.ReassemblyMemoryFull);
            return false;
        }
        data.CopyTo(entry.Buffer.AsSpan(headerRoom + offset));
        if (offset == 0)
        {
            header.CopyTo(entry.Buffer);
            entry.HeaderLength = header.Length;
        }
        entry.Ranges.Add((offset, end));

        if (entry.TotalPayload < 0 || entry.HeaderLength == 0 || !Covers(entry.Ranges, entry.TotalPayload)) return false;

        // Complete: slide the header to sit right before the payload and make it describe an unfragmented packet.
        int start = headerRoom - entry.HeaderLength;
        Span<byte> buffer = entry.Buffer;
        buffer[..entry.HeaderLength].CopyTo(buffer[start..]);
        Span<byte> whole = buffer.Slice(start, entry.HeaderLength + entry.TotalPayload);
        if (isV6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(whole[4..], (ushort)entry.TotalPayload);
            whole[6] = protocol; // the fragment header's next header becomes the fixed header's
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(whole[2..], (ushort)whole.Length);
            BinaryPrimitives.WriteUInt16BigEndian(whole[6..], 0); // no flags, offset 0
            whole[10] = whole[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(whole[10..], Checksum.Compute(whole[..entry.HeaderLength]));
        }
        _entries.Remove(key);
        _completed = entry;
        _counters.DatagramsReassembled++;
        packet = whole;
        return true;
    }

    private Entry? _completed;

    /// <summary>Returns the buffer of the datagram handed out by the last completing <see cref="TryAdd"/>.</summary>
    public void ReleaseCompleted()
    {
        if (_completed is null) return;
        Free(_completed);
        _completed = null;
    }

    private static bool Covers(List<(int Start, int End)> ranges, int total)
    {
        ranges.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        int reached = 0;
        foreach (var (s, e) in ranges)
        {
            if (s > reached) return false;
            reached = Math.Max(reached, e);
        }
        return reached >= total;
    }

    private bool EnsureCapacity(Entry entry, int needed)
    {
        if (entry.Buffer.Length >= needed) return true;
        int size = Math.Max(needed, Math.Min(MaxDatagram + 64, Math.Max(2048, entry.Buffer.Length * 2)));
        byte[] bigger = ArrayPool<byte>.Shared.Rent(size);
        int growth = bigger.Length - entry.Buffer.Length;
        if (_memoryInUse + growth > _memoryLimit)
        {
            ArrayPool<byte>.Shared.Return(bigger);
            return false;
        }
        entry.Buffer.AsSpan().CopyTo(bigger);
        if (entry.Buffer.Length > 0) ArrayPool<byte>.Shared.Return(entry.Buffer);
        entry.Buffer = bigger;
        _memoryInUse += growth;
        return true;
    }

    private void Discard(Entry entry)
    {
        _entries.Remove(entry.Id);
        Free(entry);
    }

    private void Free(Entry entry)
    {
        if (entry.Buffer.Length > 0)
        {
            _memoryInUse -= entry.Buffer.Length;
            ArrayPool<byte>.Shared.Return(entry.Buffer);
            entry.Buffer = [];
        }
    }

    public override void OnTimer(Instant now)
    {
        ReleaseCompleted();
        Instant earliest = Instant.Never;
        List<Entry>? expired = null;
        foreach (Entry entry in _entries.Values)
        {
            if (entry.Deadline <= now) (expired ??= []).Add(entry);
            else if (entry.Deadline < earliest) earliest = entry.Deadline;
        }
        _earliest = earliest;
        if (expired is null) return;
        foreach (Entry entry in expired)
        {
            _counters.Drop(DropReason.ReassemblyTimeout);
            _onTimeout(entry); // may quote the first fragment in an ICMP time exceeded (RFC 792, RFC 8200 §4.5)
            Discard(entry);
        }
    }

    /// <summary>The first fragment's header and the start of its data, for an ICMP time-exceeded quote.</summary>
    public static ReadOnlySpan<byte> FirstFragmentQuote(Entry entry, int maxLength)
    {
        if (entry.HeaderLength == 0) return default;
        int headerRoom = entry.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.MaxHeaderRoom;
        int firstEnd = 0;
        foreach (var (s, e) in entry.Ranges) if (s == 0) firstEnd = e;
        int start = headerRoom - entry.HeaderLength;
        entry.Buffer.AsSpan(0, entry.HeaderLength).CopyTo(entry.Buffer.AsSpan(start));
        return entry.Buffer.AsSpan(start, Math.Min(maxLength, entry.HeaderLength + firstEnd));
    }

    public void Clear()
    {
        ReleaseCompleted();
        foreach (Entry entry in _entries.Values) Free(entry);
        _entries.Clear();
        _earliest = Instant.Never;
    }
}
