using System.Buffers.Binary;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the SYN-ACK's sequence number encodes a keyed hash of
/// the 4-tuple, a coarse time counter and an index into a small MSS table, so no state is kept until the final ACK returns.
/// Time comes from the engine (<see cref="Instant"/>), never from a clock.
/// </summary>
/// <remarks>
/// Layout of the 32-bit cookie, most significant first: 5 bits of the counter (engine time / 64 s, mod 32), 3 bits of
/// index into <see cref="MssTable"/>, 24 bits of SipHash-2-4 over the 4-tuple, the client's ISN, the full counter and the
/// MSS index (so neither the counter bits nor the MSS bits can be altered without failing the check).
/// Like every SYN-cookie scheme, the cookie has no room for window scaling, SACK-permitted or timestamps: a connection
/// accepted from a cookie runs without them unless the listener recovers them some other way.
/// </remarks>
internal sealed class SynCookies
{
    /// <summary>
    /// The MSS values a cookie can carry, ascending. 536: the IPv4 default (RFC 9293 §3.7.1); 1220: the IPv6 minimum MTU
    /// 1280 − 60; 1300: common behind tunnels and VPNs; 1440: Ethernet with IPv6 (1500 − 60); 1452: PPPoE with IPv4
    /// (1492 − 40); 1460: Ethernet with IPv4 (1500 − 40); 8940 and 8960: 9000-byte jumbo frames over IPv6 and IPv4.
    /// </summary>
    public static ReadOnlySpan<ushort> MssTable => s_mssTable;

    private static readonly ushort[] s_mssTable = [536, 1220, 1300, 1440, 1452, 1460, 8940, 8960];

    /// <summary>How long one counter period lasts (RFC 4987 §3.6 uses a slowly increasing counter; 64 s as in common practice).</summary>
    public static readonly TimeSpan CounterPeriod = TimeSpan.FromSeconds(64);

    private const int CounterBits = 5;
    private const uint CounterMask = (1u << CounterBits) - 1;
    private const int MssIndexShift = 24;
    private const uint HashMask = (1u << MssIndexShift) - 1;

    private readonly SipHash _hash;

    /// <summary>Creates a cookie codec with a random secret.</summary>
    public SynCookies() => _hash = SipHash.WithRandomKey();

    /// <summary>Creates a cookie codec with a given 16-byte secret (tests).</summary>
    public SynCookies(ReadOnlySpan<byte> secret) => _hash = new SipHash(secret);

    /// <summary>Makes our ISN for a SYN from <paramref name="remote"/> to <paramref name="local"/> with the client's ISN and wanted MSS.</summary>
    /// <remarks>The MSS is rounded down to a table entry; below the smallest entry, the smallest (536) is used.</remarks>
    public SeqNumber Encode(NetEndpoint local, NetEndpoint remote, SeqNumber clientIsn, int mss, Instant now)
    {
        long counter = Counter(now);
        uint mssIndex = (uint)MssIndexFor(mss);
        uint hash = Mac(local, remote, clientIsn, counter, mssIndex);
        uint cookie = ((uint)counter & CounterMask) << (32 - CounterBits) | mssIndex << MssIndexShift | hash;
        return new SeqNumber(cookie);
    }

    /// <summary>
    /// Checks the final ACK of a handshake: <paramref name="cookie"/> is ack − 1 and <paramref name="clientIsn"/> is seq − 1.
    /// Valid for cookies made within the last two counter periods (a period is 64 s). On success gives the MSS to use
    /// (the largest table entry not above the client's).
    /// </summary>
    public bool TryDecode(NetEndpoint local, NetEndpoint remote, SeqNumber cookie, SeqNumber clientIsn, Instant now, out int mss)
    {
        mss = 0;
        long current = Counter(now);
        uint cookieCounter = cookie.Value >> (32 - CounterBits);
        uint mssIndex = (cookie.Value >> MssIndexShift) & 7;

        // Only the current and the previous period are accepted; the 5 counter bits tell which one it claims to be.
        long counter;
        if (cookieCounter == ((uint)current & CounterMask)) counter = current;
        else if (cookieCounter == ((uint)(current - 1) & CounterMask)) counter = current - 1;
        else return false;

        if ((cookie.Value & HashMask) != Mac(local, remote, clientIsn, counter, mssIndex)) return false;
        mss = MssTable[(int)mssIndex];
        return true;
    }

    /// <summary>The index of the largest table entry not above <paramref name="mss"/> (0 when it is below them all).</summary>
    internal static int MssIndexFor(int mss)
    {
        ReadOnlySpan<ushort> table = MssTable;
        for (int i = table.Length - 1; i > 0; i--)
            if (mss >= table[i]) return i;
        return 0;
    }

    private static long Counter(Instant now) => Math.Max(now.Ticks, 0) / CounterPeriod.Ticks;

    private uint Mac(NetEndpoint local, NetEndpoint remote, SeqNumber clientIsn, long counter, uint mssIndex)
    {
        Span<byte> input = stackalloc byte[ConnectionTupleBytes.MaxLength + 4 + 8 + 1];
        int at = ConnectionTupleBytes.Write(input, local, remote);
        BinaryPrimitives.WriteUInt32BigEndian(input[at..], clientIsn.Value);
        at += 4;
        BinaryPrimitives.WriteInt64BigEndian(input[at..], counter);
        at += 8;
        input[at++] = (byte)mssIndex;
        return (uint)_hash.Hash(input[..at]) & HashMask;
    }
}
