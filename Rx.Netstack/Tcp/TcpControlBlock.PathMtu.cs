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
    public int PathMtu => _opt.OurMss + IpHeaderLength + TcpHeader.MinHeaderLength;

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
        int mss = Math.Max(MinimumMss, mtu - IpHeaderLength - TcpHeader.MinHeaderLength);
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

    /// <summary>Raises an estimate that was lowered back to the link's once its time is up (RFC 1191 §6.3, RFC 8899
    /// §5.1.1): if the path is still small, an ICMP error or black-hole detection lowers it again.</summary>
    private void RaisePathMtuIfDue(Instant now)
    {
        if (now < _path.RaiseAt) return;
        _path.RaiseAt = Instant.Never;
        _path.BlackHoleStep = 0;
        _path.DontFragment = !Remote.Address.IsV6;
        if (_opt.OurMss >= _path.LinkMss) return;
        _opt.OurMss = _path.LinkMss;
        _path.Proven = false;
        UpdateMss();
        _ctx.Counters.PathMtuRaises++;
    }

    /// <summary>Lowers our MSS to <paramref name="mss"/> and resends what is in flight in segments of the new size.</summary>
    private void LowerMss(int mss, Instant now)
    {
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
