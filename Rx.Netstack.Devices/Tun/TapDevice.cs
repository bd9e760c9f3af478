using System.Buffers.Binary;
using System.Diagnostics;
using System.Reactive.Subjects;
using System.Runtime.InteropServices;
using System.Text;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Devices;

/// <summary>
/// A Linux TAP interface (<c>IFF_TAP | IFF_NO_PI</c>): Ethernet frames, so the stack is a host of its own on the link — put
/// the interface in a bridge with a veth, a VM's or a container's network, and the stack answers ARP and neighbour discovery
/// with its own MAC address (<see cref="LinkMedium.Ethernet"/>, see docs/ethernet.md).
/// </summary>
/// <remarks>
/// <para>As <see cref="TunDevice"/>: a reader thread (started by the first subscription to <see cref="Received"/>) waits in
/// <c>poll()</c> on the descriptor and a wake pipe, reads the queued frames into one pooled buffer and hands each to
/// <see cref="Received"/>, borrowed, on that thread; <see cref="Transmit"/> is
/// a non-blocking <c>write()</c>, and a frame the kernel cannot take is dropped and counted in <see cref="TransmitDropped"/>.
/// <see cref="Dispose"/> wakes and joins the reader, closes the descriptors and completes <see cref="Received"/>.</para>
/// <para>Offloads (the default, as for <see cref="TunDevice"/>): the descriptor is opened with <c>IFF_VNET_HDR</c> and
/// <c>TUNSETOFFLOAD</c> takes partial checksums and TCP segmentation offload over IPv4 and IPv6, so a kernel TCP sender on the
/// bridge (a veth's host) hands us Ethernet super-frames of up to 64 KiB: one Ethernet header and an IP packet whose header
/// describes the whole, delivered as one frame (<see cref="GsoPacketsReceived"/>) that the stack takes as the train of segments
/// it stands for. The device reports <see cref="ChecksumOffload.Both"/>: partial checksums from the kernel are not checked, and
/// the TCP/UDP checksums the stack leaves zero are finished by the kernel (<c>NEEDS_CSUM</c>).
/// A frame the kernel neither made partial nor checked (<c>DATA_VALID</c>) — one bridged from a NIC that checks nothing — has its
/// TCP/UDP checksum checked here, and a wrong one is counted in <see cref="ReceiveDropped"/>. It reports
/// <see cref="TcpSegmentationOffload"/>: after neighbour resolution the stack may write one Ethernet header and a TCP
/// super-segment of up to 64 KiB that the kernel cuts into MTU-sized frames, each with a copy of the Ethernet, IP and TCP
/// headers (<see cref="GsoPacketsSent"/>). Frames that carry no IP packet (ARP) or one the kernel cannot finish (ICMP,
/// fragments) go out under a plain header, as they are. Super-segments are only cut from untagged frames; the stack sends
/// none with an 802.1Q tag (<see cref="Link.EthernetSettings.VlanId"/>).</para>
/// <para>Without offloads (plain mode) frames are whole, checksums complete, each at most the MTU plus an 18-byte Ethernet
/// header; the reads of one wake-up are delivered as a <see cref="ReceiveBurst"/>, processed by a stack in one pass.</para>
/// </remarks>
public sealed unsafe class TapDevice : IPacketDevice, IDisposable
{
    /// <summary>The Ethernet header with an 802.1Q tag: what a frame adds to the MTU's IP packet.</summary>
    private const int FrameOverhead = 18;

    /// <summary>An untagged Ethernet header: where the IP packet of a plain frame starts.</summary>
    private const int EthernetHeaderLength = 14;

    /// <summary>The largest read: a virtio-net header and a tagged frame around the largest IP packet (a GSO super-frame).</summary>
    private const int ReadBufferSize = VirtioNetHeader.Size + FrameOverhead + 65535;

    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly TransmitObserver _transmit;
    /// <summary>The TAP descriptor, its wake pipe and the reader thread.</summary>
    private readonly DeviceDescriptor _descriptor;
    /// <summary>The reader's buffer: super-frames of 8 KiB or more are handed to the stack in it, not copied.</summary>
    private readonly DeviceReadBuffer _readBuffer = new();
    private long _transmitDropped;
    /// <summary>Reads with a malformed virtio-net header or a wrong unchecked checksum (<see cref="ReceiveDropped"/>).</summary>
    private long _receiveDropped;
    /// <summary>GSO super-frames read (<see cref="GsoPacketsReceived"/>).</summary>
    private long _gsoPacketsReceived;
    /// <summary>TCP super-segments the kernel took to cut (<see cref="GsoPacketsSent"/>).</summary>
    private long _gsoPacketsSent;

    private TapDevice(DeviceDescriptor descriptor, string name, int mtu, string? offloadsOffReason)
    {
        _descriptor = descriptor;
        Name = name;
        Mtu = mtu;
        Offloads = offloadsOffReason is null;
        OffloadsOffReason = offloadsOffReason;
        _transmit = new TransmitObserver(this);
        Debug.Assert(DeviceReadBuffer.Size >= ReadBufferSize, "a read buffer holds the largest read");
        // Plain mode reads in receive bursts, as TunDevice does.
        Received = descriptor.PrepareReader(_readBuffer, ReadBufferSize, burst: !Offloads, n => Deliver(_readBuffer, n), _received);
    }

    /// <summary>
    /// Opens (and by default creates) the TAP interface <paramref name="name"/> in the calling thread's network namespace. It
    /// still needs to be brought up (<c>ip link set NAME up</c>) and, to reach anyone, put in a bridge (<c>ip link set NAME
    /// master br0</c>). The stack's addresses are the stack's, not the interface's: give the interface none.
    /// </summary>
    /// <param name="name">Interface name, at most 15 bytes.</param>
    /// <param name="createIfMissing">False to fail when no interface of that name exists yet.</param>
    /// <param name="offloads">True (the default) to ask for virtio-net headers, checksum and TCP segmentation offload; when the
    /// kernel refuses, the device opens in plain mode and <see cref="OffloadsOffReason"/> says why.</param>
    /// <exception cref="TunDeviceException">Not Linux, not permitted (needs root or CAP_NET_ADMIN and /dev/net/tun), the
    /// name belongs to a TUN interface, or no such interface while <paramref name="createIfMissing"/> is false.</exception>
    public static TapDevice Open(string name, bool createIfMissing = true, bool offloads = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!OperatingSystem.IsLinux())
            throw new TunDeviceException($"TAP device '{name}': TAP devices are supported on Linux only.");
        if (Encoding.UTF8.GetByteCount(name) >= LinuxNative.InterfaceNameSize)
            throw new ArgumentException($"An interface name is at most {LinuxNative.InterfaceNameSize - 1} bytes.", nameof(name));
        if (!createIfMissing && LinuxNative.IfNameToIndex(name) == 0)
            throw new TunDeviceException($"TAP device '{name}': no such interface (and createIfMissing is false).", LinuxNative.ENODEV);

        string? offloadsOffReason = offloads ? null : "not requested (offloads: false)";
        int fd = -1;
        string actualName = name;
        if (offloads)
        {
            if (!BitConverter.IsLittleEndian) offloadsOffReason = "virtio-net headers are read as little-endian; this host is big-endian";
            else (fd, offloadsOffReason) = TryOpenWithOffloads(name, out actualName);
        }
        if (fd < 0) fd = OpenDescriptor(name, LinuxNative.IFF_TAP | LinuxNative.IFF_NO_PI, out actualName);
        int mtu;
        try
        {
            mtu = InterfaceRequests.ReadMtu(actualName);
        }
        catch
        {
            LinuxNative.Close(fd);
            throw;
        }
        return new TapDevice(DeviceDescriptor.Create("TAP", actualName, fd), actualName, mtu, offloadsOffReason);
    }

    /// <summary>A descriptor bound to the TAP interface with <paramref name="flags"/>; throws on failure.</summary>
    private static int OpenDescriptor(string name, short flags, out string actualName)
    {
        int fd = LinuxNative.Open("/dev/net/tun", LinuxNative.O_RDWR | LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC);
        if (fd < 0) throw TunDeviceException.ForFailedCall("open /dev/net/tun", name, Marshal.GetLastPInvokeError());
        var request = InterfaceRequests.For(name);
        request.Flags = flags;
        if (LinuxNative.Ioctl(fd, LinuxNative.TUNSETIFF, &request) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            LinuxNative.Close(fd);
            throw TunDeviceException.ForFailedCall("ioctl TUNSETIFF (IFF_TAP)", name, errno);
        }
        actualName = InterfaceRequests.NameOf(request);
        return fd;
    }

    /// <summary>
    /// A descriptor with virtio-net headers and the offloads of <see cref="TunDevice.OffloadFlags"/>, or (-1, why not): the
    /// descriptor is then closed and the caller opens in plain mode, which reports any failure that is not about offloads.
    /// </summary>
    private static (int Fd, string? WhyNot) TryOpenWithOffloads(string name, out string actualName)
    {
        int fd;
        try
        {
            fd = OpenDescriptor(name, LinuxNative.IFF_TAP | LinuxNative.IFF_NO_PI | LinuxNative.IFF_VNET_HDR, out actualName);
        }
        catch (TunDeviceException e)
        {
            actualName = name;
            return (-1, $"ioctl TUNSETIFF with IFF_VNET_HDR failed: {e.Message}");
        }
        // The argument of TUNSETOFFLOAD is the flag word itself, not a pointer to it.
        if (LinuxNative.Ioctl(fd, LinuxNative.TUNSETOFFLOAD, (void*)(nuint)TunDevice.OffloadFlags) < 0)
        {
            string why = $"ioctl TUNSETOFFLOAD failed: {LinuxNative.Describe(Marshal.GetLastPInvokeError())}";
            LinuxNative.Close(fd);
            return (-1, why);
        }
        return (fd, null);
    }

    /// <summary>The interface name the kernel gave.</summary>
    public string Name { get; }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received { get; }

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <summary>The interface's MTU when it was opened (SIOCGIFMTU): the largest IP packet a frame carries.</summary>
    public int Mtu { get; }

    /// <summary><see cref="LinkMedium.Ethernet"/>.</summary>
    public LinkMedium Medium => LinkMedium.Ethernet;

    /// <summary>True when the descriptor carries virtio-net headers: the kernel may hand us GSO super-frames with partial
    /// checksums and cuts the stack's TCP super-segments (see the remarks); false in plain mode, and then
    /// <see cref="OffloadsOffReason"/> says why.</summary>
    public bool Offloads { get; }

    /// <summary>Why the device runs in plain mode (not requested, or what the kernel answered); null with offloads on.</summary>
    public string? OffloadsOffReason { get; }

    /// <summary><see cref="ChecksumOffload.Both"/> with offloads on (see the remarks); none in plain mode.</summary>
    public ChecksumOffload ChecksumOffload => Offloads ? ChecksumOffload.Both : ChecksumOffload.None;

    /// <summary>True with offloads on: the kernel cuts an untagged frame carrying a TCP packet longer than the MTU into
    /// MTU-sized frames (see <see cref="IPacketDevice.TcpSegmentationOffload"/>).</summary>
    public bool TcpSegmentationOffload => Offloads;

    /// <summary>GSO super-frames read (offloads on): each one Ethernet header and a TCP segment larger than the MTU.</summary>
    public long GsoPacketsReceived => Interlocked.Read(ref _gsoPacketsReceived);

    /// <summary>TCP super-segments written (offloads on): each an untagged frame longer than the MTU, cut by the kernel.</summary>
    public long GsoPacketsSent => Interlocked.Read(ref _gsoPacketsSent);

    /// <summary>Reads dropped instead of delivered (offloads on): a virtio-net header that is short or malformed, or a TCP/UDP
    /// checksum that the kernel neither checked nor left partial and that is wrong.</summary>
    public long ReceiveDropped => Interlocked.Read(ref _receiveDropped);

    /// <summary>Frames the kernel did not take (queue full, rejected) or longer than the MTU and a tagged header (and not an
    /// untagged TCP super-segment with offloads on).</summary>
    public long TransmitDropped => Interlocked.Read(ref _transmitDropped);

    /// <summary>True while the reader thread runs (for tests: it must end on <see cref="Dispose"/>).</summary>
    internal bool IsReaderRunning => _descriptor.IsReaderRunning;

    /// <summary>Stops the reader thread, closes the descriptor (a TAP interface it created goes with it) and completes
    /// <see cref="Received"/>.</summary>
    public void Dispose() => _descriptor.Stop();

    /// <summary>Hands one read to the subscribers: as it is in plain mode, without its virtio-net header with offloads on
    /// (a read whose header is short or malformed is counted in <see cref="ReceiveDropped"/>). Internal: tests feed reads in.</summary>
    internal void Deliver(byte[] read, int length)
    {
        var buffer = new DeviceReadBuffer();
        read.AsSpan(0, length).CopyTo(buffer.Span);
        Deliver(buffer, length);
    }

    private void Deliver(DeviceReadBuffer buffer, int length)
    {
        if (!Offloads)
        {
            buffer.Deliver(_received, 0, length);
            return;
        }
        if (!VirtioNetWriter.TryAccept(buffer.Span[..length], ref _receiveDropped, ref _gsoPacketsReceived, out VirtioNetHeader header)) return;
        // The device reports receive checksum offload, so the stack checks no TCP/UDP checksum. The kernel's own frames come
        // partial (NEEDS_CSUM) or checked (DATA_VALID); one it neither made nor checked (bridged from a NIC that checks
        // nothing) is checked here, and a wrong one dropped as a checksum error would be.
        if ((header.Flags & (VirtioNetHeader.FlagNeedsChecksum | VirtioNetHeader.FlagDataValid)) == 0
            && !TransportChecksumHolds(buffer.Span[VirtioNetHeader.Size..length]))
        {
            Interlocked.Increment(ref _receiveDropped);
            return;
        }
        buffer.Deliver(_received, VirtioNetHeader.Size, length - VirtioNetHeader.Size);
    }

    /// <summary>
    /// False only for an unfragmented TCP or UDP packet over IPv4, or IPv6 without extension headers, whose checksum is wrong
    /// (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1: an IPv6 UDP checksum of zero is wrong too); true for anything else, which the
    /// stack parses and counts itself.
    /// </summary>
    internal static bool TransportChecksumHolds(ReadOnlySpan<byte> frame)
    {
        const byte tcp = 6, udp = 17;
        int ipStart = IpStart(frame);
        if (ipStart < 0) return true;
        ReadOnlySpan<byte> packet = frame[ipStart..];
        if (packet.Length < 20) return true;
        NetAddress source, destination;
        byte protocol;
        ReadOnlySpan<byte> transport;
        bool v4 = packet[0] >> 4 == 4;
        if (v4)
        {
            int headerLength = (packet[0] & 0x0f) * 4, total = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
            if (headerLength < 20 || total < headerLength || total > packet.Length) return true;
            if ((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3fff) != 0) return true; // a fragment
            protocol = packet[9];
            source = NetAddress.ReadV4(packet[12..]);
            destination = NetAddress.ReadV4(packet[16..]);
            transport = packet[headerLength..total];
        }
        else if (packet[0] >> 4 == 6 && packet.Length >= 40)
        {
            int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
            if (40 + payloadLength > packet.Length) return true;
            protocol = packet[6];
            source = NetAddress.ReadV6(packet[8..]);
            destination = NetAddress.ReadV6(packet[24..]);
            transport = packet[40..(40 + payloadLength)];
        }
        else
        {
            return true;
        }
        if (protocol is not (tcp or udp) || transport.Length < (protocol == tcp ? 20 : 8)) return true;
        if (protocol == udp && v4 && BinaryPrimitives.ReadUInt16BigEndian(transport[6..]) == 0) return true; // no checksum (RFC 768)
        return Checksum.Verify(transport, Checksum.PseudoHeader(source, destination, (IpProtocol)protocol, transport.Length));
    }

    private void Send(ReadOnlyMemory<byte> frame)
    {
        int ipStart = IpStart(frame.Span);
        bool oversize = ipStart >= 0 ? frame.Length - ipStart > Mtu : frame.Length > Mtu + FrameOverhead;
        if (oversize && !Offloads)
        {
            Interlocked.Increment(ref _transmitDropped);
            return;
        }
        lock (_descriptor.Gate) // so a concurrent Dispose cannot close (and the fd number be reused) mid-write
        {
            if (!_descriptor.CanWrite) return;
            int fd = _descriptor.Fd;
            if (Offloads)
            {
                // Only an untagged frame with a TCP super-segment may be longer: the kernel cuts it (TcpSegmentation).
                switch (VirtioNetWriter.Write(fd, frame.Span, ipStart, Mtu, oversize, allowSegmentation: ipStart == EthernetHeaderLength))
                {
                    case VirtioWriteResult.WrittenSegmented: Interlocked.Increment(ref _gsoPacketsSent); break;
                    case VirtioWriteResult.TooLong or VirtioWriteResult.NotTaken: Interlocked.Increment(ref _transmitDropped); break;
                }
                return;
            }
            nint written;
            fixed (byte* p = frame.Span) written = LinuxNative.Write(fd, p, (nuint)frame.Length);
            if (written != frame.Length) Interlocked.Increment(ref _transmitDropped);
        }
    }

    /// <summary>Where the IP packet of an Ethernet frame starts (after one optional 802.1Q tag), or -1 when it carries none.</summary>
    internal static int IpStart(ReadOnlySpan<byte> frame)
    {
        const ushort ipv4 = 0x0800, ipv6 = 0x86DD, vlan = 0x8100;
        if (frame.Length < EthernetHeaderLength) return -1;
        int at = 12;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[at..]);
        if (type == vlan)
        {
            at += 4;
            if (frame.Length < at + 2) return -1;
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[at..]);
        }
        return type is ipv4 or ipv6 ? at + 2 : -1;
    }

    private sealed class TransmitObserver(TapDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => owner.Send(value);

        public void OnError(Exception error) => owner.Dispose();

        public void OnCompleted() => owner.Dispose();
    }
}
