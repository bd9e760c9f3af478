using System.Buffers.Binary;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Link;

/// <summary>
/// The multicast groups UDP sockets joined, counted per group (two sockets on one group are one membership), and the host
/// side of IGMP (RFC 2236 v2, RFC 3376 v3) and MLD (RFC 2710 v1, RFC 3810 v2) that tells routers and snooping bridges about
/// them: a state-change report when a group is joined or left (sent at once and repeated, Robustness Variable times in all),
/// a current-state report after a random delay up to a query's Max Resp Time, and the older protocol while an older querier
/// is heard (RFC 3376 §7.2.1, RFC 3810 §8.2.1). Any-source membership only (EXCLUDE {}): a group-and-source-specific query is
/// answered as a group-specific one. Works on every medium: on Ethernet the link layer maps groups to MAC addresses; on an
/// IP device the reports go to the one peer. A timer owner: one deadline per group and one per family, scanned when one fires.
/// </summary>
internal sealed class MulticastMembership : TimerOwner
{
    /// <summary>Robustness Variable: how many times a state change is reported (RFC 3376 §8.1, RFC 3810 §9.1).</summary>
    internal const int Robustness = 2;

    /// <summary>Unsolicited Report Interval of IGMPv3 and MLDv2 (RFC 3376 §8.11, RFC 3810 §9.11).</summary>
    internal static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(1);

    /// <summary>Unsolicited Report Interval of IGMPv1/v2 and MLDv1 (RFC 2236 §8.10, RFC 2710 §7.10).</summary>
    internal static readonly TimeSpan OldReportInterval = TimeSpan.FromSeconds(10);

    /// <summary>Older Version Querier Present Timeout: Robustness × Query Interval (125 s) + Query Response Interval (10 s)
    /// (RFC 3376 §8.12, RFC 3810 §9.12).</summary>
    internal static readonly TimeSpan OlderQuerierPresentTimeout = TimeSpan.FromSeconds(Robustness * 125 + 10);

    /// <summary>224.0.0.1: every host is a member, never reported (RFC 2236 §6).</summary>
    internal static readonly NetAddress AllHosts = NetAddress.V4(224, 0, 0, 1);

    /// <summary>224.0.0.2: where IGMPv2 leaves go (RFC 2236 §3).</summary>
    internal static readonly NetAddress AllRoutersV4 = NetAddress.V4(224, 0, 0, 2);

    /// <summary>224.0.0.22: where IGMPv3 reports go (RFC 3376 §4.2.14).</summary>
    internal static readonly NetAddress IgmpV3Routers = NetAddress.V4(224, 0, 0, 22);

    /// <summary>ff02::1: every node listens, never reported (RFC 3810 §6).</summary>
    internal static readonly NetAddress AllNodes = NetAddress.V6(0xFF02UL << 48, 1);

    /// <summary>ff02::2: where MLDv1 dones go (RFC 2710 §4).</summary>
    internal static readonly NetAddress AllRoutersV6 = NetAddress.V6(0xFF02UL << 48, 2);

    /// <summary>ff02::16: where MLDv2 reports go (RFC 3810 §5.2.14).</summary>
    internal static readonly NetAddress MldV2Routers = NetAddress.V6(0xFF02UL << 48, 0x16);

    /// <summary>IPv4 header with the Router Alert option (RFC 2113), as IGMP is sent (RFC 3376 §4).</summary>
    private const int Ipv4HeaderWithAlert = 24;

    /// <summary>IPv6 header and a hop-by-hop header with the Router Alert option (RFC 2711), as MLD is sent (RFC 3810 §5).</summary>
    private const int Ipv6HeaderWithAlert = 48;

    // ---------------------------------------------------------------- state

    /// <summary>A group the stack is (or was, while its leave is repeated) a member of for its sockets.</summary>
    private sealed class Group
    {
        /// <summary>Sockets that joined it; 0 while the leave is still being repeated.</summary>
        public int References;

        /// <summary>The state change being reported: joined (to EXCLUDE {}) or left (to INCLUDE {}).</summary>
        public GroupRecordType Change;

        /// <summary>Repetitions of the state-change report still to send (RFC 3376 §5.1).</summary>
        public int ChangesLeft;

        /// <summary>When the next repetition goes (Never: none).</summary>
        public Instant ChangeAt = Instant.Never;

        /// <summary>When the answer to a query about this group goes (Never: none pending).</summary>
        public Instant ResponseAt = Instant.Never;
    }

    /// <summary>The IP layer: addresses, and where packets are sent.</summary>
    private readonly IpLayer _ip;

    /// <summary>The link layer: which IPv6 addresses are still tentative.</summary>
    private readonly EthernetLayer _link;

    /// <summary>The clock and the timer queue.</summary>
    private readonly PassScheduler _passes;

    /// <summary>The stack's counters.</summary>
    private readonly NetstackCounters _counters;

    /// <summary>Random delays of answers and repetitions (seeded per stack, so transcripts repeat with a RandomSeed).</summary>
    private readonly Random _random;

    /// <summary>Groups joined by sockets (IPv4 and IPv6), with their reference counts and timers.</summary>
    private readonly Dictionary<NetAddress, Group> _groups = [];

    /// <summary>Until when an IGMPv1 querier is heard: reports are IGMPv1 (in the past: none heard).</summary>
    private Instant _igmpV1Until;

    /// <summary>Until when an IGMPv2 querier is heard: reports and leaves are IGMPv2.</summary>
    private Instant _igmpV2Until;

    /// <summary>Until when an MLDv1 querier is heard: reports and dones are MLDv1.</summary>
    private Instant _mldV1Until;

    /// <summary>When the IGMPv3 answer to a general query goes, all groups in one report (Never: none pending).</summary>
    private Instant _igmpGeneralAt = Instant.Never;

    /// <summary>When the MLDv2 answer to a general query goes.</summary>
    private Instant _mldGeneralAt = Instant.Never;

    /// <summary>Where reports are built (a raw packet: the link layer copies it when it adds its header).</summary>
    private readonly byte[] _packet = new byte[1280];

    /// <summary>Scratch lists for timer work and reports (no allocation per firing).</summary>
    private readonly List<NetAddress> _scratch = [];

    /// <summary>Creates the (empty) membership of a stack.</summary>
    public MulticastMembership(IpLayer ip, EthernetLayer link, PassScheduler passes, NetstackCounters counters, int seed)
    {
        _ip = ip;
        _link = link;
        _passes = passes;
        _counters = counters;
        _random = new Random(seed * 31 + 7);
    }

    /// <summary>True when packets to <paramref name="group"/> are taken: a joined group, all-hosts or all-nodes.</summary>
    public bool Accepts(NetAddress group) => group == AllHosts || group == AllNodes || IsJoined(group);

    /// <summary>True when a socket joined <paramref name="group"/>.</summary>
    public bool IsJoined(NetAddress group) => _groups.Count > 0 && _groups.TryGetValue(group, out Group? g) && g.References > 0;

    /// <summary>The groups sockets joined now, for diagnostics.</summary>
    public List<NetAddress> Snapshot() => [.. _groups.Where(g => g.Value.References > 0).Select(g => g.Key).Order()];

    /// <summary>False for a group nobody is told about: all-hosts (RFC 2236 §6), all-nodes and interface-local scope (RFC 3810 §6).</summary>
    private static bool IsReported(NetAddress group)
    {
        if (!group.IsV6) return group != AllHosts;
        Span<byte> bytes = stackalloc byte[16];
        group.WriteTo(bytes);
        int scope = bytes[1] & 0x0F;
        return group != AllNodes && scope > 1;
    }

    // ---------------------------------------------------------------- joining and leaving

    /// <summary>A socket joined <paramref name="group"/>: the first one makes the stack a member and reports it.</summary>
    public void Join(NetAddress group, Instant now)
    {
        if (!_groups.TryGetValue(group, out Group? g)) _groups[group] = g = new Group();
        if (g.References++ > 0) return;
        g.ResponseAt = Instant.Never;
        if (!IsReported(group)) return;
        ReportChange(group, g, GroupRecordType.ChangeToExclude, now);
    }

    /// <summary>A socket left <paramref name="group"/> (or closed): the last one ends the membership and reports that.</summary>
    public void Leave(NetAddress group, Instant now)
    {
        if (!_groups.TryGetValue(group, out Group? g) || g.References == 0) return;
        if (--g.References > 0) return;
        g.ResponseAt = Instant.Never;
        if (IsReported(group))
        {
            if (IsCurrent(group, now))
            {
                ReportChange(group, g, GroupRecordType.ChangeToInclude, now);
                return;
            }
            // IGMPv2 / MLDv1: one leave (done) to the routers; IGMPv1 has none (RFC 2236 §6, RFC 2710 §4).
            if (group.IsV6 || _igmpV1Until <= now) SendOld(IgmpType.LeaveGroup, MldType.V1Done, group);
        }
        _groups.Remove(group);
    }

    /// <summary>RFC 3376 §5.1 / RFC 3810 §6.1: the report goes at once, then Robustness − 1 more a random time apart.</summary>
    private void ReportChange(NetAddress group, Group g, GroupRecordType change, Instant now)
    {
        g.Change = change;
        g.ChangesLeft = Robustness - 1;
        g.ChangeAt = g.ChangesLeft > 0 ? now + RandomDelay(IsCurrent(group, now) ? ReportInterval : OldReportInterval) : Instant.Never;
        SendChange(group, change, now);
        _passes.UpdateTimer(this);
    }

    /// <summary>The device came (back): every group is reported again from the next pass, as on a new interface.</summary>
    public void OnAttached(Instant now)
    {
        _igmpV1Until = _igmpV2Until = _mldV1Until = default;
        foreach ((NetAddress group, Group g) in _groups)
        {
            g.ResponseAt = Instant.Never;
            (g.Change, g.ChangesLeft, g.ChangeAt) = g.References > 0 && IsReported(group)
                ? (GroupRecordType.ChangeToExclude, Robustness, now)
                : (g.Change, 0, Instant.Never);
        }
        RemoveFinished();
        _passes.UpdateTimer(this);
    }

    /// <summary>True while the current protocol (IGMPv3, MLDv2) is spoken for <paramref name="group"/>'s family.</summary>
    private bool IsCurrent(NetAddress group, Instant now) =>
        group.IsV6 ? _mldV1Until <= now : _igmpV1Until <= now && _igmpV2Until <= now;

    /// <summary>A uniformly random delay in [0, <paramref name="max"/>].</summary>
    private TimeSpan RandomDelay(TimeSpan max) => TimeSpan.FromTicks((long)(_random.NextDouble() * max.Ticks));

    // ---------------------------------------------------------------- queries

    /// <summary>An IGMP message (protocol 2) for the stack: queries are answered; reports of others cancel our own
    /// pending IGMPv1/v2 answer for that group (RFC 2236 §3); the rest is read and ignored.</summary>
    public void ReceiveIgmp(in IpInfo ip, ReadOnlySpan<byte> message, Instant now)
    {
        if (IgmpMessage.TryParseQuery(message, out bool isQuery, out IgmpQuery query) != WireError.None
            || isQuery && (query.Group.IsUnspecified ? ip.Destination != AllHosts : ip.Destination != query.Group))
        {
            _counters.Drop(DropReason.IgmpMalformed);
            return;
        }
        _counters.MembershipIn++;
        if (!isQuery)
        {
            if (message[0] is (byte)IgmpType.V1Report or (byte)IgmpType.V2Report && !IsCurrent(AllHosts, now)
                && _groups.TryGetValue(ip.Destination, out Group? reported))
                reported.ResponseAt = Instant.Never;
            return;
        }
        bool wasCurrent = IsCurrent(AllHosts, now);
        if (query.Version == 1) _igmpV1Until = now + OlderQuerierPresentTimeout;
        else if (query.Version == 2) _igmpV2Until = now + OlderQuerierPresentTimeout;
        if (wasCurrent && !IsCurrent(AllHosts, now)) CancelPending(v6: false); // RFC 3376 §7.2.1
        Answer(query.Group, v6: false, query.MaxResponseTime, now);
    }

    /// <summary>An MLD message (ICMPv6 130–132, 143, checksum verified). A query must come from a link-local source with
    /// hop limit 1 (RFC 3810 §5.1.14, §6.2).</summary>
    public void ReceiveMld(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> message, Instant now)
    {
        if (message[0] != (byte)MldType.Query)
        {
            _counters.MembershipIn++;
            if (message[0] == (byte)MldType.V1Report && !IsCurrent(AllNodes, now) && _groups.TryGetValue(ip.Destination, out Group? reported))
                reported.ResponseAt = Instant.Never; // RFC 2710 §4: another listener answered
            return;
        }
        if (MldMessage.TryParseQuery(message, out MldQuery query) != WireError.None || packet[7] != 1 || !RouteTable.IsLinkLocal(ip.Source)
            || (query.Group.IsUnspecified ? ip.Destination != AllNodes : ip.Destination != query.Group))
        {
            _counters.Drop(DropReason.MldMalformed);
            return;
        }
        _counters.MembershipIn++;
        bool wasCurrent = IsCurrent(AllNodes, now);
        if (query.Version == 1) _mldV1Until = now + OlderQuerierPresentTimeout;
        if (wasCurrent && !IsCurrent(AllNodes, now)) CancelPending(v6: true); // RFC 3810 §8.2.1
        Answer(query.Group, v6: true, query.MaxResponseTime, now);
    }

    /// <summary>
    /// Schedules the answer to a query (RFC 3376 §5.2, RFC 3810 §6.2; RFC 2236 §3, RFC 2710 §4): a random delay up to
    /// <paramref name="maxResponse"/>, unless an answer already pending goes sooner. In IGMPv3/MLDv2 a general query is answered
    /// with one report of every group; in the older protocols each group answers on its own timer.
    /// </summary>
    private void Answer(NetAddress group, bool v6, TimeSpan maxResponse, Instant now)
    {
        Instant at = now + RandomDelay(maxResponse);
        NetAddress any = v6 ? NetAddress.AnyV6 : NetAddress.AnyV4;
        bool current = IsCurrent(v6 ? AllNodes : AllHosts, now);
        if (group == any && current)
        {
            if (v6) _mldGeneralAt = Instant.Min(_mldGeneralAt, at);
            else _igmpGeneralAt = Instant.Min(_igmpGeneralAt, at);
        }
        else if (group == any)
        {
            foreach ((NetAddress joined, Group g) in _groups)
                if (joined.IsV6 == v6 && g.References > 0 && IsReported(joined)) g.ResponseAt = Instant.Min(g.ResponseAt, at);
        }
        else if (_groups.TryGetValue(group, out Group? g) && g.References > 0 && IsReported(group))
        {
            Instant general = v6 ? _mldGeneralAt : _igmpGeneralAt;
            if (!current || general > at) g.ResponseAt = Instant.Min(g.ResponseAt, at); // §5.2 rule 1: the general answer covers it
        }
        else
        {
            return; // a query about a group we are not in (RFC 3376 §5.2 rule 2)
        }
        _passes.UpdateTimer(this);
    }

    /// <summary>Entering an older protocol cancels every pending answer and repetition of the family (RFC 3376 §7.2.1).</summary>
    private void CancelPending(bool v6)
    {
        if (v6) _mldGeneralAt = Instant.Never;
        else _igmpGeneralAt = Instant.Never;
        foreach ((NetAddress group, Group g) in _groups)
        {
            if (group.IsV6 != v6) continue;
            g.ResponseAt = g.ChangeAt = Instant.Never;
            g.ChangesLeft = 0;
        }
        RemoveFinished();
    }

    private void RemoveFinished()
    {
        _scratch.Clear();
        foreach ((NetAddress group, Group g) in _groups)
            if (g.References == 0 && g.ChangesLeft == 0) _scratch.Add(group);
        foreach (NetAddress group in _scratch) _groups.Remove(group);
    }

    // ---------------------------------------------------------------- timers

    public override Instant PollAt
    {
        get
        {
            Instant earliest = Instant.Min(_igmpGeneralAt, _mldGeneralAt);
            foreach (Group g in _groups.Values) earliest = Instant.Min(earliest, Instant.Min(g.ChangeAt, g.ResponseAt));
            return earliest;
        }
    }

    public override void OnTimer(Instant now)
    {
        if (_igmpGeneralAt <= now)
        {
            _igmpGeneralAt = Instant.Never;
            SendCurrentState(v6: false);
        }
        if (_mldGeneralAt <= now)
        {
            _mldGeneralAt = Instant.Never;
            SendCurrentState(v6: true);
        }
        _scratch.Clear();
        foreach ((NetAddress group, Group g) in _groups)
            if (g.ChangeAt <= now || g.ResponseAt <= now) _scratch.Add(group);
        foreach (NetAddress group in _scratch)
        {
            Group g = _groups[group];
            if (g.ChangeAt <= now)
            {
                g.ChangesLeft--;
                g.ChangeAt = g.ChangesLeft > 0 ? now + RandomDelay(IsCurrent(group, now) ? ReportInterval : OldReportInterval) : Instant.Never;
                SendChange(group, g.Change, now);
            }
            if (g.ResponseAt <= now)
            {
                g.ResponseAt = Instant.Never;
                if (g.References > 0) SendResponse(group, now);
            }
        }
        RemoveFinished();
    }

    // ---------------------------------------------------------------- output

    /// <summary>A state-change report in the protocol in force (a leave or done for the older ones, which have no repeats of it).</summary>
    private void SendChange(NetAddress group, GroupRecordType change, Instant now)
    {
        if (IsCurrent(group, now))
        {
            SendV3(group.IsV6, change, [group]);
            return;
        }
        if (change == GroupRecordType.ChangeToExclude) SendResponse(group, now);
    }

    /// <summary>The answer to a query about one group: an IGMPv1/v2 or MLDv1 report, or an IGMPv3/MLDv2 current-state record.</summary>
    private void SendResponse(NetAddress group, Instant now)
    {
        if (IsCurrent(group, now)) SendV3(group.IsV6, GroupRecordType.ModeIsExclude, [group]);
        else if (group.IsV6) SendOld(default, MldType.V1Report, group);
        else SendOld(_igmpV1Until > now ? IgmpType.V1Report : IgmpType.V2Report, default, group);
    }

    /// <summary>The answer to a general query in IGMPv3/MLDv2: every group the family has, as many records a packet as fit.</summary>
    private void SendCurrentState(bool v6)
    {
        _scratch.Clear();
        foreach ((NetAddress group, Group g) in _groups)
            if (group.IsV6 == v6 && g.References > 0 && IsReported(group)) _scratch.Add(group);
        int perPacket = v6
            ? (_packet.Length - Ipv6HeaderWithAlert - 8) / MldMessage.V2RecordLength
            : (_packet.Length - Ipv4HeaderWithAlert - 8) / IgmpMessage.V3RecordLength;
        for (int i = 0; i < _scratch.Count; i += perPacket)
            SendV3(v6, GroupRecordType.ModeIsExclude, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_scratch).Slice(i, Math.Min(perPacket, _scratch.Count - i)));
    }

    /// <summary>An IGMPv3 report to 224.0.0.22 or an MLDv2 report to ff02::16.</summary>
    private void SendV3(bool v6, GroupRecordType type, ReadOnlySpan<NetAddress> groups)
    {
        if (v6)
        {
            NetAddress source = LinkLocalSource();
            int length = MldMessage.EmitV2Report(_packet.AsSpan(Ipv6HeaderWithAlert), type, groups, source, MldV2Routers);
            SendV6(source, MldV2Routers, length);
        }
        else
        {
            int length = IgmpMessage.EmitV3Report(_packet.AsSpan(Ipv4HeaderWithAlert), type, groups);
            SendV4(IgmpV3Routers, length);
        }
    }

    /// <summary>An IGMPv1/v2 report (to the group) or leave (to all routers); an MLDv1 report (to the group) or done (to all routers).</summary>
    private void SendOld(IgmpType igmp, MldType mld, NetAddress group)
    {
        if (group.IsV6)
        {
            NetAddress source = LinkLocalSource(), destination = mld == MldType.V1Done ? AllRoutersV6 : group;
            int length = MldMessage.EmitV1(_packet.AsSpan(Ipv6HeaderWithAlert), mld, group, source, destination);
            SendV6(source, destination, length);
        }
        else
        {
            NetAddress destination = igmp == IgmpType.LeaveGroup ? AllRoutersV4 : group;
            int length = IgmpMessage.EmitV2(_packet.AsSpan(Ipv4HeaderWithAlert), igmp, group);
            SendV4(destination, length);
        }
    }

    /// <summary>An IGMP message at <see cref="Ipv4HeaderWithAlert"/>: TTL 1, Router Alert, from our IPv4 address (0.0.0.0
    /// before we have one, RFC 3376 §4.2.13).</summary>
    private void SendV4(NetAddress destination, int igmpLength)
    {
        if (!_ip.TrySelectSource(NetAddress.AnyV4, destination, out NetAddress source)) source = NetAddress.AnyV4;
        Span<byte> header = _packet.AsSpan(0, Ipv4HeaderWithAlert);
        header.Clear();
        header[0] = 0x46; // version 4, IHL 6
        header[1] = 0xC0; // precedence: internetwork control, as routers and Linux send IGMP
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)(Ipv4HeaderWithAlert + igmpLength));
        header[8] = 1; // TTL 1 (RFC 3376 §4)
        header[9] = (byte)IpProtocol.Igmp;
        source.WriteTo(header[12..]);
        destination.WriteTo(header[16..]);
        header[20] = 0x94; // Router Alert (RFC 2113 §2.1): copied, option 20, length 4, value 0
        header[21] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], Checksum.Compute(header));
        _counters.MembershipOut++;
        _ip.TransmitRawPacket(_packet.AsSpan(0, Ipv4HeaderWithAlert + igmpLength), destination);
    }

    /// <summary>An MLD message at <see cref="Ipv6HeaderWithAlert"/>: hop limit 1, a hop-by-hop header with Router Alert.</summary>
    private void SendV6(NetAddress source, NetAddress destination, int mldLength)
    {
        Span<byte> header = _packet.AsSpan(0, Ipv6HeaderWithAlert);
        Ipv6Header.Emit(header, new Ipv6Header(source, destination, IpProtocol.HopByHop, 1), 8 + mldLength);
        Span<byte> hopByHop = header[40..];
        hopByHop[0] = (byte)IpProtocol.IcmpV6;
        hopByHop[1] = 0; // 8 bytes
        hopByHop[2] = 5; // Router Alert (RFC 2711 §2.1), length 2, value 0: an MLD message
        hopByHop[3] = 2;
        hopByHop[4] = hopByHop[5] = 0;
        hopByHop[6] = 1; // PadN, length 0
        hopByHop[7] = 0;
        _counters.MembershipOut++;
        _ip.TransmitRawPacket(_packet.AsSpan(0, Ipv6HeaderWithAlert + mldLength), destination);
    }

    /// <summary>A usable link-local address, or :: while none is (RFC 3810 §5.2.13).</summary>
    private NetAddress LinkLocalSource()
    {
        foreach (InterfaceAddress a in _ip.AddressSpan)
            if (RouteTable.IsLinkLocal(a.Address) && !_link.IsUnusable(a.Address)) return a.Address;
        return NetAddress.AnyV6;
    }
}
