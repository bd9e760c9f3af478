using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the SYN-ACK's sequence number encodes a keyed hash of
/// the 4-tuple, a coarse time counter and an index into a small MSS table, so no state is kept until the final ACK returns.
/// Time comes from the engine (<see cref="Instant"/>), never from a clock.
/// </summary>
internal sealed class SynCookies
{
    /// <summary>Creates a cookie codec with a random secret.</summary>
    public SynCookies() => throw new NotImplementedException();

    /// <summary>Creates a cookie codec with a given 16-byte secret (tests).</summary>
    public SynCookies(ReadOnlySpan<byte> secret) => throw new NotImplementedException();

    /// <summary>Makes our ISN for a SYN from <paramref name="remote"/> to <paramref name="local"/> with the client's ISN and wanted MSS.</summary>
    public SeqNumber Encode(NetEndpoint local, NetEndpoint remote, SeqNumber clientIsn, int mss, Instant now) => throw new NotImplementedException();

    /// <summary>
    /// Checks the final ACK of a handshake: <paramref name="cookie"/> is ack − 1 and <paramref name="clientIsn"/> is seq − 1.
    /// Valid for cookies made within the last two counter periods (a period is 64 s). On success gives the MSS to use
    /// (the largest table entry not above the client's).
    /// </summary>
    public bool TryDecode(NetEndpoint local, NetEndpoint remote, SeqNumber cookie, SeqNumber clientIsn, Instant now, out int mss) =>
        throw new NotImplementedException();
}
