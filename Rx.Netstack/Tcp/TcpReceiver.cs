using System.Diagnostics;
using System.Runtime.InteropServices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// The receiving half of a connection (gVisor's <c>receiver</c>): the receive sequence space of RFC 9293 §3.3.1, the window
/// we advertised, the receive buffer with its out-of-order ranges, held payloads and a waiting reader, the peer's FIN and
/// the delayed-ACK count. A part of <see cref="TcpControlBlock"/>, which alone changes it.
/// </summary>
/// <remarks>
/// The bytes received in order and not read are the ring's, then the held payloads' (<see cref="Queued"/>); they and the
/// free space (<see cref="Free"/>) make up the buffer. Out-of-order data sits in the ring beyond its count, at its offset
/// from RCV.NXT, and is never there together with held payloads. <see cref="WindowEdge"/> never moves left, and RCV.NXT
/// never passes it but by the FIN (<see cref="AssertValid"/> checks these in Debug builds).
/// </remarks>
[StructLayout(LayoutKind.Auto)]
internal struct TcpReceiver
{
    /// <summary>A receiver with an empty buffer of <paramref name="buffer"/> that may grow to <paramref name="bufferLimit"/> bytes,
    /// heard from last at <paramref name="now"/>.</summary>
    public TcpReceiver(ByteRing buffer, int bufferLimit, Instant now)
    {
        Buffer = buffer;
        OutOfOrder = new SequenceRangeSet(32, SequenceRangeSet.CapacityForWindow(bufferLimit));
        LastReceivedAt = now;
    }

    /// <summary>IRS: the peer's initial sequence number, its SYN's.</summary>
    public SeqNumber Irs;

    /// <summary>RCV.NXT: the next sequence number expected.</summary>
    public SeqNumber Nxt;

    /// <summary>The right edge (RCV.NXT + window) the last segment we sent advertised. Receiver SWS avoidance moves it only by
    /// enough (RFC 9293 §3.8.6.2.2); a scaled window rounded down may put it a little left of the one before.</summary>
    public SeqNumber AdvertisedEdge;

    /// <summary>The furthest right edge ever advertised, where taking data stops (RCV.NXT + RCV.WND): the peer may already
    /// have sent up to it, so it never moves left (RFC 7323 §2.4, RFC 9293 §3.8.6.2.2).</summary>
    public SeqNumber WindowEdge;

    /// <summary>The acknowledgment number of the last segment we sent: TS.Recent is taken only from segments at or below it
    /// (RFC 7323 §4.3).</summary>
    public SeqNumber LastAckSent;

    /// <summary>Rcv.Wind.Shift (RFC 7323 §2.3): how far our window field is shifted; 0 without window scaling.</summary>
    public int WindowScale;

    /// <summary>The largest window our 16-bit window field can offer at <see cref="WindowScale"/> (at most 1 GiB).</summary>
    public readonly int LargestWindow => ushort.MaxValue << WindowScale;

    /// <summary>The peer's FIN was received in order: no data follows it.</summary>
    public bool FinReceived;

    /// <summary>A FIN arrived ahead of missing data and waits at <see cref="PendingFinSequence"/> for the gap to fill.</summary>
    public bool HasPendingFin;

    /// <summary>Where the early FIN sits.</summary>
    public SeqNumber PendingFinSequence;

    /// <summary>Received data: the in-order bytes not read, then out-of-order bytes at their offsets. Rented from the pool only
    /// while it holds bytes.</summary>
    public readonly ByteRing Buffer;

    /// <summary>In-order payloads after the ring's bytes, kept in the frames they came in.</summary>
    public HeldPayloadQueue Held;

    /// <summary>The ranges above RCV.NXT received out of order (in <see cref="Buffer"/>), which our SACK blocks report.</summary>
    public readonly SequenceRangeSet OutOfOrder;

    /// <summary>The starts of the most recent out-of-order segments, newest first: their blocks go first in a SACK option
    /// (RFC 2018 §4). Made at the first out-of-order segment, so idle connections do not carry it.</summary>
    public SeqNumber[]? SackAnchors;

    /// <summary>How many of <see cref="SackAnchors"/> are meaningful.</summary>
    public int SackAnchorCount;

    /// <summary>Data received twice waits to be reported: the next ACK carries <see cref="DuplicateSack"/> as its first SACK
    /// block, once (D-SACK, RFC 2883 §4).</summary>
    public bool HasDuplicateSack;

    /// <summary>The duplicate range to report (the first one since the last ACK, RFC 2883 §4 "first duplicate").</summary>
    public SackBlock DuplicateSack;

    /// <summary>The most duplicates waiting for ACKs of their own behind <see cref="DuplicateSack"/>.</summary>
    public const int MaxQueuedDuplicateSacks = 8;

    /// <summary>
    /// Further duplicates that came before the ACK for the first went out (one receive burst), oldest first: each goes out
    /// as the D-SACK of an ACK of its own after it, as a receiver that answers every duplicate segment at once would send
    /// them (RFC 2883 §4: the D-SACK reports the segment that triggered the ACK). Made at the second pending duplicate.
    /// </summary>
    public SackBlock[]? QueuedDuplicateSacks;

    /// <summary>How many of <see cref="QueuedDuplicateSacks"/> are meaningful.</summary>
    public byte QueuedDuplicateSackCount; // at most MaxQueuedDuplicateSacks: a byte keeps idle connections small

    /// <summary>
    /// Data [<paramref name="left"/>, <paramref name="right"/>) arrived twice: it becomes the D-SACK of the next ACK, or, when
    /// one is already waiting, of an ACK after it — merged into the last one waiting when the two touch (one run of
    /// duplicate segments, one report), dropped when <see cref="MaxQueuedDuplicateSacks"/> are waiting.
    /// </summary>
    public void NoteDuplicate(SeqNumber left, SeqNumber right)
    {
        if (!HasDuplicateSack)
        {
            HasDuplicateSack = true;
            DuplicateSack = new SackBlock(left, right);
            return;
        }
        ref SackBlock last = ref QueuedDuplicateSackCount > 0 ? ref QueuedDuplicateSacks![QueuedDuplicateSackCount - 1] : ref DuplicateSack;
        if (left <= last.Right && right >= last.Left)
        {
            last = new SackBlock(SeqNumber.Min(left, last.Left), SeqNumber.Max(right, last.Right));
            return;
        }
        if (QueuedDuplicateSackCount == MaxQueuedDuplicateSacks) return;
        QueuedDuplicateSacks ??= new SackBlock[MaxQueuedDuplicateSacks];
        QueuedDuplicateSacks[QueuedDuplicateSackCount++] = new SackBlock(left, right);
    }

    /// <summary>The D-SACK went out: the next duplicate waiting, if any, becomes the one the next ACK reports.</summary>
    public void DuplicateSackSent()
    {
        HasDuplicateSack = QueuedDuplicateSackCount > 0;
        if (!HasDuplicateSack) return;
        DuplicateSack = QueuedDuplicateSacks![0];
        QueuedDuplicateSackCount--;
        Array.Copy(QueuedDuplicateSacks, 1, QueuedDuplicateSacks, 0, QueuedDuplicateSackCount);
    }

    /// <summary>A reader waiting with its own buffer, which in-order data may go straight into (<c>.DirectRead</c>).</summary>
    public IReadBufferClaim? DirectReader;

    /// <summary>Bytes already placed in <see cref="DirectReader"/>'s buffer, counted as read.</summary>
    public int DirectCount;

    /// <summary>The peer's segment size as seen in the data it sends (at most our MSS): "every second full-sized segment" is
    /// measured in it (RFC 5681 §4.2).</summary>
    public int MssEstimate;

    /// <summary>Bytes received since we last sent an ACK (delayed ACK, RFC 1122 §4.2.3.2).</summary>
    public int UnackedBytes;

    /// <summary>When an acceptable segment last arrived: the keep-alive idle time and an orphaned FIN-WAIT-2 count from here.</summary>
    public Instant LastReceivedAt;

    /// <summary>When we last answered an unacceptable pure ACK (at most one such answer per 500 ms).</summary>
    public Instant LastOutOfWindowAckAt;

    /// <summary>Payload bytes received in order (statistics; less <see cref="Queued"/>, what the reader took).</summary>
    public long BytesReceived;

    /// <summary>Receive buffer auto-tuning's measurement (<see cref="TcpSettings.MaxReceiveBufferSize"/>); null until the first
    /// segment of a connection that tunes.</summary>
    public ReceiveBufferTuning? Tuning;

    /// <summary>Receive buffer still free: the ring's room less the bytes held in frames.</summary>
    public readonly int Free => Buffer.Free - Held.Bytes;

    /// <summary>Bytes received in order and not read: in the ring, then held.</summary>
    public readonly int Queued => Buffer.Count + Held.Bytes;

    /// <summary>
    /// RCV.WND (RFC 9293 §3.3.1): what the peer may send beyond RCV.NXT — the window we advertised, which receiver SWS
    /// avoidance keeps below the free space. 0 after we advertised a zero window, even if the reader freed a little since.
    /// </summary>
    public readonly int Window => Math.Max(0, WindowEdge - Nxt);

    /// <summary>Debug builds: the buffer accounting and window edges are consistent.</summary>
    [Conditional("DEBUG")]
    public readonly void AssertValid()
    {
        Debug.Assert(Free >= 0, $"held bytes {Held.Bytes} fit in the ring's room {Buffer.Free}");
        Debug.Assert((Held.Count == 0) == (Held.Bytes == 0), $"{Held.Count} held payloads hold {Held.Bytes} bytes");
        Debug.Assert(OutOfOrder.Count == 0 || Held.Count == 0, "held payloads never sit beside out-of-order data");
        Debug.Assert(OutOfOrder.Count == 0 || (OutOfOrder[0].Left > Nxt && OutOfOrder[OutOfOrder.Count - 1].Right <= Nxt + Buffer.Free),
            $"out-of-order data lies above RCV.NXT {Nxt} within the ring's room {Buffer.Free}");
        Debug.Assert(AdvertisedEdge <= WindowEdge, $"the last edge advertised {AdvertisedEdge} ≤ the furthest {WindowEdge}");
        Debug.Assert(Nxt <= WindowEdge || (FinReceived && Nxt == WindowEdge + 1),
            $"RCV.NXT {Nxt} never passes the furthest edge advertised {WindowEdge} (RFC 9293 §3.10.7.4) but by the FIN");
        Debug.Assert(DirectCount == 0 || DirectReader is not null, "bytes placed directly have a reader");
        Debug.Assert(SackAnchorCount == 0 || SackAnchorCount <= SackAnchors!.Length, "SACK anchors fit their array");
    }
}
