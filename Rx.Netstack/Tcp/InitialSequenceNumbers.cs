using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Initial sequence numbers per RFC 6528 (RFC 9293 §3.4.1): ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
/// where M is a 4 µs counter from the engine's time and F a keyed hash, so ISNs are unpredictable off-path and increase for
/// reuses of the same 4-tuple.
/// </summary>
internal sealed class InitialSequenceNumbers
{
    /// <summary>Creates a generator with a random secret.</summary>
    public InitialSequenceNumbers() => throw new NotImplementedException();

    /// <summary>Creates a generator with a given 16-byte secret (tests).</summary>
    public InitialSequenceNumbers(ReadOnlySpan<byte> secret) => throw new NotImplementedException();

    /// <summary>The ISN for a new connection on this 4-tuple at <paramref name="now"/>.</summary>
    public SeqNumber Next(NetEndpoint local, NetEndpoint remote, Instant now) => throw new NotImplementedException();
}
