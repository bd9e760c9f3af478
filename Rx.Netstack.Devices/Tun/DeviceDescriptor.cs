using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Runtime.InteropServices;

namespace Rx.Netstack.Devices;

/// <summary>
/// The descriptor of a TUN or TAP interface, its wake pipe and its reader thread, shared by <see cref="TunDevice"/> and
/// <see cref="TapDevice"/>. The reader waits in <c>poll()</c> on the (non-blocking) descriptor and the wake pipe, lets the
/// device read a burst while it is readable, and ends when woken, stopped, or when the descriptor fails; then it completes (or
/// fails) the device's received stream. <see cref="Stop"/> wakes and joins it and closes the descriptors.
/// </summary>
/// <remarks>
/// Writers hold <see cref="Gate"/> and check <see cref="CanWrite"/> around each write, so a concurrent <see cref="Stop"/> cannot
/// close the descriptor mid-write and let its number be reused. The descriptors are closed by whoever ends last: by
/// <see cref="Stop"/> after joining the reader, or by the reader itself when <see cref="Stop"/> ran on the reader's own thread
/// (a subscriber disposing the device) or gave up waiting for a subscriber stuck in <c>OnNext</c>.
/// <para>The reader thread starts at the first subscription to the received stream, not when the device opens: a thread
/// inherits the network namespace of the thread that starts it, and a device is usually opened on a thread that entered a
/// namespace (<see cref="NetworkNamespace.Run"/>). Started there, the reader would pull everything it wakes into that
/// namespace — the engine thread it first schedules, thread-pool workers it causes to be made — and a process or socket
/// made later on one of those would land in the wrong network.</para>
/// </remarks>
internal sealed unsafe class DeviceDescriptor
{
    // ---------------------------------------------------------------- state

    /// <summary>"TUN" or "TAP", for messages.</summary>
    private readonly string _kind;

    /// <summary>The interface, for messages.</summary>
    private readonly string _name;

    /// <summary>The interface's descriptor (non-blocking); -1 once closed.</summary>
    private int _fd;

    /// <summary>The wake pipe: <see cref="Stop"/> writes a byte to <see cref="_wakeWrite"/>, the reader's poll() sees
    /// <see cref="_wakeRead"/> readable.</summary>
    private readonly int _wakeRead, _wakeWrite;

    /// <summary>The reader thread (made by <see cref="PrepareReader"/>, started by the first subscription).</summary>
    private Thread? _reader;

    /// <summary>Where the reader delivers; completed by the reader when it ends, or by <see cref="Stop"/> if it never started.</summary>
    private Subject<ReadOnlyMemory<byte>>? _received;

    /// <summary>True once the reader thread was started (under <see cref="Gate"/>; read without it on the fast path).</summary>
    private volatile bool _readerStarted;

    /// <summary>Set once <see cref="Stop"/> begins: the reader and every writer stop.</summary>
    private volatile bool _stopping;

    /// <summary>1 once <see cref="Stop"/> has run (it runs once).</summary>
    private int _stopStarted;

    /// <summary>True once the descriptors are closed (under <see cref="Gate"/>).</summary>
    private bool _closed;

    /// <summary>Held around each write and the close.</summary>
    public Lock Gate { get; } = new();

    private DeviceDescriptor(string kind, string name, int fd, int wakeRead, int wakeWrite)
    {
        _kind = kind;
        _name = name;
        _fd = fd;
        _wakeRead = wakeRead;
        _wakeWrite = wakeWrite;
    }

    /// <summary>Takes <paramref name="fd"/> and makes its wake pipe; closes <paramref name="fd"/> and throws when the pipe cannot be made.</summary>
    /// <param name="kind">"TUN" or "TAP", for messages.</param>
    /// <param name="name">The interface, for messages.</param>
    /// <param name="fd">The interface's descriptor, opened non-blocking.</param>
    public static DeviceDescriptor Create(string kind, string name, int fd)
    {
        int* pipe = stackalloc int[2] { -1, -1 };
        if (LinuxNative.Pipe2(pipe, LinuxNative.O_CLOEXEC | LinuxNative.O_NONBLOCK) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            LinuxNative.Close(fd);
            throw TunDeviceException.ForFailedCall("pipe2", name, errno);
        }
        return new DeviceDescriptor(kind, name, fd, pipe[0], pipe[1]);
    }

    /// <summary>The interface's descriptor: for the reader, and for writers under <see cref="Gate"/> while <see cref="CanWrite"/>.</summary>
    public int Fd => _fd;

    /// <summary>True while writes may go out: not stopping, not closed. Read it under <see cref="Gate"/>.</summary>
    public bool CanWrite
    {
        get
        {
            System.Diagnostics.Debug.Assert(Gate.IsHeldByCurrentThread, "checked under the gate, held through the write");
            return !_closed && !_stopping;
        }
    }

    /// <summary>True while the reader thread runs (for tests: it must end on Stop).</summary>
    public bool IsReaderRunning => _reader?.IsAlive ?? false;

    /// <summary>Reads per wake-up of poll() at most, so a flood cannot keep the reader from seeing Stop's wake pipe.</summary>
    public const int MaxReadsPerPoll = 64;

    /// <summary>
    /// Makes the reader thread and returns the device's received stream: the first subscription starts the thread (after it
    /// subscribed, so it misses nothing); until then the kernel keeps what arrives in the interface's queue. Each time the
    /// descriptor is readable the reader reads what the kernel has queued, up to <see cref="MaxReadsPerPoll"/> reads until
    /// EAGAIN, each into the first <paramref name="readSize"/> bytes of
    /// <paramref name="buffer"/> and handed to <paramref name="deliver"/> with its length — inside one
    /// <see cref="ReceiveBurst"/> when <paramref name="burst"/>, so a stack processes a wake-up's reads in one pass. When the
    /// thread ends it completes <paramref name="received"/>, or fails it when reading failed or a subscriber threw and the
    /// device was not being stopped.
    /// </summary>
    public IObservable<ReadOnlyMemory<byte>> PrepareReader(DeviceReadBuffer buffer, int readSize, bool burst, Action<int> deliver,
        Subject<ReadOnlyMemory<byte>> received)
    {
        System.Diagnostics.Debug.Assert(_reader is null, "one reader per descriptor");
        TunDeviceException? ReadBurst()
        {
            using ReceiveBurst frames = burst ? ReceiveBurst.Begin() : default;
            for (int i = 0; i < MaxReadsPerPoll && !_stopping; i++)
            {
                // The buffer's span is taken per read: a stack may have kept the last one (a handed-over super-packet).
                int n = ReadOne(buffer.Span[..readSize], out TunDeviceException? failure);
                if (n > 0) deliver(n);
                else if (n < 0) return failure; // null: drained, back to poll()
            }
            return null; // bounded: poll() again, which also sees the wake pipe
        }
        _received = received;
        _reader = new Thread(() => ReadLoop(ReadBurst, received))
        {
            IsBackground = true,
            Name = $"{_kind.ToLowerInvariant()} {_name} reader",
        };
        return Observable.Create<ReadOnlyMemory<byte>>(observer =>
        {
            IDisposable subscription = received.Subscribe(observer);
            StartReader();
            return subscription;
        });
    }

    /// <summary>Starts the reader thread, once, unless <see cref="Stop"/> came first.</summary>
    private void StartReader()
    {
        if (_readerStarted) return;
        lock (Gate)
        {
            // Stop sets _stopping before it takes the gate: either the thread starts here first and sees the wake pipe, or
            // it never starts and Stop completes the stream itself.
            if (_readerStarted || _stopping) return;
            _reader!.Start();
            _readerStarted = true;
        }
    }

    /// <summary>Stops the reader (wakes it through the pipe and joins it, up to 10 s) and closes the descriptors. Runs once.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopStarted, 1) != 0) return;
        _stopping = true;
        bool started;
        lock (Gate)
        {
            started = _readerStarted;
            byte one = 1;
            if (!_closed) LinuxNative.Write(_wakeWrite, &one, 1);
        }
        if (!started)
        {
            Close();
            _received?.OnCompleted(); // no reader to complete it
            return;
        }
        // On the reader's own thread it cannot be joined: it closes the descriptors itself once it gets out. Likewise when a
        // subscriber is stuck in OnNext past the wait: never close under a reader that may still poll the numbers.
        if (Thread.CurrentThread != _reader && _reader!.Join(TimeSpan.FromSeconds(10))) Close();
    }

    private void ReadLoop(Func<TunDeviceException?> readBurst, Subject<ReadOnlyMemory<byte>> received)
    {
        Exception? failure;
        try
        {
            failure = Poll(readBurst);
        }
        catch (Exception e)
        {
            failure = e; // a subscriber threw: the device cannot go on delivering
        }
        if (_stopping) Close();
        if (failure is not null && !_stopping) received.OnError(failure);
        else received.OnCompleted();
    }

    /// <summary>Polls until stopped, woken, or reading fails; returns why it failed, or null.</summary>
    private TunDeviceException? Poll(Func<TunDeviceException?> readBurst)
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
                return TunDeviceException.ForFailedCall("poll", _name, errno);
            }
            if (fds[1].Revents != 0 || _stopping) return null;
            short revents = fds[0].Revents;
            if ((revents & LinuxNative.POLLIN) != 0)
            {
                if (readBurst() is { } failure) return failure;
                continue;
            }
            if ((revents & (LinuxNative.POLLERR | LinuxNative.POLLHUP | LinuxNative.POLLNVAL)) != 0)
                return new TunDeviceException($"{_kind} device '{_name}': the descriptor reported an error (poll events 0x{revents:x}).");
        }
        return null;
    }

    /// <summary>
    /// One <c>read()</c> into <paramref name="destination"/> (on the reader thread): the length read (more than 0); 0 when the
    /// call was interrupted (EINTR: read again); -1 when the burst ends, with <paramref name="failure"/> null when nothing more
    /// is queued (EAGAIN) or saying why reading must stop.
    /// </summary>
    private int ReadOne(Span<byte> destination, out TunDeviceException? failure)
    {
        failure = null;
        nint n;
        fixed (byte* p = destination) n = LinuxNative.Read(_fd, p, (nuint)destination.Length);
        if (n > 0) return (int)n;
        int errno = Marshal.GetLastPInvokeError();
        if (n < 0 && errno == LinuxNative.EINTR) return 0;
        if (n < 0 && errno == LinuxNative.EAGAIN) return -1;
        failure = n == 0
            ? new TunDeviceException($"{_kind} device '{_name}': the interface went away.")
            : TunDeviceException.ForFailedCall("read", _name, errno);
        return -1;
    }

    private void Close()
    {
        lock (Gate)
        {
            if (_closed) return;
            _closed = true;
            LinuxNative.Close(_fd);
            LinuxNative.Close(_wakeRead);
            LinuxNative.Close(_wakeWrite);
            _fd = -1;
        }
    }
}
