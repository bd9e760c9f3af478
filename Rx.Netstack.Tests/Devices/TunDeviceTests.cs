using System.Net;
using System.Net.Sockets;
using System.Text;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

/// <summary>A real TUN interface inside a network namespace the test creates, talking to the kernel's own UDP.</summary>
public sealed class TunDeviceTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private static readonly IPAddress KernelSide = IPAddress.Parse("10.201.0.1");
    private static readonly IPAddress OurSide = IPAddress.Parse("10.201.0.2");

    [NamespaceFact("bash")]
    public Task Kernel_and_device_exchange_udp_datagrams() => ExchangeUdpDatagrams(offloads: true);

    [NamespaceFact("bash")]
    public Task Kernel_and_device_exchange_udp_datagrams_in_plain_mode() => ExchangeUdpDatagrams(offloads: false);

    private static async Task ExchangeUdpDatagrams(bool offloads)
    {
        using var ns = NetworkNamespace.Create();
        var tun = ns.Run(() => TunDevice.Open("rxtun0", offloads: offloads));
        try
        {
            Assert.Equal(offloads, tun.Offloads);
            Assert.Equal(offloads ? ChecksumOffload.Both : ChecksumOffload.None, ((IPacketDevice)tun).ChecksumOffload);
            if (offloads) Assert.Null(tun.OffloadsOffReason);
            else Assert.Contains("not requested", tun.OffloadsOffReason);
            Assert.Equal("rxtun0", tun.Name);
            Assert.Equal(1500, tun.Mtu);
            ns.Exec("ip", "addr", "add", $"{KernelSide}/24", "dev", "rxtun0");
            ns.Exec("ip", "link", "set", "rxtun0", "up");

            // Kernel → device: a datagram to an address routed via the TUN interface.
            var arrived = new TaskCompletionSource<(IPAddress Source, IPAddress Destination, byte[] Payload)>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (tun.Received.Subscribe(frame =>
                   {
                       if (TestPackets.ParseUdp4(frame.Span) is { DestinationPort: 5555 } udp)
                           arrived.TrySetResult((udp.Source, udp.Destination, udp.Payload));
                   }))
            {
                ns.Exec("bash", "-c", $"echo hi > /dev/udp/{OurSide}/5555");
                var (source, destination, payload) = await arrived.Task.WaitAsync(Patience);
                Assert.Equal(KernelSide, source);
                Assert.Equal(OurSide, destination);
                Assert.Equal("hi\n", Encoding.ASCII.GetString(payload));
            }

            // Device → kernel: a hand-built datagram written into the TUN reaches a socket bound in the namespace.
            using var socket = ns.Run(() =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                s.Bind(new IPEndPoint(KernelSide, 6666));
                return s;
            });
            tun.Transmit.OnNext(TestPackets.Udp4(OurSide, 4444, KernelSide, 6666, "hello kernel"u8));
            var buffer = new byte[256];
            using var timeout = new CancellationTokenSource(Patience);
            var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            Assert.Equal("hello kernel", Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes));
            Assert.Equal(new IPEndPoint(OurSide, 4444), received.RemoteEndPoint);
            Assert.Equal(0, tun.TransmitDropped);
            Assert.Equal(0, tun.ReceiveDropped);
            Assert.Equal(0, tun.GsoPacketsReceived); // one small datagram: nothing to segment
        }
        finally
        {
            tun.Dispose();
        }
    }

    [NamespaceFact]
    public void With_offloads_a_read_with_a_short_or_malformed_header_is_a_counted_drop_and_the_next_read_still_arrives()
    {
        using var ns = NetworkNamespace.Create();
        using var tun = ns.Run(() => TunDevice.Open("rxtun4"));
        Assert.True(tun.Offloads, tun.OffloadsOffReason);
        var frames = new List<byte[]>();
        using var subscription = tun.Received.Subscribe(frame => frames.Add(frame.ToArray()));

        tun.Deliver(new byte[4], 4);                                 // shorter than the header
        tun.Deliver(new byte[VirtioNetHeader.Size], VirtioNetHeader.Size); // a header and no packet
        byte[] unknownGso = new byte[VirtioNetHeader.Size + 40];
        unknownGso[1] = 2;                                            // no such GSO type
        tun.Deliver(unknownGso, unknownGso.Length);
        Assert.Equal(3, tun.ReceiveDropped);
        Assert.Empty(frames);

        byte[] good = new byte[VirtioNetHeader.Size + 3];
        new VirtioNetHeader(VirtioNetHeader.FlagDataValid, VirtioNetHeader.GsoNone, 0, 0, 0, 0).WriteTo(good);
        good[10] = 0x45; good[11] = 1; good[12] = 2;
        tun.Deliver(good, good.Length);
        Assert.Equal([0x45, 1, 2], Assert.Single(frames)); // the header is stripped, the packet is delivered as it is
        Assert.Equal(3, tun.ReceiveDropped);
    }

    [NamespaceFact("bash")]
    public async Task The_reader_starts_at_the_first_subscription_in_the_subscribers_namespace_and_misses_nothing()
    {
        using var ns = NetworkNamespace.Create();
        using var tun = ns.Run(() => TunDevice.Open("rxtun5"));
        ns.Exec("ip", "addr", "add", $"{KernelSide}/24", "dev", "rxtun5");
        ns.Exec("ip", "link", "set", "rxtun5", "up");
        Assert.False(tun.IsReaderRunning);

        // Sent before anyone subscribed: the kernel keeps it in the interface's queue.
        ns.Exec("bash", "-c", $"echo early > /dev/udp/{OurSide}/5555");
        var arrived = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = tun.Received.Subscribe(frame =>
        {
            if (TestPackets.ParseUdp4(frame.Span) is { DestinationPort: 5555 } udp) arrived.TrySetResult(Encoding.ASCII.GetString(udp.Payload));
        });
        Assert.True(tun.IsReaderRunning);
        Assert.Equal("early\n", await arrived.Task.WaitAsync(Patience));

        // The reader runs in this thread's namespace, not the device's: threads it makes (the engine's, thread-pool workers)
        // would inherit the namespace, and a process started on one of them would not see this network.
        string here = ThreadNamespace("thread-self");
        string[] readers = [.. Directory.GetDirectories("/proc/self/task")
            .Where(task => File.ReadAllText(Path.Combine(task, "comm")).StartsWith("tun rxtun5", StringComparison.Ordinal))
            .Select(task => ThreadNamespace(Path.GetRelativePath("/proc", task)))];
        Assert.Equal([here], readers);
        Assert.NotEqual(here, ns.Run(() => ThreadNamespace("thread-self")));
    }

    /// <summary>The network namespace of /proc/<paramref name="task"/>, e.g. "net:[4026531840]".</summary>
    private static string ThreadNamespace(string task) =>
        new FileInfo($"/proc/{task}/ns/net").LinkTarget ?? throw new InvalidOperationException($"no namespace link for {task}");

    [NamespaceFact]
    public void Disposing_before_any_subscription_completes_received_without_a_reader()
    {
        using var ns = NetworkNamespace.Create();
        var tun = ns.Run(() => TunDevice.Open("rxtun6"));
        tun.Dispose();
        bool completed = false;
        using var late = tun.Received.Subscribe(_ => { }, () => completed = true);
        Assert.True(completed);
        Assert.False(tun.IsReaderRunning);
    }

    [NamespaceFact]
    public void Dispose_stops_the_reader_thread_and_completes_received()
    {
        using var ns = NetworkNamespace.Create();
        var tun = ns.Run(() => TunDevice.Open("rxtun1"));
        bool completed = false;
        tun.Received.Subscribe(_ => { }, () => completed = true);
        Assert.True(tun.IsReaderRunning);

        tun.Dispose();

        Assert.False(tun.IsReaderRunning);
        Assert.True(completed);
        tun.Transmit.OnNext(new byte[20]); // after dispose: ignored, no write to a closed descriptor
        tun.Dispose(); // idempotent
    }

    [NamespaceFact]
    public void Opening_a_missing_interface_without_create_fails_clearly()
    {
        using var ns = NetworkNamespace.Create();
        var error = Assert.Throws<AggregateException>(() => ns.Run(() => TunDevice.Open("rxnothere", createIfMissing: false)));
        var tunError = Assert.IsType<TunDeviceException>(error.InnerException);
        Assert.Contains("no such interface", tunError.Message);
    }

    [NamespaceFact]
    public void An_existing_interface_can_be_opened_without_create()
    {
        using var ns = NetworkNamespace.Create();
        ns.Exec("ip", "tuntap", "add", "dev", "rxtun2", "mode", "tun");
        ns.Exec("ip", "link", "set", "rxtun2", "mtu", "1280");
        using var tun = ns.Run(() => TunDevice.Open("rxtun2", createIfMissing: false));
        Assert.Equal(1280, tun.Mtu);
        tun.Transmit.OnNext(new byte[1281]);
        Assert.Equal(1, tun.TransmitDropped);
    }

    [NamespaceFact]
    public void Without_cap_net_admin_open_throws_a_clear_typed_exception()
    {
        using var ns = NetworkNamespace.Create();
        var error = Assert.Throws<AggregateException>(() => ns.Run<TunDevice>(() =>
        {
            DropAllCapabilitiesOfThisThread(); // capabilities are per thread: the rest of the process keeps its own
            return TunDevice.Open("rxtun3");
        }));
        var tunError = Assert.IsType<TunDeviceException>(error.InnerException);
        Assert.Contains("requires root (CAP_NET_ADMIN) and /dev/net/tun", tunError.Message);
        Assert.Equal(1, tunError.Errno); // EPERM from TUNSETIFF
    }

    private static unsafe void DropAllCapabilitiesOfThisThread()
    {
        const uint LinuxCapabilityVersion3 = 0x20080522;
        uint* header = stackalloc uint[2] { LinuxCapabilityVersion3, 0 /* this thread */ };
        uint* data = stackalloc uint[6]; // two {effective, permitted, inheritable} sets, all empty
        if (capset(header, data) != 0)
            throw new InvalidOperationException($"capset failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern unsafe int capset(uint* header, uint* data);

    [Fact]
    public void Permission_failures_name_the_remedy()
    {
        var error = TunDeviceException.ForFailedCall("open /dev/net/tun", "tun0", 1 /* EPERM */);
        Assert.Contains("requires root (CAP_NET_ADMIN) and /dev/net/tun", error.Message);
        Assert.Contains("tun0", error.Message);
        Assert.Equal(1, error.Errno);
    }

    [Fact]
    public void Names_longer_than_ifnamsiz_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => TunDevice.Open("a-very-long-interface-name"));
    }
}
