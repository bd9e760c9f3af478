using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Initial sequence numbers per RFC 6528 (RFC 9293 §3.4.1): ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
/// where M is a 4 µs counter from the engine's time and F a keyed hash, so ISNs are unpredictable off-path and increase for
/// reuses of the same 4-tuple.
/// </summary>
/// <remarks>F is SipHash-2-4 under a 128-bit secret (RFC 6528 §3 asks for a PRF with a secret of at least 128 bits).</remarks>
internal sealed class InitialSequenceNumbers
{
    // RFC 9293 §3.4.1: the clock ticks every 4 µs, which is 40 ticks of 100 ns.
    private const long TicksPerIsnStep = 40;

    private readonly SipHash _hash;

    /// <summary>Creates a generator with a random secret.</summary>
    public InitialSequenceNumbers() => _hash = SipHash.WithRandomKey();

    /// <summary>Creates a generator with a given 16-byte secret (tests).</summary>
    public InitialSequenceNumbers(ReadOnlySpan<byte> secret) => _hash = new SipHash(secret);

    /// <summary>The ISN for a new connection on this 4-tuple at <paramref name="now"/>.</summary>
    public SeqNumber Next(NetEndpoint local, NetEndpoint remote, Instant now)
    {
        Span<byte> tuple = stackalloc byte[ConnectionTupleBytes.MaxLength];
        int length = ConnectionTupleBytes.Write(tuple, local, remote);
        uint f = (uint)_hash.Hash(tuple[..length]);
        uint m = unchecked((uint)(now.Ticks / TicksPerIsnStep));
        return new SeqNumber(unchecked(m + f));
    }
}
