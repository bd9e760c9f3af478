using System.Diagnostics;
using System.Reactive.Subjects;
using System.Runtime.InteropServices;
using System.Text;

namespace Rx.Netstack.Devices;

/// <summary>
/// A Linux TUN interface (<c>IFF_TUN | IFF_NO_PI</c>): the kernel routes IP packets to it and we receive them as
/// bare IP packets; what we transmit, the kernel receives as if it came in on that interface.
/// </summary>
/// <remarks>
/// <para>A dedicated reader thread, started by the first subscription to <see cref="Received"/>, waits in <c>poll()</c> on
/// the TUN descriptor and a wake pipe (no busy loop, no timeout polling), reads the queued packets one by one (until EAGAIN, bounded) into one pooled buffer and hands it to <see cref="Received"/>
/// subscribers, borrowed, on that thread. <see cref="Dispose"/> wakes the thread through the pipe, joins it
/// and closes the descriptors; then <see cref="Received"/> completes.</para>
/// <para><see cref="Transmit"/> is a non-blocking <c>write()</c> (<c>writev()</c> with offloads); a packet the kernel cannot take at once
/// (queue full) or rejects is dropped and counted in <see cref="TransmitDropped"/>. The device also takes a packet in pieces
/// (<see cref="IGatherPacketDevice"/>): the stack then hands it a TCP segment's headers and its payload where the send ring holds
/// it, all written by one <c>writev()</c>, so the payload is copied once, by the kernel, instead of first into a frame.</para>
/// <para>The descriptor stays bound to the interface in the network namespace of the thread that opened it. The reader
/// thread runs in the namespace of the thread that subscribed first, so opening inside <see cref="NetworkNamespace.Run"/>
/// does not pull the reader, nor the threads it causes to be made, into that namespace.</para>
/// <para>Offloads (the default, as gVisor and QEMU use them): the descriptor is opened with <c>IFF_VNET_HDR</c> and
/// <c>TUNSETOFFLOAD</c> tells the kernel we take partial checksums and TCP segmentation offload, so a kernel TCP sender hands
/// us super-packets of up to 64 KiB (one read() instead of up to 44). Each is delivered as one frame: its IP header already
/// describes the whole of it and our TCP takes a segment larger than its MSS. Their checksums are partial, so the device
/// reports <see cref="ChecksumOffload.Receive"/> (what comes from the local kernel cannot have been corrupted on a wire).
/// What we transmit goes out one packet per write; the device also reports <see cref="TcpSegmentationOffload"/>, so the stack
/// may write a TCP super-segment of up to 64 KiB that the kernel cuts into MTU-sized segments (or, delivering it locally,
/// takes whole): one write instead of up to 44 (see <see cref="TcpSegmentation"/>). It also reports
/// <see cref="ChecksumOffload.Transmit"/>, and a TCP/UDP packet the stack left without checksum asks the kernel to finish it
/// (<c>NEEDS_CSUM</c>, which locally delivered it need not). A device put between this one and the stack must forward
/// <see cref="ChecksumOffload"/> and <see cref="TcpSegmentationOffload"/> (CaptureDevice and ImpairedLink do), or the stack would check partial checksums and drop.</para>
/// <para>Without offloads (plain mode) every packet is at most the MTU, and the reads of one wake-up are delivered as a
/// <see cref="ReceiveBurst"/>: a stack processes them in one pass after the burst, not one pass per packet, so its receive
/// coalescing (GRO, <see cref="NetstackOptions.CoalesceReceivedSegments"/>) merges their runs of in-order TCP segments, each
/// segment's checksum verified first (<see cref="Diagnostics.NetstackStats.SegmentsCoalesced"/>).</para>
/// </remarks>
public sealed unsafe class TunDevice : IGatherPacketDevice, IDisposable
{
    /// <summary>The largest IP packet (a GSO super-packet included) and its virtio-net header.</summary>
    private const int ReadBufferSize = 65536 + VirtioNetHeader.Size;

    /// <summary>What we tell the kernel we take with offloads on: partial checksums, TCP super-packets over IPv4 and IPv6 (the
    /// same for <see cref="TapDevice"/>).</summary>
    internal const uint OffloadFlags = LinuxNative.TUN_F_CSUM | LinuxNative.TUN_F_TSO4 | LinuxNative.TUN_F_TSO6;

    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly TransmitObserver _transmit;
    /// <summary>The TUN descriptor, its wake pipe and the reader thread.</summary>
    private readonly DeviceDescriptor _descriptor;
    /// <summary>The reader's buffer: super-packets of 8 KiB or more are handed to the stack in it, not copied.</summary>
    private readonly DeviceReadBuffer _readBuffer = new();
    private long _transmitDropped;
    private long _gsoPacketsReceived;
    private long _gsoPacketsSent;
    private long _gatheredPacketsSent;
    private long _receiveDropped;

    private TunDevice(DeviceDescriptor descriptor, string name, int mtu, string? offloadsOffReason)
    {
        _descriptor = descriptor;
        Name = name;
        Mtu = mtu;
        Offloads = offloadsOffReason is null;
        OffloadsOffReason = offloadsOffReason;
        _transmit = new TransmitObserver(this);
        Debug.Assert(DeviceReadBuffer.Size >= ReadBufferSize, "a read buffer holds the largest read");
        // Plain mode reads in receive bursts, so a stack's round sees a wake-up's packets together and merges their in-order
        // TCP segments (GRO). With offloads each read is a super-packet already (the kernel's GSO), handed over in its own
        // buffer: a burst would only hold up to 64 of those buffers until it ends.
        Received = descriptor.PrepareReader(_readBuffer, ReadBufferSize, burst: !Offloads, n => Deliver(_readBuffer, n), _received);
    }

    /// <summary>
    /// Opens (and by default creates) the TUN interface <paramref name="name"/> in the calling thread's network
    /// namespace. The interface still needs an address and to be brought up (<c>ip addr add</c>, <c>ip link set up</c>).
    /// </summary>
    /// <param name="name">Interface name, at most 15 bytes.</param>
    /// <param name="createIfMissing">False to fail when no interface of that name exists yet.</param>
    /// <param name="offloads">True (the default) to ask for virtio-net headers and TCP segmentation offload; when the
    /// kernel refuses, the device opens in plain mode and <see cref="OffloadsOffReason"/> says why.</param>
    /// <exception cref="TunDeviceException">Not Linux, not permitted (needs root or CAP_NET_ADMIN and /dev/net/tun),
    /// or no such interface while <paramref name="createIfMissing"/> is false.</exception>
    public static TunDevice Open(string name, bool createIfMissing = true, bool offloads = true) =>
        OpenWithFlags(name, createIfMissing, offloads, flags: 0);

    /// <summary>Opens a descriptor of <paramref name="name"/> with <paramref name="flags"/> besides the usual ones
    /// (<c>IFF_MULTI_QUEUE</c> for one queue of a <see cref="MultiQueueTunDevice"/>).</summary>
    internal static TunDevice OpenWithFlags(string name, bool createIfMissing, bool offloads, short flags)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!OperatingSystem.IsLinux())
            throw new TunDeviceException($"TUN device '{name}': TUN devices are supported on Linux only.");
        if (Encoding.UTF8.GetByteCount(name) >= LinuxNative.InterfaceNameSize)
            throw new ArgumentException($"An interface name is at most {LinuxNative.InterfaceNameSize - 1} bytes.", nameof(name));
        if (!createIfMissing && LinuxNative.IfNameToIndex(name) == 0)
            throw new TunDeviceException($"TUN device '{name}': no such interface (and createIfMissing is false).", LinuxNative.ENODEV);

        string? offloadsOffReason = offloads ? null : "not requested (offloads: false)";
        string actualName = name;
        int fd = -1;
        if (offloads)
        {
            if (!BitConverter.IsLittleEndian) offloadsOffReason = "virtio-net headers are read as little-endian; this host is big-endian";
            else (fd, offloadsOffReason) = TryOpenWithOffloads(name, flags, out actualName);
        }
        if (fd < 0) fd = OpenPlain(name, flags, out actualName);
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
        return new TunDevice(DeviceDescriptor.Create("TUN", actualName, fd), actualName, mtu, offloadsOffReason);
    }

    /// <summary>A descriptor bound to the interface without virtio-net headers (<c>IFF_TUN | IFF_NO_PI</c>); throws on failure.</summary>
    private static int OpenPlain(string name, short flags, out string actualName)
    {
        int fd = OpenDescriptor(name);
        var request = InterfaceRequests.For(name);
        request.Flags = (short)(LinuxNative.IFF_TUN | LinuxNative.IFF_NO_PI | flags);
        if (LinuxNative.Ioctl(fd, LinuxNative.TUNSETIFF, &request) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            LinuxNative.Close(fd);
            throw TunDeviceException.ForFailedCall("ioctl TUNSETIFF", name, errno);
        }
        actualName = InterfaceRequests.NameOf(request); // the kernel fills in patterns such as "tun%d"
        return fd;
    }

    /// <summary>
    /// A descriptor with virtio-net headers and the offloads of <see cref="OffloadFlags"/> enabled, or (-1, why not): the
    /// descriptor is then closed (an interface it created goes with it) and the caller opens in plain mode, which reports
    /// any failure that is not about offloads (permissions, a missing interface).
    /// </summary>
    private static (int Fd, string? WhyNot) TryOpenWithOffloads(string name, short flags, out string actualName)
    {
        actualName = name;
        int fd = OpenDescriptor(name);
        var request = InterfaceRequests.For(name);
        request.Flags = (short)(LinuxNative.IFF_TUN | LinuxNative.IFF_NO_PI | LinuxNative.IFF_VNET_HDR | flags);
        if (LinuxNative.Ioctl(fd, LinuxNative.TUNSETIFF, &request) < 0)
        {
            string why = $"ioctl TUNSETIFF with IFF_VNET_HDR failed: {LinuxNative.Describe(Marshal.GetLastPInvokeError())}";
            LinuxNative.Close(fd);
            return (-1, why);
        }
        // The argument of TUNSETOFFLOAD is the flag word itself, not a pointer to it.
        if (LinuxNative.Ioctl(fd, LinuxNative.TUNSETOFFLOAD, (void*)(nuint)OffloadFlags) < 0)
        {
            string why = $"ioctl TUNSETOFFLOAD failed: {LinuxNative.Describe(Marshal.GetLastPInvokeError())}";
            LinuxNative.Close(fd);
            return (-1, why);
        }
        actualName = InterfaceRequests.NameOf(request);
        return (fd, null);
    }

    private static int OpenDescriptor(string name)
    {
        int fd = LinuxNative.Open("/dev/net/tun", LinuxNative.O_RDWR | LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC);
        if (fd < 0) throw TunDeviceException.ForFailedCall("open /dev/net/tun", name, Marshal.GetLastPInvokeError());
        return fd;
    }

    /// <summary>The interface name the kernel gave.</summary>
    public string Name { get; }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received { get; }

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <summary>The interface's MTU when it was opened (SIOCGIFMTU).</summary>
    public int Mtu { get; }

    /// <summary>True when the descriptor carries virtio-net headers and the kernel may hand us GSO super-packets with partial
    /// checksums (see the remarks); false in plain mode, and then <see cref="OffloadsOffReason"/> says why.</summary>
    public bool Offloads { get; }

    /// <summary>Why the device runs in plain mode (not requested, or what the kernel answered); null with offloads on.</summary>
    public string? OffloadsOffReason { get; }

    /// <summary><see cref="ChecksumOffload.Both"/> with offloads on: the local kernel's packets (partial checksums among them)
    /// need no check, and the kernel finishes the TCP/UDP checksums the stack leaves zero (see <see cref="PartialChecksum"/>);
    /// none in plain mode.</summary>
    public ChecksumOffload ChecksumOffload => Offloads ? ChecksumOffload.Both : ChecksumOffload.None;

    /// <summary>GSO super-packets read (offloads on): each is one TCP segment larger than the MTU, delivered as one frame.</summary>
    public long GsoPacketsReceived => Interlocked.Read(ref _gsoPacketsReceived);

    /// <summary>True with offloads on: the kernel cuts a TCP packet longer than the MTU that we write (a super-segment, see
    /// <see cref="IPacketDevice.TcpSegmentationOffload"/>) into MTU-sized segments.</summary>
    public bool TcpSegmentationOffload => Offloads;

    /// <summary>TCP super-segments written (offloads on): each longer than the MTU, cut by the kernel.</summary>
    public long GsoPacketsSent => Interlocked.Read(ref _gsoPacketsSent);

    /// <summary>Packets written in pieces through <see cref="TransmitGathered"/> (for tests: the stack used the gather path).</summary>
    internal long GatheredPacketsSent => Interlocked.Read(ref _gatheredPacketsSent);

    /// <summary>Reads dropped instead of delivered: a virtio-net header that is short or malformed (offloads on).</summary>
    public long ReceiveDropped => Interlocked.Read(ref _receiveDropped);

    /// <summary>Packets the kernel did not take (queue full, rejected) or that were longer than the MTU (and not a TCP
    /// super-segment with offloads on).</summary>
    public long TransmitDropped => Interlocked.Read(ref _transmitDropped);

    /// <summary>True while the reader thread runs (for tests: it must end on <see cref="Dispose"/>).</summary>
    internal bool IsReaderRunning => _descriptor.IsReaderRunning;

    /// <summary>Stops the reader thread, closes the descriptor and completes <see cref="Received"/>.</summary>
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
        if (!VirtioNetWriter.TryAccept(buffer.Span[..length], ref _receiveDropped, ref _gsoPacketsReceived, out _)) return;
        buffer.Deliver(_received, VirtioNetHeader.Size, length - VirtioNetHeader.Size);
    }

    /// <summary>Writes a packet given in pieces (<see cref="IGatherPacketDevice"/>): one <c>writev()</c> of the headers and the
    /// payload where the stack keeps it (its send ring), which the kernel copies once, into its own buffer.</summary>
    public void TransmitGathered(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadContinued)
    {
        Interlocked.Increment(ref _gatheredPacketsSent);
        Send(headers, payload, payloadContinued);
    }

    private void Send(ReadOnlyMemory<byte> frame) => Send(frame.Span, [], []);

    private void Send(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadContinued)
    {
        int length = headers.Length + payload.Length + payloadContinued.Length;
        if (length > Mtu && !Offloads)
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
                // Only a TCP super-segment may be longer than the MTU: the kernel cuts it (TcpSegmentation).
                switch (VirtioNetWriter.Write(fd, headers, payload, payloadContinued, ipStart: 0, Mtu, oversize: length > Mtu, allowSegmentation: true))
                {
                    case VirtioWriteResult.WrittenSegmented: Interlocked.Increment(ref _gsoPacketsSent); break;
                    case VirtioWriteResult.TooLong or VirtioWriteResult.NotTaken: Interlocked.Increment(ref _transmitDropped); break;
                }
                return;
            }
            nint written;
            fixed (byte* h = headers)
            fixed (byte* p = payload)
            fixed (byte* q = payloadContinued)
            {
                if (payload.IsEmpty && payloadContinued.IsEmpty) written = LinuxNative.Write(fd, h, (nuint)length);
                else
                {
                    var vectors = stackalloc LinuxNative.IoVector[3];
                    vectors[0] = new LinuxNative.IoVector { Base = h, Length = (nuint)headers.Length };
                    vectors[1] = new LinuxNative.IoVector { Base = p, Length = (nuint)payload.Length };
                    vectors[2] = new LinuxNative.IoVector { Base = q, Length = (nuint)payloadContinued.Length };
                    written = LinuxNative.WriteVector(fd, vectors, 3);
                }
            }
            if (written != length) Interlocked.Increment(ref _transmitDropped);
        }
    }

    private sealed class TransmitObserver(TunDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => owner.Send(value);

        public void OnError(Exception error) => owner.Dispose();

        public void OnCompleted() => owner.Dispose();
    }
}
