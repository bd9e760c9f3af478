using System.Buffers.Binary;

namespace Rx.Netstack.Devices;

/// <summary>What <c>VirtioNetWriter.Write</c> did with a frame.</summary>
internal enum VirtioWriteResult
{
    /// <summary>The kernel took the frame whole.</summary>
    Written,

    /// <summary>The kernel took it as a TCP super-segment to cut (<see cref="TcpSegmentation"/>).</summary>
    WrittenSegmented,

    /// <summary>Longer than one packet may be and not a TCP super-segment the kernel can cut: not written.</summary>
    TooLong,

    /// <summary>The kernel did not take it (queue full, rejected) or took only part of it.</summary>
    NotTaken,
}

/// <summary>
/// The transmit half of offloads, shared by <see cref="TunDevice"/> and <see cref="TapDevice"/> on a descriptor opened with
/// <c>IFF_VNET_HDR</c>: one <c>writev()</c> of the virtio-net header and the frame, the frame itself not copied. A TCP/UDP
/// packet whose checksum the stack left zero asks the kernel to finish it (<see cref="PartialChecksum"/>), a TCP packet longer
/// than the MTU asks it to cut it (<see cref="TcpSegmentation"/>); anything else goes out under a plain header.
/// </summary>
internal static unsafe class VirtioNetWriter
{
    /// <summary>
    /// Writes <paramref name="frame"/> to <paramref name="fd"/>. <paramref name="ipStart"/> is where its IP packet starts (0 on
    /// TUN, after the Ethernet header on TAP; -1 for a frame that carries none, such as ARP); <paramref name="oversize"/> says
    /// that packet is longer than <paramref name="mtu"/>, so only a TCP super-segment may go (when
    /// <paramref name="allowSegmentation"/>).
    /// </summary>
    public static VirtioWriteResult Write(int fd, ReadOnlySpan<byte> frame, int ipStart, int mtu, bool oversize, bool allowSegmentation) =>
        Write(fd, frame, [], [], ipStart, mtu, oversize, allowSegmentation);

    /// <summary>
    /// The same for a frame given in pieces (<see cref="IGatherPacketDevice"/>): <paramref name="headers"/> (which must hold the
    /// IP and transport headers for a checksum or segmentation to be planned), then <paramref name="payload"/> and
    /// <paramref name="payloadContinued"/>, each its own vector of the one <c>writev()</c>: the payload is not copied.
    /// </summary>
    public static VirtioWriteResult Write(int fd, ReadOnlySpan<byte> headers, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadContinued,
        int ipStart, int mtu, bool oversize, bool allowSegmentation)
    {
        // Gathered by writev: the virtio-net header, then either the headers as they are (no GSO, checksum complete) or, for a
        // TCP/UDP packet whose checksum we left to the kernel, a copy of them up to the checksum field with the pseudo-header sum
        // in it and then the rest of the headers; then the payload's pieces.
        byte* header = stackalloc byte[VirtioNetHeader.Size];
        byte* prefix = stackalloc byte[PartialChecksum.MaxPrefixLength];
        var vectors = stackalloc LinuxNative.IoVector[5];
        int frameLength = headers.Length + payload.Length + payloadContinued.Length;
        VirtioNetHeader partial = default;
        int prefixLength = 0;
        ushort seed = 0;
        bool planned = ipStart >= 0 && PartialChecksum.TryPlan(headers, frameLength, ipStart, out partial, out prefixLength, out seed);
        bool segmented = false;
        if (oversize)
        {
            if (!allowSegmentation || !planned || !TcpSegmentation.TryPlan(headers, frameLength, ipStart, mtu, partial, out VirtioNetHeader cut))
                return VirtioWriteResult.TooLong;
            partial = cut;
            segmented = true;
        }
        nint written;
        fixed (byte* h = headers)
        fixed (byte* p = payload)
        fixed (byte* q = payloadContinued)
        {
            int count = 1;
            if (planned)
            {
                partial.WriteTo(new Span<byte>(header, VirtioNetHeader.Size));
                var copy = new Span<byte>(prefix, prefixLength);
                headers[..prefixLength].CopyTo(copy);
                BinaryPrimitives.WriteUInt16BigEndian(copy[(prefixLength - 2)..], seed);
                vectors[count++] = new LinuxNative.IoVector { Base = prefix, Length = (nuint)prefixLength };
                if (headers.Length > prefixLength)
                    vectors[count++] = new LinuxNative.IoVector { Base = h + prefixLength, Length = (nuint)(headers.Length - prefixLength) };
            }
            else
            {
                VirtioNetHeader.Plain.WriteTo(new Span<byte>(header, VirtioNetHeader.Size));
                if (!headers.IsEmpty) vectors[count++] = new LinuxNative.IoVector { Base = h, Length = (nuint)headers.Length };
            }
            if (!payload.IsEmpty) vectors[count++] = new LinuxNative.IoVector { Base = p, Length = (nuint)payload.Length };
            if (!payloadContinued.IsEmpty) vectors[count++] = new LinuxNative.IoVector { Base = q, Length = (nuint)payloadContinued.Length };
            vectors[0] = new LinuxNative.IoVector { Base = header, Length = VirtioNetHeader.Size };
            written = LinuxNative.WriteVector(fd, vectors, count);
        }
        if (written != VirtioNetHeader.Size + frameLength) return VirtioWriteResult.NotTaken;
        return segmented ? VirtioWriteResult.WrittenSegmented : VirtioWriteResult.Written;
    }

    /// <summary>
    /// The receive half: checks the virtio-net header at the start of <paramref name="read"/> (what one <c>read()</c> returned)
    /// and counts it. False for a header that is short or malformed (counted in <paramref name="dropped"/>: the kernel never
    /// sends one, so the read is not delivered); true otherwise, with a GSO super-packet counted in <paramref name="gso"/>. The
    /// frame to deliver follows the header.
    /// </summary>
    public static bool TryAccept(ReadOnlySpan<byte> read, ref long dropped, ref long gso, out VirtioNetHeader header)
    {
        if (!VirtioNetHeader.TryRead(read, out header))
        {
            Interlocked.Increment(ref dropped);
            return false;
        }
        if (header.IsGso) Interlocked.Increment(ref gso);
        return true;
    }
}
