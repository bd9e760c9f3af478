using System.Runtime.InteropServices;

namespace Rx.Netstack.Devices;

/// <summary>The few libc calls a TUN device needs, and their Linux constants (same on x86-64 and arm64).</summary>
internal static unsafe partial class LinuxNative
{
    public const int O_RDWR = 0x2;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;

    public const int AF_INET = 2;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_CLOEXEC = 0x80000;

    /// <summary>_IOW('T', 202, int): attach the fd to a TUN/TAP interface, creating it if needed.</summary>
    public const nuint TUNSETIFF = 0x400454ca;
    /// <summary>_IOW('T', 208, unsigned int): the offloads the reader of the descriptor accepts (TUN_F_*); the argument is the value itself.</summary>
    public const nuint TUNSETOFFLOAD = 0x400454d0;
    /// <summary>Read an interface's MTU (linux/sockios.h).</summary>
    public const nuint SIOCGIFMTU = 0x8921;

    public const short IFF_TUN = 0x0001;
    /// <summary>No 4-byte packet-information prefix: reads and writes are bare IP packets.</summary>
    public const short IFF_NO_PI = 0x1000;
    /// <summary>Each packet read or written is preceded by a <c>struct virtio_net_hdr</c> (see <see cref="VirtioNetHeader"/>).</summary>
    public const short IFF_VNET_HDR = 0x4000;
    /// <summary>One descriptor per queue: each open of the same name adds a queue (linux/if_tun.h).</summary>
    public const short IFF_MULTI_QUEUE = 0x0100;

    /// <summary>TUNSETOFFLOAD: we can take packets whose checksum is partial.</summary>
    public const uint TUN_F_CSUM = 0x01;
    /// <summary>TUNSETOFFLOAD: we can take TCP/IPv4 GSO super-packets.</summary>
    public const uint TUN_F_TSO4 = 0x02;
    /// <summary>TUNSETOFFLOAD: we can take TCP/IPv6 GSO super-packets.</summary>
    public const uint TUN_F_TSO6 = 0x04;
    /// <summary>TUNSETOFFLOAD: the super-packets may carry CWR (GSO type with the ECN bit).</summary>
    public const uint TUN_F_TSO_ECN = 0x08;

    public const short POLLIN = 0x001;
    public const short POLLERR = 0x008;
    public const short POLLHUP = 0x010;
    public const short POLLNVAL = 0x020;

    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int ENODEV = 19;
    public const int EINVAL = 22;

    /// <summary>IFNAMSIZ: interface names are at most 15 bytes plus a terminating zero.</summary>
    public const int InterfaceNameSize = 16;

    /// <summary><c>struct ifreq</c>: the name, then a 24-byte union (flags or MTU at offset 16) on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public struct InterfaceRequest
    {
        [FieldOffset(0)] public fixed byte Name[InterfaceNameSize];
        [FieldOffset(16)] public short Flags;
        [FieldOffset(16)] public int Mtu;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    [LibraryImport("libc", EntryPoint = "writev", SetLastError = true)]
    public static partial nint WriteVector(int fd, IoVector* vectors, int count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    public static partial int Pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "if_nametoindex", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint IfNameToIndex(string name);

    /// <summary>The errno of the last failed call, as text.</summary>
    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
