namespace Rx.Netstack.Devices;

/// <summary>
/// Transmit TCP segmentation offload over a TUN or TAP descriptor with virtio-net headers: the header that asks the kernel to cut an
/// outgoing TCP super-segment (a TCP packet longer than the MTU, which the stack sends only to a device that reports
/// <see cref="IPacketDevice.TcpSegmentationOffload"/>) into MTU-sized segments. The kernel copies the IP and TCP headers with
/// their options into each piece, advances the sequence number, keeps FIN and PSH for the last piece and CWR for the first,
/// and fixes lengths and checksums; delivered locally, the super-segment is taken whole, as a GRO-merged packet would be.
/// </summary>
internal static class TcpSegmentation
{
    private const int TcpChecksumOffset = 16;
    private const byte Cwr = 0x80;

    /// <summary>
    /// True when <paramref name="partial"/> (the plan <c>PartialChecksum.TryPlan</c> made for <paramref name="packet"/>)
    /// describes a TCP packet whose payload does not fit in one <paramref name="mtu"/>-sized packet; then
    /// <paramref name="header"/> is it with the GSO fields set: the type (TCPv4 or TCPv6, with the ECN bit when the segment
    /// carries CWR, as Linux marks such a super-packet), <c>gso_size</c> = MTU − IP header − TCP header with its options (the
    /// payload of each piece) and <c>hdr_len</c> = the IP and TCP headers. False for anything else.
    /// </summary>
    public static bool TryPlan(ReadOnlySpan<byte> packet, int mtu, VirtioNetHeader partial, out VirtioNetHeader header) =>
        TryPlan(packet, 0, mtu, partial, out header);

    /// <summary>
    /// The same for the IP packet that starts <paramref name="ipStart"/> bytes into <paramref name="frame"/> (after a TAP frame's
    /// Ethernet header, which the kernel copies into each piece too): <c>hdr_len</c> counts from the start of the frame, the
    /// MTU and <c>gso_size</c> only the IP packet.
    /// </summary>
    public static bool TryPlan(ReadOnlySpan<byte> frame, int ipStart, int mtu, VirtioNetHeader partial, out VirtioNetHeader header) =>
        TryPlan(frame, frame.Length, ipStart, mtu, partial, out header);

    /// <summary>The same for a frame of <paramref name="frameLength"/> bytes of which only the start, <paramref name="headers"/>,
    /// is at hand (a packet sent in pieces): false when those bytes do not hold the whole TCP header.</summary>
    public static bool TryPlan(ReadOnlySpan<byte> headers, int frameLength, int ipStart, int mtu, VirtioNetHeader partial, out VirtioNetHeader header)
    {
        ReadOnlySpan<byte> frame = headers;
        header = default;
        if ((partial.Flags & VirtioNetHeader.FlagNeedsChecksum) == 0 || partial.ChecksumOffset != TcpChecksumOffset) return false;
        int tcpStart = partial.ChecksumStart;
        if (tcpStart <= ipStart || frame.Length < tcpStart + 20) return false;
        int tcpHeaderLength = (frame[tcpStart + 12] >> 4) * 4;
        int headerEnd = tcpStart + tcpHeaderLength;
        int segmentPayload = mtu - (headerEnd - ipStart);
        if (tcpHeaderLength < 20 || headerEnd > frame.Length || segmentPayload <= 0 || frameLength - headerEnd <= segmentPayload) return false;
        byte type = (frame[ipStart] >> 4) == 4 ? VirtioNetHeader.GsoTcpV4 : VirtioNetHeader.GsoTcpV6;
        if ((frame[tcpStart + 13] & Cwr) != 0) type |= VirtioNetHeader.GsoEcn;
        header = partial with { GsoType = type, HeaderLength = (ushort)headerEnd, GsoSize = (ushort)segmentPayload };
        return true;
    }
}
