using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>Retransmission timeouts in a row after which a full-sized segment is suspected of a PMTU black hole (Linux's
    /// tcp_retries1: 3; RFC 4821 §3 / RFC 8899 §3: PMTUD must not depend on ICMP alone).</summary>
    public const int BlackHoleTimeouts = 3;

    /// <summary>The MSS an IPv4 connection falls back to in a black hole: 1024, Linux's tcp_base_mss (RFC 4821 §7.2 suggests a
    /// search_low of about 1 KB).</summary>
    public const int BaseMssV4 = 1024;

    /// <summary>IPv4's last step (RFC 791: 576-byte datagrams always pass), after two more timeouts at the base size.</summary>
    public const int MinimumPathMssV4 = PathMtuCache.MinimumMtuV4 - 40;

    /// <summary>IPv6's base and last step: the minimum link MTU's MSS (RFC 8200 §5, RFC 8899 §5.1.2 BASE_PLPMTU).</summary>
    public const int MinimumPathMssV6 = PathMtuCache.MinimumMtuV6 - 60;

    private int IpHeaderLength => Remote.Address.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;

    /// <summary>IPv4 packets of this connection carry DF: path MTU discovery runs (RFC 1191 §3).</summary>
    public bool DontFragment => _path.DontFragment;

    /// <summary>The connection's path MTU estimate: our MSS plus the IP and TCP headers.</summary>
    public int PathMtu => _opt.OurMss + HeadersLength;

    /// <summary>
    /// What the engine knows of the path as the connection opens: our MSS from the link MTU (<paramref name="linkMss"/>,
    /// where a lowered estimate returns), DF, and when an estimate the path MTU cache lowered is tried higher again.
    /// </summary>
    public void StartPathMtu(int linkMss, bool dontFragment, Instant raiseAt)
    {
        _path.LinkMss = Math.Max(linkMss, _opt.OurMss);
        _path.DontFragment = dontFragment && !Remote.Address.IsV6;
        _path.RaiseAt = _opt.OurMss < _path.LinkMss ? raiseAt : Instant.Never;
    }

    /// <summary>
    /// A validated "fragmentation needed" or "packet too big" (RFC 1191 §6.3, RFC 8201 §5.4; the engine checked the quoted
    /// sequence number and the MTU's plausibility, RFC 5927): the path takes at most <paramref name="mtu"/> bytes, so lower
    /// the MSS and resend what no longer fits — not as congestion. <paramref name="noDontFragment"/>: the IPv4 path is below
    /// 576, so send without DF. False when the MSS would not go down.
    /// </summary>
    public bool OnPacketTooBig(int mtu, bool noDontFragment, Instant now)
    {
        int mss = Math.Max(MinimumMss, mtu - HeadersLength);
        if (mss >= _opt.OurMss) return false;
        if (noDontFragment) _path.DontFragment = false;
        LowerMss(mss, now);
        return true;
    }

    /// <summary>
    /// Black-hole detection (RFC 4821 §3, RFC 8899 §4.3, as Linux's tcp_mtu_probing): a full-sized segment timed out
    /// <see cref="BlackHoleTimeouts"/> times in a row, no segment of that size was ever acknowledged, and no ICMP said why — a router may be dropping big packets with the
    /// error filtered. Fall back to the base size (then, two timeouts later, to the protocol minimum); the estimate is tried
    /// at the link's size again after <see cref="PathMtuCache.Lifetime"/>. Called after each retransmission timeout.
    /// </summary>
    private void DetectBlackHole(Instant now)
    {
        int step = _snd.Retries == BlackHoleTimeouts ? 1 : _snd.Retries == BlackHoleTimeouts + 2 ? 2 : 0;
        if (step == 0 || step <= _path.BlackHoleStep || _path.Proven) return;
        bool v6 = Remote.Address.IsV6;
        int target = v6 ? MinimumPathMssV6 : step == 1 ? BaseMssV4 : MinimumPathMssV4;
        // Only a segment larger than the target can be what the path drops.
        if (_opt.Mss <= target || Math.Min(_snd.DataEnd - _snd.Una, _opt.Mss) <= target) return;
        _path.BlackHoleStep = step;
        _ctx.Counters.PathMtuBlackHoles++;
        LowerMss(target, now);
    }

    /// <summary>RFC 4821 §7.6.2 MAX_PROBES: losses of probes of one size after which the size is taken as too big.</summary>
    public const int MaxProbes = 3;

    /// <summary>The search stops when the sizes left to try span less than this many bytes (Linux's tcp_probe_threshold).</summary>
    public const int ProbeThreshold = 8;

    /// <summary>
    /// Once a lowered estimate's time is up (RFC 1191 §6.3, RFC 8899 §5.1.1), a search for a larger size starts (RFC 4821
    /// §7.2): the estimate stays, and probes — single segments larger than it, sent along with the data — try the link's size,
    /// then sizes between, halving the interval (<see cref="NextProbeMss"/>).
    /// </summary>
    private void RaisePathMtuIfDue(Instant now)
    {
        if (now < _path.RaiseAt) return;
        _path.RaiseAt = Instant.Never;
        _path.DontFragment = !Remote.Address.IsV6;
        _path.SearchHigh = Math.Min(_path.LinkMss, _opt.PeerMss);
        _path.ProbeFailures = 0;
        // The link's size first: a path that grew back (a route change) usually grew back whole; then halving.
        _path.ProbeMss = _path.SearchHigh - _opt.OurMss >= ProbeThreshold ? _path.SearchHigh : 0;
        if (_path.ProbeMss == 0 && _opt.OurMss < _path.LinkMss) _path.RaiseAt = now + PathMtuCache.Lifetime;
    }

    /// <summary>The next size to probe, halfway between the estimate and <see cref="TcpPathMtu.SearchHigh"/> (a binary search,
    /// RFC 4821 §7.7, as Linux's tcp_mtu_probe); 0 when the interval is below <see cref="ProbeThreshold"/>.</summary>
    private int NextProbeMss() =>
        _path.SearchHigh - _opt.OurMss < ProbeThreshold ? 0 : _opt.OurMss + (_path.SearchHigh - _opt.OurMss + 1) / 2;

    /// <summary>True while a probe is in flight, not yet acknowledged nor found lost.</summary>
    private bool PathProbeInFlight => _path.ProbeEnd > _path.ProbeStart && !_path.ProbeLost;

    /// <summary>
    /// How many payload bytes a probe at <paramref name="seq"/> carries now, or 0 (RFC 4821 §7.4–§7.5, the conditions of
    /// Linux's tcp_mtu_probe): a search runs and no probe is in flight, the connection is not repairing losses, and the data
    /// waiting, the peer's window and cwnd take the probe and <see cref="SackScoreboard.DupThresh"/> full segments after it
    /// — so its loss shows in the ACKs for those, not as a timeout.
    /// </summary>
    private int PathProbeLength(SeqNumber seq, int maxPayload, int unsent, long congestionRoom)
    {
        if (_path.ProbeMss == 0 || _path.ProbeEnd > _path.ProbeStart || _recovery.Repairing || seq != _snd.Max) return 0;
        int length = _path.ProbeMss - (_opt.OurMss - maxPayload); // the same options as an ordinary segment
        long needed = length + (long)SackScoreboard.DupThresh * maxPayload;
        long windowRoom = (long)_snd.Window - (seq - _snd.Una);
        if (unsent < needed || windowRoom < needed || congestionRoom < length + maxPayload) return 0;
        return length;
    }

    /// <summary>A probe of <paramref name="length"/> bytes goes out at <paramref name="seq"/>.</summary>
    private void OnPathProbeSent(SeqNumber seq, int length)
    {
        _path.ProbeStart = seq;
        _path.ProbeEnd = seq + length;
        _path.ProbeLost = false;
        _recovery.SetPathProbe(_path.ProbeStart, _path.ProbeEnd);
        _ctx.Counters.PathMtuProbes++;
    }

    /// <summary>An ACK reached <paramref name="ack"/>: a probe it covers got through whole — the path carries its size, which
    /// becomes the estimate (RFC 4821 §7.6.1), and the search goes on above it.</summary>
    private void OnPathProbeAcked(Instant now, SeqNumber ack)
    {
        if (_path.ProbeEnd <= _path.ProbeStart || ack < _path.ProbeEnd) return;
        bool lost = _path.ProbeLost;
        ClearPathProbe();
        if (lost) return; // its resend got through, not the probe
        _opt.OurMss = _path.ProbeMss;
        _path.Proven = true;
        _path.BlackHoleStep = 0;
        _path.ProbeFailures = 0;
        UpdateMss();
        _ctx.Counters.PathMtuRaises++;
        // Shared through the engine's cache (RFC 4821 §5.2). A probe at the search's ceiling proves no limit below the link's
        // (the ceiling may be the peer's MSS, not the path); one below it followed the ceiling's failure, so it is the path's.
        _path.ConfirmedMtu = _opt.OurMss >= Math.Min(_path.LinkMss, _opt.PeerMss) ? _path.LinkMss + HeadersLength : PathMtu;
        EndOrContinueSearch(now);
    }

    private int HeadersLength => IpHeaderLength + TcpHeader.MinHeaderLength;

    /// <summary>The MTU a probe got through since the last call (see <see cref="TcpPathMtu.ConfirmedMtu"/>), or 0; the engine
    /// records it in its path MTU cache.</summary>
    public int TakeConfirmedPathMtu()
    {
        int mtu = _path.ConfirmedMtu;
        _path.ConfirmedMtu = 0;
        return mtu;
    }

    /// <summary>
    /// A validated packet too big (RFC 5927) quoting the probe in flight, reporting <paramref name="mtu"/>: above the estimate
    /// but below the probe (RFC 8899 §4.6.2, PLPMTU &lt; PL_PTB_SIZE &lt; PROBED_SIZE). The estimate stays valid and the cache
    /// is not changed (nothing got smaller); the probe was too big, so it is lost now — resent at the estimate at once, without
    /// waiting for loss detection — and the reported size bounds the search (RFC 4821 §7.1 search_high: a size expected too
    /// large) and is its next probe (RFC 8899 §4.6.2: the next search point), instead of halving blindly towards it; a report
    /// of the estimate itself (PL_PTB_SIZE = PLPMTU) ends the search there. False when the report does not fall between the
    /// two (one at or above the probe is inconsistent and ignored, §4.6.2; one below the estimate is
    /// <see cref="OnPacketTooBig"/>'s), or does not quote the probe.
    /// </summary>
    public bool OnProbePacketTooBig(int mtu, SeqNumber quoted, Instant now)
    {
        if (!PathProbeInFlight || quoted < _path.ProbeStart || quoted >= _path.ProbeEnd) return false;
        int mss = mtu - HeadersLength;
        if (mss < _opt.OurMss || mss >= _path.ProbeMss) return false;
        _ctx.Counters.PathMtuProbesLost++;
        _path.ResendFrom = SeqNumber.Max(_path.ProbeStart, _snd.Una);
        _path.ResendTo = _path.ProbeEnd;
        _path.ProbeLost = true; // the range stays with loss recovery until SND.UNA passes it
        _path.ProbeFailures = 0;
        _path.SearchHigh = mss;
        _path.ProbeMss = mss - _opt.OurMss >= ProbeThreshold ? mss : 0;
        if (_path.ProbeMss == 0) _path.RaiseAt = now + PathMtuCache.Lifetime; // within the threshold: the search ends here
        return true;
    }

    /// <summary>
    /// The probe was lost (loss detection saw later data arrive without it): too big, not congestion (RFC 4821 §7.6.2) —
    /// cwnd stays, its bytes are resent at the MSS at once, and after <see cref="MaxProbes"/> losses the size is too big.
    /// </summary>
    private void OnPathProbeLost(Instant now)
    {
        if (_path.ProbeLost) return; // already counted (a packet too big said so first)
        _ctx.Counters.PathMtuProbesLost++;
        _path.ResendFrom = SeqNumber.Max(_path.ProbeStart, _snd.Una);
        _path.ResendTo = _path.ProbeEnd;
        _path.ProbeLost = true; // the range stays with loss recovery until SND.UNA passes it
        if (++_path.ProbeFailures < MaxProbes) return;
        _path.ProbeFailures = 0;
        _path.SearchHigh = _path.ProbeMss - 1;
        EndOrContinueSearch(now);
    }

    /// <summary>Something else resent the probe's bytes (a timeout, a tail loss probe, a fast retransmit): an ACK of them
    /// proves nothing any more; the probe counts as lost, and its bytes need no resend of their own.</summary>
    private void OnPathProbeResent(Instant now)
    {
        if (PathProbeInFlight) OnPathProbeLost(now);
        _path.ResendTo = _path.ResendFrom;
        ClearPathProbe();
    }

    private void ClearPathProbe()
    {
        _path.ProbeEnd = _path.ProbeStart;
        _path.ProbeLost = false;
        _recovery.SetPathProbe(_path.ProbeStart, _path.ProbeStart);
    }

    private void EndOrContinueSearch(Instant now)
    {
        _path.ProbeMss = NextProbeMss();
        // RFC 8899 §5.1.1: a search that ended below the link's size is tried again later, as the path may have grown.
        if (_path.ProbeMss == 0) _path.RaiseAt = _opt.OurMss < _path.LinkMss ? now + PathMtuCache.Lifetime : Instant.Never;
    }

    /// <summary>Resends what is left of a lost probe at the MSS, ahead of new data and whatever cwnd says (its bytes were in
    /// flight already), never what the peer holds.</summary>
    private bool TryResendPathProbe(Instant now, int maxPayload, out TcpHeader header, out int payloadLength)
    {
        SeqNumber from = SeqNumber.Max(_path.ResendFrom, _snd.Una);
        if (from >= _path.ResendTo)
        {
            _path.ResendTo = _path.ResendFrom;
            return Nothing(out header, out payloadLength);
        }
        int length = Math.Min(maxPayload, _path.ResendTo - from);
        if (_opt.Sack) length = _recovery.RetransmitLength(from, length);
        if (length == 0)
        {
            _path.ResendTo = _path.ResendFrom; // SACKed: the probe was one packet, so it arrived after all
            return Nothing(out header, out payloadLength);
        }
        _path.ResendFrom = from + length;
        return EmitData(now, out header, from, length, out payloadLength);
    }

    /// <summary>Lowers our MSS to <paramref name="mss"/> and resends what is in flight in segments of the new size.</summary>
    private void LowerMss(int mss, Instant now)
    {
        _path.ProbeMss = 0; // a search ends: the path is smaller than the estimate
        _path.ResendTo = _path.ResendFrom;
        ClearPathProbe();
        _opt.OurMss = mss;
        _path.Proven = false;
        UpdateMss();
        _path.RaiseAt = now + PathMtuCache.Lifetime;
        _ctx.Counters.PathMtuReductions++;
        if (IsSynchronized && _snd.Max > _snd.Una)
        {
            _snd.Nxt = _snd.Una; // go back and resend in smaller segments (Linux's tcp_simple_retransmit)
            _snd.RttTiming = false;
        }
        else if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            _pending |= TcpPendingOutput.Syn;
        }
    }
}
