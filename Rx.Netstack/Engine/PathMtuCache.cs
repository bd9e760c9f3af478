using System.Collections.Concurrent;
using System.Diagnostics;

namespace Rx.Netstack.Engine;

/// <summary>
/// What path MTU discovery learned, per destination (RFC 1191 §5, RFC 8201 §5.2: the estimate is kept per destination
/// address, shared by every connection and socket to it). An entry is made by a validated "fragmentation needed" or "packet
/// too big" and forgotten after <see cref="Lifetime"/>, so a path that grew again is used again (RFC 1191 §6.3, RFC 8201
/// §4: no sooner than 5 minutes, 10 recommended). Bounded by <see cref="Capacity"/>; expired entries go lazily.
/// <para>One cache serves every engine of a sharded stack (docs/sharding.md): a packet too big learned by the engine of one
/// flow holds for the next connection to that destination whichever engine it lands on. Reads take no lock (the
/// dictionary's lookups are lock-free and an entry is replaced whole, never changed in place); learning, confirming and
/// forgetting — rare, one per ICMP error or probe — take <see cref="_write"/>, so a check-then-set stays one step.</para>
/// </summary>
internal sealed class PathMtuCache
{
    /// <summary>How long a learned path MTU holds before the estimate goes back to the link's (RFC 1191 §6.3: 10 minutes).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    /// <summary>The most destinations remembered; past it the entry nearest its expiry makes room.</summary>
    public const int Capacity = 4096;

    /// <summary>The smallest IPv4 path MTU believed (RFC 791: every host takes 576-byte datagrams). A report below it sets 576
    /// and stops setting DF toward that destination, so the smaller hop fragments (as Linux does below its min_pmtu).</summary>
    public const int MinimumMtuV4 = 576;

    /// <summary>The IPv6 minimum link MTU (RFC 8200 §5); a packet too big reporting less is discarded (RFC 8201 §4).</summary>
    public const int MinimumMtuV6 = 1280;

    /// <summary>RFC 1191 §7: the plateaus used when a router's "fragmentation needed" carries no next-hop MTU (an RFC 792 router).</summary>
    private static readonly int[] s_plateaus = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

    /// <summary>One destination's learned path.</summary>
    /// <param name="Mtu">The path MTU estimate.</param>
    /// <param name="Expires">When it is forgotten.</param>
    /// <param name="NoDontFragment">The path is below the IPv4 minimum: send without DF so the small hop may fragment.</param>
    public readonly record struct Entry(int Mtu, Instant Expires, bool NoDontFragment);

    /// <summary>The learned paths by destination address; read without a lock, written under <see cref="_write"/>.</summary>
    private readonly ConcurrentDictionary<NetAddress, Entry> _entries = new();

    /// <summary>Serializes the writers (engines of one sharded stack learning at once).</summary>
    private readonly Lock _write = new();

    /// <summary>Entries held (written under <see cref="_write"/>): lets a lookup skip the hash while nothing was learned, as
    /// the dictionary's own Count and IsEmpty take every bucket lock.</summary>
    private volatile int _count;

    /// <summary>Destinations remembered now (expired ones included until they are looked up or evicted).</summary>
    public int Count => _count;

    /// <summary>The entry for <paramref name="destination"/>, if one is held and not expired at <paramref name="now"/>.
    /// Thread-safe; takes no lock unless the entry expired.</summary>
    public bool TryGet(NetAddress destination, Instant now, out Entry entry)
    {
        if (_count == 0 || !_entries.TryGetValue(destination, out entry))
        {
            entry = default;
            return false;
        }
        if (now < entry.Expires) return true;
        lock (_write)
        {
            // Another engine may have learned it again since: remove only the entry that expired.
            if (_entries.TryRemove(new KeyValuePair<NetAddress, Entry>(destination, entry))) _count--;
        }
        return false;
    }

    /// <summary>Remembers that the path to <paramref name="destination"/> takes at most <paramref name="mtu"/> bytes.</summary>
    public void Learn(NetAddress destination, int mtu, bool noDontFragment, Instant now)
    {
        Debug.Assert(mtu >= (destination.IsV6 ? MinimumMtuV6 : MinimumMtuV4), "only plausible MTUs are learned");
        lock (_write) LearnLocked(destination, mtu, noDontFragment, now);
    }

    private void LearnLocked(NetAddress destination, int mtu, bool noDontFragment, Instant now)
    {
        bool known = _entries.ContainsKey(destination);
        if (!known && _count >= Capacity) Evict(now);
        _entries[destination] = new Entry(mtu, now + Lifetime, noDontFragment);
        if (!known) _count++;
        Debug.Assert(_count == _entries.Count, "the count follows the entries");
    }

    /// <summary>
    /// A packetization-layer probe of <paramref name="mtu"/> bytes to <paramref name="destination"/> was delivered (RFC 4821
    /// §7.6.1): the path carries it. The rule, so that the next connection starts at what was confirmed:
    /// <list type="bullet">
    /// <item>Only a probe's delivery may raise an entry: a packet too big never does (RFC 1191 §6.3, RFC 8201 §4), but an
    /// acknowledged probe is the packetization layer's direct proof, and PMTU state is kept in the IP layer shared by every
    /// flow to the destination (RFC 4821 §5.2; RFC 8899 §4.6.2: a PTB is a hint, the PLPMTU is what probes confirmed). So a
    /// still-valid ICMP-learned entry below <paramref name="mtu"/> is proved wrong (a route change) and raised.</item>
    /// <item>A probe never lowers: an entry at or above <paramref name="mtu"/> stays as it is (only ICMP, black-hole
    /// detection or its own expiry lowers or clears an estimate).</item>
    /// <item>Never above the link: a confirmed size at <paramref name="linkMtu"/> or more means the path takes what the link
    /// takes, so the entry goes and new connections start at the link's MTU.</item>
    /// <item>A raised or new entry has the same lifetime as a learned one (RFC 1191 §6.3, RFC 8201 §4), after which the link's
    /// MTU is tried again.</item>
    /// </list>
    /// </summary>
    public void Confirm(NetAddress destination, int mtu, int linkMtu, Instant now)
    {
        lock (_write)
        {
            bool held = TryGet(destination, now, out Entry entry);
            if (mtu >= linkMtu)
            {
                if (held && _entries.TryRemove(destination, out _)) _count--;
                return;
            }
            if (held && entry.Mtu >= mtu) return;
            LearnLocked(destination, mtu, noDontFragment: false, now);
        }
    }

    /// <summary>Forgets every entry (for tests and teardown).</summary>
    public void Clear()
    {
        lock (_write)
        {
            _entries.Clear();
            _count = 0;
        }
    }

    /// <summary>Makes room: every expired entry goes, or else the one nearest its expiry. Runs only when the cache is full,
    /// under <see cref="_write"/>.</summary>
    private void Evict(Instant now)
    {
        NetAddress? oldest = null;
        Instant oldestExpiry = Instant.Never;
        List<NetAddress>? expired = null;
        foreach ((NetAddress address, Entry entry) in _entries)
        {
            if (entry.Expires <= now) (expired ??= []).Add(address);
            else if (entry.Expires < oldestExpiry) (oldest, oldestExpiry) = (address, entry.Expires);
        }
        if (expired is not null)
        {
            foreach (NetAddress address in expired)
                if (_entries.TryRemove(address, out _)) _count--;
        }
        else if (oldest is { } victim && _entries.TryRemove(victim, out _))
        {
            _count--;
        }
    }

    /// <summary>
    /// Judges a reported next-hop MTU (RFC 5927 §7, RFC 8201 §4, RFC 1191 §5–§7): the new path MTU to use, or −1 when the
    /// report must be ignored — it is not below <paramref name="current"/> (a packet too big never raises the estimate), or it
    /// is an IPv6 report below 1280. An IPv4 report of 0 (an RFC 792 router) is replaced by the plateau below the quoted
    /// datagram's total length; one below 576 becomes 576 with <paramref name="noDontFragment"/> set.
    /// </summary>
    /// <param name="v6">The path is IPv6.</param>
    /// <param name="reported">The MTU field of the ICMP message.</param>
    /// <param name="quotedTotalLength">IPv4: the total length of the datagram the router quoted (0 when unknown).</param>
    /// <param name="current">The path MTU in use now.</param>
    /// <param name="noDontFragment">Set when the IPv4 path is below 576: send without DF from now on.</param>
    public static int Plausible(bool v6, int reported, int quotedTotalLength, int current, out bool noDontFragment)
    {
        noDontFragment = false;
        int mtu = reported;
        if (v6)
        {
            if (mtu < MinimumMtuV6) return -1;
        }
        else
        {
            if (mtu == 0) mtu = PlateauBelow(quotedTotalLength);
            if (mtu < MinimumMtuV4)
            {
                mtu = MinimumMtuV4;
                noDontFragment = true;
            }
        }
        return mtu < current ? mtu : -1;
    }

    /// <summary>The largest plateau of RFC 1191 §7 below <paramref name="totalLength"/> (68 if none is).</summary>
    private static int PlateauBelow(int totalLength)
    {
        foreach (int plateau in s_plateaus)
            if (plateau < totalLength) return plateau;
        return 68;
    }
}
