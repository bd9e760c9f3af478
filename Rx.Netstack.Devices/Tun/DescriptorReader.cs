using System.Runtime.InteropServices;

namespace Rx.Netstack.Devices;

/// <summary>
/// The reader thread's loop of a TUN or TAP descriptor, shared by <see cref="TunDevice"/> and <see cref="TapDevice"/>: wait in
/// <c>poll()</c> on the (non-blocking) descriptor and the device's wake pipe, read a burst while it is readable, stop when
/// woken, told to stop, or when the descriptor fails.
/// </summary>
internal static unsafe class DescriptorReader
{
    /// <summary>
    /// Polls until <paramref name="stopping"/> says so, the wake pipe is written, or reading fails; returns why it failed, or
    /// null. <paramref name="readBurst"/> reads what is queued (bounded) and returns why reading must stop, or null.
    /// </summary>
    /// <param name="kind">"TUN" or "TAP", for messages.</param>
    /// <param name="name">The interface, for messages.</param>
    /// <param name="fd">The device's descriptor.</param>
    /// <param name="wakeRead">The read end of the device's wake pipe (Dispose writes to it).</param>
    /// <param name="stopping">True once the device is being disposed.</param>
    /// <param name="readBurst">Reads what is queued.</param>
    public static Exception? Run(string kind, string name, int fd, int wakeRead, Func<bool> stopping, Func<TunDeviceException?> readBurst)
    {
        var fds = stackalloc LinuxNative.PollFd[2];
        while (!stopping())
        {
            fds[0] = new LinuxNative.PollFd { Fd = fd, Events = LinuxNative.POLLIN };
            fds[1] = new LinuxNative.PollFd { Fd = wakeRead, Events = LinuxNative.POLLIN };
            if (LinuxNative.Poll(fds, 2, -1) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LinuxNative.EINTR) continue;
                return TunDeviceException.ForFailedCall("poll", name, errno);
            }
            if (fds[1].Revents != 0 || stopping()) return null;
            short revents = fds[0].Revents;
            if ((revents & LinuxNative.POLLIN) != 0)
            {
                if (readBurst() is { } failure) return failure;
                continue;
            }
            if ((revents & (LinuxNative.POLLERR | LinuxNative.POLLHUP | LinuxNative.POLLNVAL)) != 0)
                return new TunDeviceException($"{kind} device '{name}': the descriptor reported an error (poll events 0x{revents:x}).");
        }
        return null;
    }

    /// <summary>
    /// One <c>read()</c> into <paramref name="destination"/>: the length read (more than 0); 0 when the call was interrupted
    /// (EINTR: read again); -1 when the burst ends, with <paramref name="failure"/> null when nothing more is queued (EAGAIN)
    /// or saying why reading must stop.
    /// </summary>
    public static int ReadOne(string kind, string name, int fd, Span<byte> destination, out TunDeviceException? failure)
    {
        failure = null;
        nint n;
        fixed (byte* p = destination) n = LinuxNative.Read(fd, p, (nuint)destination.Length);
        if (n > 0) return (int)n;
        int errno = Marshal.GetLastPInvokeError();
        if (n < 0 && errno == LinuxNative.EINTR) return 0;
        if (n < 0 && errno == LinuxNative.EAGAIN) return -1;
        failure = n == 0
            ? new TunDeviceException($"{kind} device '{name}': the interface went away.")
            : TunDeviceException.ForFailedCall("read", name, errno);
        return -1;
    }
}
