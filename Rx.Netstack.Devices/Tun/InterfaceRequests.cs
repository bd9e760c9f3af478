using System.Runtime.InteropServices;
using System.Text;

namespace Rx.Netstack.Devices;

/// <summary>The <c>struct ifreq</c> chores of the TUN/TAP devices: a request for a name, the name the kernel filled in, the MTU.</summary>
internal static unsafe class InterfaceRequests
{
    /// <summary>A zeroed request carrying <paramref name="name"/>.</summary>
    public static LinuxNative.InterfaceRequest For(string name)
    {
        var request = default(LinuxNative.InterfaceRequest);
        Encoding.UTF8.GetBytes(name, new Span<byte>(request.Name, LinuxNative.InterfaceNameSize - 1));
        return request;
    }

    /// <summary>The interface name in a request (the kernel fills in patterns such as "tap%d").</summary>
    public static string NameOf(in LinuxNative.InterfaceRequest request)
    {
        fixed (byte* name = request.Name)
        {
            var span = new ReadOnlySpan<byte>(name, LinuxNative.InterfaceNameSize);
            int end = span.IndexOf((byte)0);
            return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
        }
    }

    /// <summary>The interface's MTU (SIOCGIFMTU on a datagram socket).</summary>
    public static int ReadMtu(string name)
    {
        int socket = LinuxNative.Socket(LinuxNative.AF_INET, LinuxNative.SOCK_DGRAM | LinuxNative.SOCK_CLOEXEC, 0);
        if (socket < 0) throw TunDeviceException.ForFailedCall("socket (to read the MTU)", name, Marshal.GetLastPInvokeError());
        try
        {
            var request = For(name);
            if (LinuxNative.Ioctl(socket, LinuxNative.SIOCGIFMTU, &request) < 0)
                throw TunDeviceException.ForFailedCall("ioctl SIOCGIFMTU", name, Marshal.GetLastPInvokeError());
            return request.Mtu;
        }
        finally
        {
            LinuxNative.Close(socket);
        }
    }
}
