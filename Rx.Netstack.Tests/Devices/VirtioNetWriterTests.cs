using Rx.Netstack.Devices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Devices;

/// <summary>
/// The virtio-net transmit writer given a packet in pieces (the gather path of <see cref="TunDevice"/>): what reaches the
/// descriptor must be exactly what the single-buffer write of the joined packet puts there — the same virtio-net header
/// (partial checksum, segmentation) and the same bytes — however the payload is split. Written to a pipe, read back.
/// </summary>
public sealed unsafe class VirtioNetWriterTests
{
    private static readonly NetAddress Source = NetAddress.Parse("10.1.2.3"), Destination = NetAddress.Parse("10.9.8.7");

    /// <summary>An IPv4 TCP packet with its checksum left zero (transmit offload), and the length of its headers.</summary>
    private static (byte[] Packet, int Headers) Packet(int payloadLength)
    {
        var packet = new byte[20 + 32 + payloadLength];
        new Random(payloadLength).NextBytes(packet.AsSpan(52));
        int length = Rx.Netstack.Wire.TcpHeader.Emit(packet.AsSpan(20),
            new TcpHeader(40000, 80, TcpFlags.Ack | TcpFlags.Psh) { Sequence = new SeqNumber(7), Acknowledgment = new SeqNumber(9), Window = 1000, TimestampValue = 1, TimestampEcho = 2 },
            payloadLength, Source, Destination, computeChecksum: false);
        Ipv4Header.Emit(packet, new Ipv4Header(Source, Destination, IpProtocol.Tcp), length);
        return (packet[..(20 + length)], 20 + length - payloadLength);
    }

    /// <summary>What one write to a pipe left in it.</summary>
    private static byte[] Written(Func<int, VirtioWriteResult> write, out VirtioWriteResult result)
    {
        int* fds = stackalloc int[2];
        Assert.Equal(0, LinuxNative.Pipe2(fds, LinuxNative.O_CLOEXEC | LinuxNative.O_NONBLOCK));
        try
        {
            // A pipe holds 64 KiB by default: room for the largest super-segment and its header.
            result = write(fds[1]);
            byte[] buffer = new byte[70_000];
            int got = 0;
            fixed (byte* p = buffer)
            {
                for (nint n; (n = LinuxNative.Read(fds[0], p + got, (nuint)(buffer.Length - got))) > 0;) got += (int)n;
            }
            return buffer[..got];
        }
        finally
        {
            LinuxNative.Close(fds[0]);
            LinuxNative.Close(fds[1]);
        }
    }

    [Theory]
    [InlineData(1448, 1448)]  // one payload piece
    [InlineData(1448, 1000)]  // two pieces (a wrap in the send ring)
    [InlineData(1448, 0)]     // the whole payload in the second piece
    [InlineData(40_000, 17_321)] // a super-segment the kernel is asked to cut, in two pieces
    [InlineData(0, 0)]        // a pure ACK: headers only
    public void Pieces_write_the_same_bytes_as_the_whole_packet(int payloadLength, int firstPiece)
    {
        if (!OperatingSystem.IsLinux()) return; // pipe2 and writev are the Linux descriptor calls the device uses
        var (packet, headers) = Packet(payloadLength);
        bool oversize = packet.Length > 1500;
        byte[] whole = Written(fd => VirtioNetWriter.Write(fd, packet, ipStart: 0, 1500, oversize, allowSegmentation: true), out VirtioWriteResult wholeResult);
        byte[] pieces = Written(fd =>
        {
            ReadOnlySpan<byte> p = packet;
            return VirtioNetWriter.Write(fd, p[..headers], p.Slice(headers, firstPiece), p[(headers + firstPiece)..], ipStart: 0, 1500,
                oversize, allowSegmentation: true);
        }, out VirtioWriteResult piecesResult);

        Assert.Equal(oversize ? VirtioWriteResult.WrittenSegmented : VirtioWriteResult.Written, wholeResult);
        Assert.Equal(wholeResult, piecesResult);
        Assert.Equal(VirtioNetHeader.Size + packet.Length, whole.Length);
        Assert.Equal(whole, pieces);
        Assert.True(VirtioNetHeader.TryRead(pieces, out VirtioNetHeader header));
        Assert.Equal(VirtioNetHeader.FlagNeedsChecksum, header.Flags);
        Assert.Equal(oversize, header.IsGso);
    }

    [Fact]
    public void Headers_too_short_to_plan_from_go_out_as_they_are_and_an_oversize_packet_is_refused()
    {
        if (!OperatingSystem.IsLinux()) return;
        var (packet, _) = Packet(1348);
        // Only 30 bytes of headers at hand: the checksum field is not among them, so nothing can be planned.
        byte[] small = Written(fd => { ReadOnlySpan<byte> q = packet; return VirtioNetWriter.Write(fd, q[..30], q[30..], [], ipStart: 0, 1500, oversize: false, allowSegmentation: true); }, out VirtioWriteResult r1);
        Assert.Equal(VirtioWriteResult.Written, r1);
        Assert.Equal(new byte[VirtioNetHeader.Size], small[..VirtioNetHeader.Size]);
        Assert.Equal(packet, small[VirtioNetHeader.Size..]);
        var (large, _) = Packet(40_000);
        byte[] none = Written(fd => { ReadOnlySpan<byte> q = large; return VirtioNetWriter.Write(fd, q[..30], q[30..], [], ipStart: 0, 1500, oversize: true, allowSegmentation: true); }, out VirtioWriteResult r2);
        Assert.Equal(VirtioWriteResult.TooLong, r2);
        Assert.Empty(none);
    }
}
