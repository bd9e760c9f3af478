using System.Diagnostics;

namespace Rx.Netstack.Engine;

internal sealed partial class IpLayer
{
    /// <summary>
    /// The path MTU to <paramref name="destination"/> at <paramref name="now"/>: what path MTU discovery learned (RFC 1191,
    /// RFC 8201), else the link's MTU; for the stack's own addresses the largest packet.
    /// </summary>
    public int PathMtuTo(NetAddress destination, Instant now)
    {
        if (IsLocalAddress(destination)) return 65535;
        return _pathMtu.TryGet(destination, now, out PathMtuCache.Entry entry) ? Math.Min(entry.Mtu, Mtu) : Mtu;
    }

    /// <summary>
    /// Whether IPv4 packets to <paramref name="destination"/> that run path MTU discovery carry DF (RFC 1191 §3): yes, unless
    /// the path was found below the IPv4 minimum (then a small hop fragments them). Never for IPv6, which has no DF.
    /// </summary>
    public bool DontFragmentTo(NetAddress destination, Instant now) =>
        !destination.IsV6 && !(_pathMtu.TryGet(destination, now, out PathMtuCache.Entry entry) && entry.NoDontFragment);

    /// <summary>Remembers a validated path MTU for <paramref name="destination"/> (see <see cref="PathMtuCache.Plausible"/>).</summary>
    public void LearnPathMtu(NetAddress destination, int mtu, bool noDontFragment, Instant now) =>
        _pathMtu.Learn(destination, mtu, noDontFragment, now);

    /// <summary>A probe of <paramref name="mtu"/> bytes to <paramref name="destination"/> got through: later connections start
    /// there (see <see cref="PathMtuCache.Confirm"/> for the rule).</summary>
    public void ConfirmPathMtu(NetAddress destination, int mtu, Instant now) => _pathMtu.Confirm(destination, mtu, Mtu, now);

    /// <summary>The path MTU cache this engine reads and writes.</summary>
    public PathMtuCache PathMtu => _pathMtu;

    /// <summary>
    /// Makes this engine use <paramref name="cache"/> (the home engine's) in place of its own, so a path MTU learned by any
    /// engine of a sharded stack holds for all (RFC 1191 §5, RFC 8201 §5.2: per destination, not per flow). Called once, as
    /// the engines are made, before anything is attached.
    /// </summary>
    public void SharePathMtu(PathMtuCache cache)
    {
        Debug.Assert(_pathMtu.Count == 0, "shared before anything was learned");
        _pathMtu = cache;
    }

    /// <summary>Destinations with a learned path MTU (diagnostics and tests).</summary>
    public int PathMtuEntries => _pathMtu.Count;
}
