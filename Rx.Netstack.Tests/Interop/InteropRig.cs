using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Cli.Services;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// One interop set-up: a network namespace of the test's own, a TUN interface inside it whose kernel side has
/// 10.77.0.1/24 and fd77::1/64, and our stack in this process (10.77.0.2/24, fd77::2/64) attached to that TUN device,
/// optionally through a capture and an impairment, optionally serving the CLI's services. Disposing tears everything
/// down in order, the namespace last, even after a failure.
/// </summary>
internal sealed class InteropRig : IAsyncDisposable
{
    public const string Interface = "rxi0";
    public static readonly IPAddress KernelV4 = IPAddress.Parse("10.77.0.1");
    public static readonly IPAddress KernelV6 = IPAddress.Parse("fd77::1");
    public static readonly IPAddress StackV4 = IPAddress.Parse("10.77.0.2");
    public static readonly IPAddress StackV6 = IPAddress.Parse("fd77::2");

    /// <summary>The patience for any one step against the kernel.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly List<IDisposable> _wrappers = [];
    private readonly List<IDisposable> _cleanup = [];
    private IDisposable? _attachment;
    private PcapWriter? _debugWriter;

    private InteropRig(NetworkNamespace ns, TunDevice tun, Netstack stack)
    {
        Namespace = ns;
        Tun = tun;
        Stack = stack;
    }

    public NetworkNamespace Namespace { get; }
    public TunDevice Tun { get; }
    public Netstack Stack { get; }
    public ServiceHost? Services { get; private set; }

    /// <summary>
    /// Builds the rig. <paramref name="wrap"/> may put middleware between the TUN device and the stack (it gets the device, the stack
    /// for its scheduler, and the namespace); <paramref name="serve"/> starts the CLI's services on the stack; <paramref name="tunOffloads"/>
    /// false opens the TUN device in plain mode (no virtio-net headers, no super-packets).
    /// </summary>
    public static async Task<InteropRig> StartAsync(bool serve = true, Func<IPacketDevice, Netstack, NetworkNamespace, IPacketDevice>? wrap = null,
        NetstackOptions? options = null, bool tunOffloads = true)
    {
        var ns = NetworkNamespace.Create("rxio");
        TunDevice? tun = null;
        Netstack? stack = null;
        try
        {
            tun = ns.Run(() => TunDevice.Open(Interface, offloads: tunOffloads));
            ns.Exec("ip", "addr", "add", $"{KernelV4}/24", "dev", Interface);
            ns.Exec("ip", "-6", "addr", "add", $"{KernelV6}/64", "dev", Interface, "nodad");
            ns.Exec("ip", "link", "set", Interface, "up");
            stack = new Netstack((options ?? new NetstackOptions()) with
            {
                Addresses = [InterfaceAddress.Parse($"{StackV4}/24"), InterfaceAddress.Parse($"{StackV6}/64")],
                Tcp = ServiceHost.DefaultTcpSettings,
            });
            var rig = new InteropRig(ns, tun, stack);
            IPacketDevice device = wrap?.Invoke(tun, stack, ns) ?? tun;
            if (device is IDisposable wrapper && !ReferenceEquals(device, tun)) rig._wrappers.Add(wrapper);
            if (Environment.GetEnvironmentVariable("RX_INTEROP_PCAP") is { Length: > 0 } debugPcap)
            {
                // Debugging aid: RX_INTEROP_PCAP=/tmp/x.pcap records what the stack itself sends and receives.
                var writer = new PcapWriter(File.Create(debugPcap), stack.Scheduler);
                var capture = new CaptureDevice(device, stack.Scheduler, writer);
                rig._wrappers.Insert(0, capture);
                rig._debugWriter = writer;
                device = capture;
            }
            rig._attachment = stack.Attach(device);
            if (serve) rig.Services = await ServiceHost.StartAsync(stack).WaitAsync(Patience);
            return rig;
        }
        catch
        {
            stack?.Dispose();
            tun?.Dispose();
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Registers something to dispose with the rig (kernel-side sockets, temp files).</summary>
    public T Own<T>(T disposable) where T : IDisposable
    {
        _cleanup.Add(disposable);
        return disposable;
    }

    /// <summary>A socket of the kernel's stack, created inside the namespace (it stays there wherever it is used from).</summary>
    public Socket KernelSocket(AddressFamily family, SocketType type, ProtocolType protocol) =>
        Own(Namespace.Run(() => new Socket(family, type, protocol)));

    /// <summary>A kernel TCP listener bound inside the namespace.</summary>
    public Socket KernelListener(IPAddress address, int port)
    {
        var listener = KernelSocket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address, port));
        listener.Listen(16);
        return listener;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var item in _cleanup) Try(item.Dispose);
        if (Services is { } services)
        {
            try { await services.DisposeAsync().AsTask().WaitAsync(Patience); }
            catch (Exception) { /* the stack's disposal below ends whatever is left */ }
        }
        Try(() => _attachment?.Dispose());
        foreach (var wrapper in _wrappers) Try(wrapper.Dispose); // before the stack: they schedule on its scheduler
        Try(Stack.Dispose);
        Try(() => _debugWriter?.Dispose());
        Try(Tun.Dispose);
        Namespace.Dispose();
    }

    private static void Try(Action action)
    {
        try { action(); }
        catch (Exception) { /* best effort: the namespace's removal below must still run */ }
    }
}

/// <summary>Interop tests share one TUN name and the machine's two cores: run them one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class InteropCollection
{
    public const string Name = "Interop against the Linux kernel";
}
