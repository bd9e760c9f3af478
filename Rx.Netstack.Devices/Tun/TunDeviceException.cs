namespace Rx.Netstack.Devices;

/// <summary>A TUN device could not be opened or used; <see cref="Errno"/> is the system's reason, if any.</summary>
public sealed class TunDeviceException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong and what to do about it.</param>
    /// <param name="errno">The Linux errno, or 0.</param>
    public TunDeviceException(string message, int errno = 0) : base(message) => Errno = errno;

    /// <summary>The Linux errno behind the failure, or 0.</summary>
    public int Errno { get; }

    /// <summary>The message for a failed system call, naming the usual remedy for permission problems.</summary>
    internal static TunDeviceException ForFailedCall(string what, string interfaceName, int errno)
    {
        string reason = LinuxNative.Describe(errno);
        string hint = errno switch
        {
            LinuxNative.EPERM or LinuxNative.EACCES or LinuxNative.ENOENT or LinuxNative.ENODEV =>
                " Opening a TUN device requires root (CAP_NET_ADMIN) and /dev/net/tun (in a container: --cap-add NET_ADMIN --device /dev/net/tun).",
            LinuxNative.EBUSY => " Another process has the interface open.",
            LinuxNative.EINVAL => " The interface may exist with other flags (a TAP device?) or the name is invalid.",
            _ => "",
        };
        return new TunDeviceException($"TUN device '{interfaceName}': {what} failed: {reason}.{hint}", errno);
    }
}
