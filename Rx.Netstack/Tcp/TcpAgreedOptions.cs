using System.Runtime.InteropServices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// What the handshake agreed for a connection (RFC 9293 §3.7.1 MSS, RFC 7323 window scaling and timestamps, RFC 2018
/// SACK) and the timestamp state that rides on every segment. An option is used only if both SYNs carried it. A part of
/// <see cref="TcpControlBlock"/>: set by the handshake, the MSS lowered by path MTU discovery, TS.Recent by input.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct TcpAgreedOptions
{
    /// <summary>Before the handshake: our MSS from the route, the peer's default, TSvals offset by <paramref name="tsOffset"/>.</summary>
    public TcpAgreedOptions(int ourMss, int peerMss, uint tsOffset)
    {
        OurMss = ourMss;
        PeerMss = peerMss;
        Mss = Math.Min(ourMss, peerMss);
        TsOffset = tsOffset;
    }

    /// <summary>Our MSS: route MTU − IP header − 20, lowered by path MTU discovery (RFC 1191 §6.3, RFC 8201 §5.4). Our SYN
    /// announces it.</summary>
    public int OurMss;

    /// <summary>The peer's MSS option, or the default for its IP version when it sent none (RFC 9293 §3.7.1).</summary>
    public int PeerMss;

    /// <summary>The MSS in use, the smaller of the two: the largest payload of a segment without options (RFC 6691: options
    /// come out of it).</summary>
    public int Mss;

    /// <summary>Both SYNs carried a window-scale option (RFC 7323 §2.2): the shifts in the sender and receiver apply.</summary>
    public bool WindowScaling;

    /// <summary>Both SYNs carried SACK-permitted (RFC 2018 §2): we send SACK blocks and use the peer's.</summary>
    public bool Sack;

    /// <summary>Both SYNs carried timestamps (RFC 7323 §3.2): every segment carries them, for RTT samples and PAWS.</summary>
    public bool Timestamps;

    /// <summary>Added to our millisecond clock to make TSval (RFC 7323 §5.4), taken from the ISN so a new incarnation's TSvals
    /// are newer than the old one's (RFC 6191).</summary>
    public uint TsOffset;

    /// <summary>TS.Recent: the TSval to echo, the newest from a segment at or below the last ACK we sent (RFC 7323 §4.3).</summary>
    public uint TsRecent;

    /// <summary>When TS.Recent was taken: after 24 days idle it is no longer valid for PAWS (RFC 7323 §5.5).</summary>
    public Instant TsRecentAt;

    /// <summary>The bytes the timestamps option takes in a header, padded, as the wire layer writes it (12).</summary>
    private static readonly int TimestampsOptionLength =
        new TcpHeader(0, 0, TcpFlags.Ack) { HasTimestamps = true }.Length - TcpHeader.MinHeaderLength;

    /// <summary>SMSS for congestion control: the payload of a full segment carrying the options every segment carries.</summary>
    public readonly int Smss => Math.Max(1, Mss - (Timestamps ? TimestampsOptionLength : 0));

    /// <summary>Our TSval at <paramref name="now"/>: a 1 ms clock (RFC 7323 §5.4) plus <see cref="TsOffset"/>.</summary>
    public readonly uint TsNow(Instant now) => unchecked(TsOffset + (uint)(now.Ticks / TimeSpan.TicksPerMillisecond));

    /// <summary>Timestamp order (RFC 7323 §5.3): <paramref name="a"/> is older than <paramref name="b"/>, modulo 2^32.</summary>
    public static bool TsBefore(uint a, uint b) => unchecked((int)(a - b)) < 0;
}
