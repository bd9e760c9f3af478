using System.Buffers;
using System.Reactive.Subjects;
using System.Runtime.InteropServices;
using System.Text;

namespace Rx.Netstack.Devices;

/// <summary>
/// A Linux TAP interface (<c>IFF_TAP | IFF_NO_PI</c>): Ethernet frames, so the stack is a host of its own on the link — put
/// the interface in a bridge with a veth, a VM's or a container's network, and the stack answers ARP and neighbour discovery
/// with its own MAC address (<see cref="LinkMedium.Ethernet"/>, see docs/ethernet.md).
/// </summary>
/// <remarks>
/// <para>As <see cref="TunDevice"/>: a reader thread waits in <c>poll()</c> on the descriptor and a wake pipe, reads the queued
/// frames into one pooled buffer and hands each to <see cref="Received"/>, borrowed, on that thread; <see cref="Transmit"/> is
/// a non-blocking <c>write()</c>, and a frame the kernel cannot take is dropped and counted in <see cref="TransmitDropped"/>.
/// <see cref="Dispose"/> wakes and joins the reader, closes the descriptors and completes <see cref="Received"/>.</para>
/// <para>No offloads yet: frames are whole, checksums complete, each at most the MTU plus an 18-byte Ethernet header.</para>
/// </remarks>
public sealed unsafe class TapDevice : IPacketDevice, IDisposable
{
    /// <summary>The Ethernet header with an 802.1Q tag: what a frame adds to the MTU's IP packet.</summary>
    private const int FrameOverhead = 18;

    /// <summary>Frames read per wake-up of poll() at most, so a flood cannot keep the reader from seeing Dispose's wake pipe.</summary>
    private const int MaxReadsPerPoll = 64;

    private readonly Subject<ReadOnlyMemory<byte>> _received = new();
    private readonly TransmitObserver _transmit;
    private readonly Lock _descriptorGate = new();
    private readonly Thread _reader;
    private readonly int _wakeWrite;
    private readonly int _wakeRead;
    private int _fd;
    private volatile bool _stopping;
    private int _disposeStarted;
    private bool _closed;
    private long _transmitDropped;

    private TapDevice(int fd, string name, int mtu, int wakeRead, int wakeWrite)
    {
        _fd = fd;
        Name = name;
        Mtu = mtu;
        _wakeRead = wakeRead;
        _wakeWrite = wakeWrite;
        _transmit = new TransmitObserver(this);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"tap {name} reader" };
    }

    /// <summary>
    /// Opens (and by default creates) the TAP interface <paramref name="name"/> in the calling thread's network namespace. It
    /// still needs to be brought up (<c>ip link set NAME up</c>) and, to reach anyone, put in a bridge (<c>ip link set NAME
    /// master br0</c>). The stack's addresses are the stack's, not the interface's: give the interface none.
    /// </summary>
    /// <param name="name">Interface name, at most 15 bytes.</param>
    /// <param name="createIfMissing">False to fail when no interface of that name exists yet.</param>
    /// <exception cref="TunDeviceException">Not Linux, not permitted (needs root or CAP_NET_ADMIN and /dev/net/tun), the
    /// name belongs to a TUN interface, or no such interface while <paramref name="createIfMissing"/> is false.</exception>
    public static TapDevice Open(string name, bool createIfMissing = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!OperatingSystem.IsLinux())
            throw new TunDeviceException($"TAP device '{name}': TAP devices are supported on Linux only.");
        if (Encoding.UTF8.GetByteCount(name) >= LinuxNative.InterfaceNameSize)
            throw new ArgumentException($"An interface name is at most {LinuxNative.InterfaceNameSize - 1} bytes.", nameof(name));
        if (!createIfMissing && LinuxNative.IfNameToIndex(name) == 0)
            throw new TunDeviceException($"TAP device '{name}': no such interface (and createIfMissing is false).", LinuxNative.ENODEV);

        int fd = LinuxNative.Open("/dev/net/tun", LinuxNative.O_RDWR | LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC);
        if (fd < 0) throw TunDeviceException.ForFailedCall("open /dev/net/tun", name, Marshal.GetLastPInvokeError());
        int* pipe = stackalloc int[2] { -1, -1 };
        try
        {
            var request = InterfaceRequests.For(name);
            request.Flags = LinuxNative.IFF_TAP | LinuxNative.IFF_NO_PI;
            if (LinuxNative.Ioctl(fd, LinuxNative.TUNSETIFF, &request) < 0)
                throw TunDeviceException.ForFailedCall("ioctl TUNSETIFF (IFF_TAP)", name, Marshal.GetLastPInvokeError());
            string actualName = InterfaceRequests.NameOf(request);
            int mtu = InterfaceRequests.ReadMtu(actualName);
            if (LinuxNative.Pipe2(pipe, LinuxNative.O_CLOEXEC | LinuxNative.O_NONBLOCK) < 0)
                throw TunDeviceException.ForFailedCall("pipe2", name, Marshal.GetLastPInvokeError());
            var device = new TapDevice(fd, actualName, mtu, pipe[0], pipe[1]);
            device._reader.Start();
            return device;
        }
        catch
        {
            LinuxNative.Close(fd);
            if (pipe[0] >= 0) LinuxNative.Close(pipe[0]);
            if (pipe[1] >= 0) LinuxNative.Close(pipe[1]);
            throw;
        }
    }

    /// <summary>The interface name the kernel gave.</summary>
    public string Name { get; }

    /// <inheritdoc />
    public IObservable<ReadOnlyMemory<byte>> Received => _received;

    /// <inheritdoc />
    public IObserver<ReadOnlyMemory<byte>> Transmit => _transmit;

    /// <summary>The interface's MTU when it was opened (SIOCGIFMTU): the largest IP packet a frame carries.</summary>
    public int Mtu { get; }

    /// <summary><see cref="LinkMedium.Ethernet"/>.</summary>
    public LinkMedium Medium => LinkMedium.Ethernet;

    /// <summary>Frames the kernel did not take (queue full, rejected) or longer than the MTU and a tagged header.</summary>
    public long TransmitDropped => Interlocked.Read(ref _transmitDropped);

    /// <summary>True while the reader thread runs (for tests: it must end on <see cref="Dispose"/>).</summary>
    internal bool IsReaderRunning => _reader.IsAlive;

    /// <summary>Stops the reader thread, closes the descriptor (a TAP interface it created goes with it) and completes
    /// <see cref="Received"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0) return;
        _stopping = true;
        lock (_descriptorGate)
        {
            byte one = 1;
            if (!_closed) LinuxNative.Write(_wakeWrite, &one, 1);
        }
        if (Thread.CurrentThread != _reader && _reader.Join(TimeSpan.FromSeconds(10))) CloseDescriptors();
    }

    private void ReadLoop()
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(65536);
        Exception? failure;
        try
        {
            failure = DescriptorReader.Run("TAP", Name, _fd, _wakeRead, () => _stopping, () => ReadBurst(buffer));
        }
        catch (Exception e)
        {
            failure = e; // a subscriber threw: the device cannot go on delivering
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (_stopping) CloseDescriptors();
        if (failure is not null && !_stopping) _received.OnError(failure);
        else _received.OnCompleted();
    }

    /// <summary>Reads queued frames until EAGAIN (bounded); null, or why reading must stop.</summary>
    private TunDeviceException? ReadBurst(byte[] buffer)
    {
        for (int i = 0; i < MaxReadsPerPoll && !_stopping; i++)
        {
            int n = DescriptorReader.ReadOne("TAP", Name, _fd, buffer, out TunDeviceException? failure);
            if (n > 0) _received.OnNext(new ReadOnlyMemory<byte>(buffer, 0, n));
            else if (n < 0) return failure;
        }
        return null;
    }

    private void CloseDescriptors()
    {
        lock (_descriptorGate)
        {
            if (_closed) return;
            _closed = true;
            LinuxNative.Close(_fd);
            LinuxNative.Close(_wakeRead);
            LinuxNative.Close(_wakeWrite);
            _fd = -1;
        }
    }

    private void Send(ReadOnlyMemory<byte> frame)
    {
        if (frame.Length > Mtu + FrameOverhead)
        {
            Interlocked.Increment(ref _transmitDropped);
            return;
        }
        lock (_descriptorGate) // so a concurrent Dispose cannot close (and the fd number be reused) mid-write
        {
            if (_closed || _stopping) return;
            nint written;
            fixed (byte* p = frame.Span) written = LinuxNative.Write(_fd, p, (nuint)frame.Length);
            if (written != frame.Length) Interlocked.Increment(ref _transmitDropped);
        }
    }

    private sealed class TransmitObserver(TapDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => owner.Send(value);

        public void OnError(Exception error) => owner.Dispose();

        public void OnCompleted() => owner.Dispose();
    }
}
