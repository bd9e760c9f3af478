using System.Diagnostics;
using System.Runtime.InteropServices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// The sending half of a connection (gVisor's <c>sender</c>): the send sequence space of RFC 9293 §3.3.1, the peer's
/// window, the send buffer and what the sender counts while it waits for the peer (retries, probes, the timed segment).
/// A part of <see cref="TcpControlBlock"/>, which alone changes it; loss recovery reads it and never writes it.
/// </summary>
/// <remarks>
/// Invariants (<see cref="AssertValid"/>, Debug builds): SND.UNA ≤ SND.NXT ≤ SND.MAX ≤ <see cref="ProbeHigh"/>;
/// the buffer holds the bytes from <see cref="BufferStart"/> (SND.UNA, or one past it while our SYN is unacknowledged)
/// up to <see cref="DataEnd"/>, and nothing beyond them and the FIN was ever sent.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
internal struct TcpSender
{
    /// <summary>An idle sender whose SYN will carry <paramref name="iss"/>, with an empty buffer of <paramref name="buffer"/>.</summary>
    public TcpSender(SeqNumber iss, ByteRing buffer)
    {
        Buffer = buffer;
        Iss = Una = Nxt = Max = ProbeHigh = ShortEnd = iss;
        BufferStart = iss + 1;
        SynGiveUpAt = Instant.Never;
    }

    /// <summary>ISS: our initial sequence number, the SYN's (RFC 9293 §3.4.1).</summary>
    public SeqNumber Iss;

    /// <summary>SND.UNA: the oldest sequence number not yet acknowledged.</summary>
    public SeqNumber Una;

    /// <summary>SND.NXT: the next sequence number to send. A timeout or a smaller path MTU pulls it back to SND.UNA to resend
    /// (go-back-N); <see cref="Max"/> keeps the highest.</summary>
    public SeqNumber Nxt;

    /// <summary>SND.MAX: one past the highest sequence number ever sent.</summary>
    public SeqNumber Max;

    /// <summary>One past the highest byte a zero-window probe carried (RFC 9293 §3.8.6.1): the probe does not move SND.NXT, but
    /// the peer may take the byte and acknowledge up to here.</summary>
    public SeqNumber ProbeHigh;

    /// <summary>SND.SML of Minshall's Nagle variant: one past the last short segment of new data sent. Nagle holds a short
    /// segment back only while this one is unacknowledged (see <c>ShortSegmentAllowed</c>).</summary>
    public SeqNumber ShortEnd;

    /// <summary>SND.WL1: the sequence number of the segment that last updated the window (RFC 9293 §3.10.7.4).</summary>
    public SeqNumber Wl1;

    /// <summary>SND.WL2: the acknowledgment number of that segment.</summary>
    public SeqNumber Wl2;

    /// <summary>SND.WND: the peer's window in bytes, already scaled.</summary>
    public int Window;

    /// <summary>The largest window the peer ever offered: sender SWS avoidance measures "half the window" by it (RFC 9293
    /// §3.8.6.2.1) and RFC 5961 §5.2 by it rejects ACKs of data too old.</summary>
    public int MaxWindow;

    /// <summary>Snd.Wind.Shift (RFC 7323 §2.3): how far the peer's window field is shifted; 0 without window scaling.</summary>
    public int WindowScale;

    /// <summary>The data not yet acknowledged and not yet sent, in order; rented from the pool only while it holds bytes.</summary>
    public readonly ByteRing Buffer;

    /// <summary>The sequence number of the first byte in <see cref="Buffer"/>.</summary>
    public SeqNumber BufferStart;

    /// <summary>A FIN follows the buffered data (after <c>ShutdownWrite</c> or <c>Close</c>); it takes sequence number
    /// <see cref="FinSequence"/>.</summary>
    public bool FinQueued;

    /// <summary>The user closed the sending side during the handshake: the FIN is queued once it completes.</summary>
    public bool FinAfterHandshake;

    /// <summary>When our first SYN went out: the handshake's RTT sample is measured from here (RFC 6298 §2).</summary>
    public Instant SynSentAt;

    /// <summary>Our SYN was sent again: the handshake gives no RTT sample (Karn's rule) and data starts with RTO = 3 s
    /// (RFC 6298 §5.7).</summary>
    public bool SynRetransmitted;

    /// <summary>How many times the SYN or SYN-ACK was sent again (RFC 9293 §3.8.1; limit <c>MaxSynRetries</c>).</summary>
    public int SynRetries;

    /// <summary>When the handshake gives up: the last SYN retry waits until here, as long as the unclamped back-off would.</summary>
    public Instant SynGiveUpAt;

    /// <summary>Consecutive retransmission timeouts without progress (limit <c>MaxRetries</c>, RFC 1122 §4.2.3.5).</summary>
    public int Retries;

    /// <summary>A segment is being timed for an RTT sample without timestamps (Karn's rule, RFC 6298 §3: one at a time, never
    /// a retransmitted one).</summary>
    public bool RttTiming;

    /// <summary>Where the timed segment ends: an ACK at or past it gives the sample.</summary>
    public SeqNumber RttTimedEnd;

    /// <summary>When the timed segment went out.</summary>
    public Instant RttTimedAt;

    /// <summary>The persist timer's back-off exponent (RFC 1122 §4.2.2.17).</summary>
    public int PersistBackoff;

    /// <summary>Zero-window probes the peer left unanswered (limit <c>MaxRetries</c>); any ACK resets it.</summary>
    public int PersistProbes;

    /// <summary>Keep-alive probes the peer left unanswered (limit <c>KeepAliveCount</c>, RFC 1122 §4.2.3.6).</summary>
    public int KeepAliveProbes;

    /// <summary>Where in <see cref="Buffer"/> the payload of the segment last handed out starts, for <c>CopyPayload</c>.</summary>
    public int LastPayloadOffset;

    /// <summary>How long that payload is (0: the segment had none).</summary>
    public int LastPayloadLength;

    /// <summary>Payload bytes sent for the first time (statistics).</summary>
    public long BytesSent;

    /// <summary>Segments sent again, SYNs included (statistics).</summary>
    public long SegmentsRetransmitted;

    /// <summary>One past the last byte buffered: where new data would go and where the FIN sits.</summary>
    public readonly SeqNumber DataEnd => BufferStart + Buffer.Count;

    /// <summary>The sequence number of our FIN (meaningful once <see cref="FinQueued"/>): right after the last data byte.</summary>
    public readonly SeqNumber FinSequence => DataEnd;

    /// <summary>One past the last sequence number that may ever be sent: the data, and the FIN when it is queued.</summary>
    public readonly SeqNumber SendLimit => FinQueued ? DataEnd + 1 : DataEnd;

    /// <summary>Bytes sent and not yet acknowledged (SND.MAX − SND.UNA), the FlightSize of RFC 5681 §2.</summary>
    public readonly int InFlight => Max - Una;

    /// <summary>Drops the bytes up to <paramref name="ack"/> from the buffer (an ACK of our SYN or FIN covers no buffered byte).</summary>
    public void DiscardAcknowledged(SeqNumber ack)
    {
        int acked = Math.Min(ack - BufferStart, Buffer.Count);
        if (acked <= 0) return;
        Buffer.Discard(acked);
        BufferStart += acked;
    }

    /// <summary>Debug builds: the invariants above. A closed connection dropped its buffer, so only the sequence numbers are checked then.</summary>
    [Conditional("DEBUG")]
    public readonly void AssertValid(bool closed)
    {
        Debug.Assert(Una <= Nxt && Nxt <= Max, $"SND.UNA {Una} ≤ SND.NXT {Nxt} ≤ SND.MAX {Max}");
        Debug.Assert(Max <= ProbeHigh, $"SND.MAX {Max} ≤ the probes' high {ProbeHigh}");
        if (closed) return;
        Debug.Assert(BufferStart == Una || (Una == Iss && BufferStart == Iss + 1) || (Buffer.Count == 0 && BufferStart + 1 == Una),
            $"the buffer starts at SND.UNA {Una} (one later before the SYN is acknowledged), not at {BufferStart}");
        Debug.Assert(ProbeHigh <= SendLimit, $"nothing sent beyond the data and FIN: {ProbeHigh} > {SendLimit}");
    }
}
