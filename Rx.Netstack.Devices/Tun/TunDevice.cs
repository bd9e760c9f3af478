using System.Buffers;
using System.Reactive.Subjects;
using System.Runtime.InteropServices;
using System.Text;

namespace Rx.Netstack.Devices;

/// <summary>
/// A Linux TUN interface (<c>IFF_TUN | IFF_NO_PI</c>): the kernel routes IP packets to it and we receive them as
/// bare IP packets; what we transmit, the kernel receives as if it came in on that interface.
/// </summary>
/// <remarks>
/// <para>A dedicated reader thread waits in <c>poll()</c> on the TUN descriptor and a wake pipe (no busy loop,
/// no timeout polling), reads the queued packets one by one (until EAGAIN, bounded) into one pooled buffer and hands it to <see cref="Received"/>
/// subscribers, borrowed, on that thread. <see cref="Dispose"/> wakes the thread through the pipe, joins it
/// and closes the descriptors; then <see cref="Received"/> completes.</para>
/// <para><see cref="Transmit"/> is a non-blocking <c>write()</c>; a packet the kernel cannot take at once
/// (queue full) or rejects is dropped and counted in <see cref="TransmitDropped"/>.</para>
/// <para>The descriptor stays bound to the interface in the network namespace of the thread that opened it.</para>
/// </remarks>
public sealed unsafe class TunDevice : IPacketDevice, IDisposable
{
    private const int ReadBufferSize = 65536;

    /// <summary>Packets read per wake-up of poll() at most, so a flood cannot keep the reader from seeing Dispose's wake pipe.</summary>
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

    private TunDevice(int fd, string name, int mtu, int wakeRead, int wakeWrite)
    {
        _fd = fd;
        Name = name;
        Mtu = mtu;
        _wakeRead = wakeRead;
        _wakeWrite = wakeWrite;
        _transmit = new TransmitObserver(this);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"tun {name} reader" };
    }

    /// <summary>
    /// Opens (and by default creates) the TUN interface <paramref name="name"/> in the calling thread's network
    /// namespace. The interface still needs an address and to be brought up (<c>ip addr add</c>, <c>ip link set up</c>).
    /// </summary>
    /// <param name="name">Interface name, at most 15 bytes.</param>
    /// <param name="createIfMissing">False to fail when no interface of that name exists yet.</param>
    /// <exception cref="TunDeviceException">Not Linux, not permitted (needs root or CAP_NET_ADMIN and /dev/net/tun),
    /// or no such interface while <paramref name="createIfMissing"/> is false.</exception>
    public static TunDevice Open(string name, bool createIfMissing = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!OperatingSystem.IsLinux())
            throw new TunDeviceException($"TUN device '{name}': TUN devices are supported on Linux only.");
        if (Encoding.UTF8.GetByteCount(name) >= LinuxNative.InterfaceNameSize)
            throw new ArgumentException($"An interface name is at most {LinuxNative.InterfaceNameSize - 1} bytes.", nameof(name));
        if (!createIfMissing && LinuxNative.IfNameToIndex(name) == 0)
            throw new TunDeviceException($"TUN device '{name}': no such interface (and createIfMissing is false).", LinuxNative.ENODEV);

        int fd = LinuxNative.Open("/dev/net/tun", LinuxNative.O_RDWR | LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC);
        if (fd < 0) throw TunDeviceException.ForFailedCall("open /dev/net/tun", name, Marshal.GetLastPInvokeError());
        int* pipe = stackalloc int[2] { -1, -1 };
        try
        {
            var request = NewRequest(name);
            request.Flags = LinuxNative.IFF_TUN | LinuxNative.IFF_NO_PI;
            if (LinuxNative.Ioctl(fd, LinuxNative.TUNSETIFF, &request) < 0)
                throw TunDeviceException.ForFailedCall("ioctl TUNSETIFF", name, Marshal.GetLastPInvokeError());
            string actualName = NameOf(request); // the kernel fills in patterns such as "tun%d"
            int mtu = ReadMtu(actualName);
            if (LinuxNative.Pipe2(pipe, LinuxNative.O_CLOEXEC | LinuxNative.O_NONBLOCK) < 0)
                throw TunDeviceException.ForFailedCall("pipe2", name, Marshal.GetLastPInvokeError());

            var device = new TunDevice(fd, actualName, mtu, pipe[0], pipe[1]);
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

    /// <summary>The interface's MTU when it was opened (SIOCGIFMTU).</summary>
    public int Mtu { get; }

    /// <summary>Packets the kernel did not take (queue full, rejected) or that were longer than the MTU.</summary>
    public long TransmitDropped => Interlocked.Read(ref _transmitDropped);

    /// <summary>True while the reader thread runs (for tests: it must end on <see cref="Dispose"/>).</summary>
    internal bool IsReaderRunning => _reader.IsAlive;

    /// <summary>Stops the reader thread, closes the descriptor and completes <see cref="Received"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0) return;
        _stopping = true;
        lock (_descriptorGate)
        {
            byte one = 1;
            if (!_closed) LinuxNative.Write(_wakeWrite, &one, 1);
        }
        if (Thread.CurrentThread != _reader)
        {
            // The reader wakes at once. If a subscriber is stuck in OnNext, the reader closes the descriptors
            // itself when it gets out (never close under it: the numbers could be reused while it still polls).
            if (_reader.Join(TimeSpan.FromSeconds(10))) CloseDescriptors();
        }
    }

    private void ReadLoop()
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        Exception? failure = null;
        try
        {
            var fds = stackalloc LinuxNative.PollFd[2];
            while (!_stopping)
            {
                fds[0] = new LinuxNative.PollFd { Fd = _fd, Events = LinuxNative.POLLIN };
                fds[1] = new LinuxNative.PollFd { Fd = _wakeRead, Events = LinuxNative.POLLIN };
                if (LinuxNative.Poll(fds, 2, -1) < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == LinuxNative.EINTR) continue;
                    failure = TunDeviceException.ForFailedCall("poll", Name, errno);
                    break;
                }
                if (fds[1].Revents != 0 || _stopping) break;
                short revents = fds[0].Revents;
                if ((revents & LinuxNative.POLLIN) != 0)
                {
                    failure = ReadBurst(buffer);
                    if (failure is not null) break;
                    continue;
                }
                if ((revents & (LinuxNative.POLLERR | LinuxNative.POLLHUP | LinuxNative.POLLNVAL)) != 0)
                {
                    failure = new TunDeviceException($"TUN device '{Name}': the descriptor reported an error (poll events 0x{revents:x}).");
                    break;
                }
            }
        }
        catch (Exception e)
        {
            failure = e; // a subscriber threw: the device cannot go on delivering
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        // Stopping: close here too, in case Dispose was called by a subscriber on this very thread (it cannot join).
        if (_stopping) CloseDescriptors();
        if (failure is not null && !_stopping) _received.OnError(failure);
        else _received.OnCompleted();
    }

    /// <summary>
    /// Reads what the kernel has queued, up to <see cref="MaxReadsPerPoll"/> packets, until the descriptor (non-blocking)
    /// says EAGAIN: under load one poll() serves a burst of packets instead of one each. Null, or why reading must stop.
    /// </summary>
    private Exception? ReadBurst(byte[] buffer)
    {
        for (int i = 0; i < MaxReadsPerPoll && !_stopping; i++)
        {
            nint n;
            fixed (byte* p = buffer) n = LinuxNative.Read(_fd, p, (nuint)buffer.Length);
            if (n > 0)
            {
                _received.OnNext(new ReadOnlyMemory<byte>(buffer, 0, (int)n));
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (n < 0 && errno == LinuxNative.EAGAIN) return null; // drained: back to poll()
            if (n < 0 && errno == LinuxNative.EINTR) continue;
            return n == 0
                ? new TunDeviceException($"TUN device '{Name}': the interface went away.")
                : TunDeviceException.ForFailedCall("read", Name, errno);
        }
        return null; // bounded: poll() again, which also sees the wake pipe
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
        if (frame.Length > Mtu)
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

    private static LinuxNative.InterfaceRequest NewRequest(string name)
    {
        var request = default(LinuxNative.InterfaceRequest);
        Encoding.UTF8.GetBytes(name, new Span<byte>(request.Name, LinuxNative.InterfaceNameSize - 1));
        return request;
    }

    private static string NameOf(in LinuxNative.InterfaceRequest request)
    {
        fixed (byte* name = request.Name)
        {
            var span = new ReadOnlySpan<byte>(name, LinuxNative.InterfaceNameSize);
            int end = span.IndexOf((byte)0);
            return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
        }
    }

    private static int ReadMtu(string name)
    {
        int socket = LinuxNative.Socket(LinuxNative.AF_INET, LinuxNative.SOCK_DGRAM | LinuxNative.SOCK_CLOEXEC, 0);
        if (socket < 0) throw TunDeviceException.ForFailedCall("socket (to read the MTU)", name, Marshal.GetLastPInvokeError());
        try
        {
            var request = NewRequest(name);
            if (LinuxNative.Ioctl(socket, LinuxNative.SIOCGIFMTU, &request) < 0)
                throw TunDeviceException.ForFailedCall("ioctl SIOCGIFMTU", name, Marshal.GetLastPInvokeError());
            return request.Mtu;
        }
        finally
        {
            LinuxNative.Close(socket);
        }
    }

    private sealed class TransmitObserver(TunDevice owner) : IObserver<ReadOnlyMemory<byte>>
    {
        public void OnNext(ReadOnlyMemory<byte> value) => owner.Send(value);

        public void OnError(Exception error) => owner.Dispose();

        public void OnCompleted() => owner.Dispose();
    }
}
