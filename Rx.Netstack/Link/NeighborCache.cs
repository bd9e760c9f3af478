using System.Buffers;
using System.Diagnostics;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;

namespace Rx.Netstack.Link;

/// <summary>
/// The neighbour cache: IP address → MAC address with the reachability state machine of RFC 4861 §7.3 (Appendix C), used
/// for ARP neighbours too, as gVisor and Linux do (Linux calls it NUD). Packets to an INCOMPLETE neighbour wait in a bounded
/// queue per entry. A timer owner: its deadlines are solicitation retries and state changes; the earliest is kept as a
/// field and recomputed only when a deadline fires, so a packet sent costs a dictionary lookup and no timer work.
/// </summary>
internal sealed class NeighborCache(EthernetLayer link, EthernetSettings settings, NetstackCounters counters) : TimerOwner
{
    /// <summary>A packet waiting for its neighbour's address: a pooled array with the packet at <see cref="EthernetLayer.FrameRoom"/>.</summary>
    internal readonly record struct PendingPacket(byte[] Buffer, int Length);

    /// <summary>One neighbour.</summary>
    internal sealed class Entry(NetAddress address)
    {
        /// <summary>The neighbour's IP address (the key).</summary>
        public readonly NetAddress Address = address;

        /// <summary>Its MAC address; meaningless while <see cref="State"/> is INCOMPLETE.</summary>
        public MacAddress Mac;

        /// <summary>Where it is in the state machine.</summary>
        public NeighborState State;

        /// <summary>When the state's timer fires (Never: STALE has none).</summary>
        public Instant Deadline = Instant.Never;

        /// <summary>Solicitations sent in this INCOMPLETE or PROBE episode.</summary>
        public int Probes;

        /// <summary>Learned from a router advertisement (RFC 4861 §6.3.4 IsRouter).</summary>
        public bool IsRouter;

        /// <summary>When a packet last went to it: the least recently used STALE entry is replaced first.</summary>
        public Instant LastUsed;

        /// <summary>Packets waiting while INCOMPLETE, oldest first (made on the first one).</summary>
        public Queue<PendingPacket>? Pending;
    }

    /// <summary>What <see cref="Resolve"/> did with a packet.</summary>
    internal enum Resolution
    {
        /// <summary>The MAC address is known: send now.</summary>
        Ready,
        /// <summary>Copied into the entry's queue until the address is resolved.</summary>
        Queued,
        /// <summary>Dropped (counted): the cache is full of entries still resolving.</summary>
        Dropped,
    }

    /// <summary>The entries by IP address.</summary>
    private readonly Dictionary<NetAddress, Entry> _entries = [];

    /// <summary>No entry's deadline is earlier than this (it may be earlier than the true earliest: then a firing costs a
    /// scan and finds nothing due).</summary>
    private Instant _earliest = Instant.Never;

    /// <summary>Entries due in the current <see cref="OnTimer"/> (kept to avoid allocating one per firing).</summary>
    private readonly List<Entry> _due = [];

    public override Instant PollAt => _earliest;

    public int Count => _entries.Count;

    /// <summary>The entry for <paramref name="address"/>, if any.</summary>
    public Entry? Find(NetAddress address) => _entries.GetValueOrDefault(address);

    /// <summary>A snapshot for diagnostics.</summary>
    public List<NeighborInfo> Snapshot() =>
        [.. _entries.Values.Select(e => new NeighborInfo(e.Address, e.State == NeighborState.Incomplete ? null : e.Mac, e.State, e.IsRouter))];

    /// <summary>
    /// Finds the MAC address for a packet to the neighbour <paramref name="hop"/> (RFC 4861 §7.2.2, §7.3.3): a known one is
    /// used at once (a STALE one starts the DELAY timer); an unknown one gets an INCOMPLETE entry, the packet is queued and the
    /// first solicitation sent. The packet is copied before anything is sent, so the caller's buffer may be reused.
    /// </summary>
    public Resolution Resolve(NetAddress hop, ReadOnlySpan<byte> packet, Instant now, out MacAddress mac)
    {
        mac = default;
        if (_entries.TryGetValue(hop, out Entry? entry))
        {
            entry.LastUsed = now;
            switch (entry.State)
            {
                case NeighborState.Incomplete:
                    Enqueue(entry, packet);
                    return Resolution.Queued;
                case NeighborState.Stale:
                    SetState(entry, NeighborState.Delay, now + settings.DelayFirstProbeTime);
                    break;
            }
            mac = entry.Mac;
            return Resolution.Ready;
        }
        if (_entries.Count >= settings.NeighborCacheSize && !EvictOne())
        {
            counters.Drop(DropReason.NeighborCacheFull);
            return Resolution.Dropped;
        }
        entry = new Entry(hop) { State = NeighborState.Incomplete, LastUsed = now, Probes = 1 };
        _entries.Add(hop, entry);
        Enqueue(entry, packet);
        SetDeadline(entry, now + settings.RetransmitTime);
        link.Solicit(hop, unicast: null);
        return Resolution.Queued;
    }

    /// <summary>
    /// What a solicitation from the neighbour tells (an NS with a source link-layer address, RFC 4861 §7.2.3; an ARP request
    /// for one of our addresses, RFC 826): a missing entry is made STALE, a different MAC replaces the cached one (STALE),
    /// an INCOMPLETE entry becomes STALE and sends its queue.
    /// </summary>
    public void Learn(NetAddress address, MacAddress mac, Instant now)
    {
        if (!_entries.TryGetValue(address, out Entry? entry))
        {
            if (_entries.Count >= settings.NeighborCacheSize && !EvictOne()) return;
            entry = new Entry(address) { LastUsed = now };
            _entries.Add(address, entry);
            entry.Mac = mac;
            SetState(entry, NeighborState.Stale, Instant.Never);
            return;
        }
        if (entry.State == NeighborState.Incomplete)
        {
            entry.Mac = mac;
            SetState(entry, NeighborState.Stale, Instant.Never);
            SendPending(entry);
        }
        else if (entry.Mac != mac)
        {
            entry.Mac = mac;
            SetState(entry, NeighborState.Stale, Instant.Never);
        }
    }

    /// <summary>
    /// What an advertisement tells (RFC 4861 §7.2.5; an ARP reply is a solicited advertisement that overrides): only an existing
    /// entry changes. INCOMPLETE takes the address (REACHABLE if solicited, else STALE) and sends its queue; otherwise a
    /// different address without the override flag only makes a REACHABLE entry STALE, and a solicited one confirms the entry.
    /// </summary>
    /// <returns>False when there was no entry (the advertisement is ignored).</returns>
    public bool Advertise(NetAddress address, MacAddress? mac, bool solicited, bool @override, Instant now)
    {
        if (!_entries.TryGetValue(address, out Entry? entry)) return false;
        if (entry.State == NeighborState.Incomplete)
        {
            if (mac is not MacAddress known) return true; // nothing to resolve with
            entry.Mac = known;
            SetState(entry, solicited ? NeighborState.Reachable : NeighborState.Stale, solicited ? now + settings.ReachableTime : Instant.Never);
            SendPending(entry);
            return true;
        }
        bool different = mac is MacAddress m && m != entry.Mac;
        if (!@override && different)
        {
            if (entry.State == NeighborState.Reachable) SetState(entry, NeighborState.Stale, Instant.Never);
            return true;
        }
        if (mac is MacAddress newMac) entry.Mac = newMac;
        if (solicited) SetState(entry, NeighborState.Reachable, now + settings.ReachableTime);
        else if (different) SetState(entry, NeighborState.Stale, Instant.Never);
        return true;
    }

    /// <summary>Marks a neighbour as a router, or not (RFC 4861 §6.3.4, §7.2.5).</summary>
    public void SetRouter(NetAddress address, bool isRouter)
    {
        if (_entries.TryGetValue(address, out Entry? entry)) entry.IsRouter = isRouter;
    }

    public override void OnTimer(Instant now)
    {
        _due.Clear();
        Instant earliest = Instant.Never;
        foreach (Entry e in _entries.Values)
        {
            if (e.Deadline <= now) _due.Add(e);
            else earliest = Instant.Min(earliest, e.Deadline);
        }
        _earliest = earliest;
        foreach (Entry e in _due) Expire(e, now);
        _due.Clear();
    }

    /// <summary>A state's timer ran out (RFC 4861 Appendix C).</summary>
    private void Expire(Entry entry, Instant now)
    {
        switch (entry.State)
        {
            case NeighborState.Incomplete when entry.Probes < settings.MaxMulticastSolicit:
                entry.Probes++;
                SetDeadline(entry, now + settings.RetransmitTime);
                link.Solicit(entry.Address, unicast: null);
                break;
            case NeighborState.Reachable:
                SetState(entry, NeighborState.Stale, Instant.Never);
                break;
            case NeighborState.Delay:
                entry.Probes = 1;
                SetState(entry, NeighborState.Probe, now + settings.RetransmitTime);
                link.Solicit(entry.Address, unicast: entry.Mac);
                break;
            case NeighborState.Probe when entry.Probes < settings.MaxUnicastSolicit:
                entry.Probes++;
                SetDeadline(entry, now + settings.RetransmitTime);
                link.Solicit(entry.Address, unicast: entry.Mac);
                break;
            case NeighborState.Incomplete or NeighborState.Probe:
                // Resolution failed or the neighbour stopped answering: the entry goes, its queue with it (RFC 4861 §7.3.3).
                Remove(entry, DropReason.NeighborUnreachable);
                link.OnNeighborUnreachable(entry.Address, entry.IsRouter);
                break;
        }
    }

    private void SetState(Entry entry, NeighborState state, Instant deadline)
    {
        entry.State = state;
        if (state != NeighborState.Incomplete && state != NeighborState.Probe) entry.Probes = 0;
        SetDeadline(entry, deadline);
    }

    private void SetDeadline(Entry entry, Instant deadline)
    {
        entry.Deadline = deadline;
        if (deadline < _earliest) _earliest = deadline;
    }

    /// <summary>Queues a copy of the packet; a full queue loses its oldest packet (RFC 4861 §7.2.2).</summary>
    private void Enqueue(Entry entry, ReadOnlySpan<byte> packet)
    {
        Queue<PendingPacket> queue = entry.Pending ??= new Queue<PendingPacket>();
        if (queue.Count >= settings.PendingPacketsPerNeighbor)
        {
            ArrayPool<byte>.Shared.Return(queue.Dequeue().Buffer);
            counters.Drop(DropReason.NeighborQueueFull);
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(EthernetLayer.FrameRoom + packet.Length);
        packet.CopyTo(buffer.AsSpan(EthernetLayer.FrameRoom));
        queue.Enqueue(new PendingPacket(buffer, packet.Length));
    }

    private void SendPending(Entry entry)
    {
        if (entry.Pending is not { } queue) return;
        entry.Pending = null; // sending may resolve again (a looped answer): start a fresh queue then
        while (queue.TryDequeue(out PendingPacket p))
        {
            link.SendQueued(p.Buffer, p.Length, entry.Mac);
            ArrayPool<byte>.Shared.Return(p.Buffer);
        }
    }

    /// <summary>Makes room: the least recently used entry that is not resolving (its packets would be lost).</summary>
    private bool EvictOne()
    {
        Entry? victim = null;
        foreach (Entry e in _entries.Values)
        {
            if (e.State == NeighborState.Incomplete) continue;
            if (victim is null || (e.State == NeighborState.Stale && victim.State != NeighborState.Stale)
                || (e.State == NeighborState.Stale) == (victim.State == NeighborState.Stale) && e.LastUsed < victim.LastUsed)
                victim = e;
        }
        if (victim is null) return false;
        Remove(victim, DropReason.NeighborUnreachable);
        return true;
    }

    private void Remove(Entry entry, DropReason reason)
    {
        _entries.Remove(entry.Address);
        DropPending(entry, reason);
    }

    private void DropPending(Entry entry, DropReason reason)
    {
        if (entry.Pending is not { } queue) return;
        while (queue.TryDequeue(out PendingPacket p))
        {
            ArrayPool<byte>.Shared.Return(p.Buffer);
            counters.Drop(reason);
        }
        entry.Pending = null;
    }

    /// <summary>Forgets every neighbour (the device was detached); waiting packets are dropped and counted.</summary>
    public void Clear()
    {
        foreach (Entry e in _entries.Values) DropPending(e, DropReason.NoDevice);
        _entries.Clear();
        _earliest = Instant.Never;
        Debug.Assert(Count == 0, "the cache is empty");
    }
}
