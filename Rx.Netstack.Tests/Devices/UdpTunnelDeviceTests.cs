using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

public sealed class UdpTunnelDeviceTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static (UdpTunnelDevice A, UdpTunnelDevice B) ConnectedPair(int mtu = UdpTunnelDevice.DefaultMtu)
    {
        var a = new UdpTunnelDevice(new IPEndPoint(IPAddress.Loopback, 0), mtu: mtu);
        var b = new UdpTunnelDevice(new IPEndPoint(IPAddress.Loopback, 0), a.LocalEndPoint, mtu);
        a.RemoteEndPoint = b.LocalEndPoint;
        return (a, b);
    }

    /// <summary>Collects copies of received frames and lets a test wait for a count.</summary>
    private sealed class Collector : IDisposable
    {
        public void Dispose() => _arrived.Dispose();

        private readonly List<byte[]> _frames = new();
        private readonly SemaphoreSlim _arrived = new(0);

        public Collector(IObservable<ReadOnlyMemory<byte>> source) =>
            source.Subscribe(f =>
            {
                lock (_frames) _frames.Add(f.ToArray());
                _arrived.Release();
            });

        public async Task<List<byte[]>> WaitFor(int count)
        {
            for (int i = 0; i < count; i++)
                Assert.True(await _arrived.WaitAsync(Patience), $"only {i} of {count} frames arrived");
            lock (_frames) return _frames.ToList();
        }

        public int Count
        {
            get { lock (_frames) return _frames.Count; }
        }
    }

    [Fact]
    public async Task Two_tunnel_ends_on_loopback_exchange_frames_both_ways()
    {
        var (a, b) = ConnectedPair();
        using (a)
        using (b)
        {
            var atA = new Collector(a.Received);
            var atB = new Collector(b.Received);
            var packet = TestPackets.Udp4(IPAddress.Parse("10.0.0.1"), 1, IPAddress.Parse("10.0.0.2"), 2, "through the tunnel"u8);

            for (int i = 0; i < 20; i++) a.Transmit.OnNext(packet);
            b.Transmit.OnNext(new byte[] { 0x45, 7 });

            var frames = await atB.WaitFor(20); // loopback UDP does not lose a handful of datagrams
            Assert.All(frames, f => Assert.Equal(packet, f));
            Assert.Equal(new byte[] { 0x45, 7 }, Assert.Single(await atA.WaitFor(1)));
            Assert.Equal(0, a.TransmitDropped);
        }
    }

    [Fact]
    public async Task Datagrams_from_anyone_but_the_remote_are_dropped()
    {
        var (a, b) = ConnectedPair();
        using (a)
        using (b)
        using (var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            var atB = new Collector(b.Received);
            var dropped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            b.ReceiveDropping += () => dropped.TrySetResult();
            stranger.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            stranger.SendTo(new byte[] { 0x45, 0xEE }, b.LocalEndPoint);
            // Two sockets' datagrams may reach b in either order (nothing in UDP or the kernel orders them across senders),
            // so the remote speaks only once the stranger's datagram was seen and dropped.
            await dropped.Task.WaitAsync(Patience);
            a.Transmit.OnNext(new byte[] { 0x45, 1 });

            var frames = await atB.WaitFor(1);
            Assert.Equal(new byte[] { 0x45, 1 }, Assert.Single(frames)); // the stranger's bytes never reached a subscriber
            Assert.Equal(1, b.ReceiveDropped);
            Assert.Equal(0, a.TransmitDropped);
        }
    }

    [Fact]
    public void Transmit_drops_frames_over_the_mtu_or_without_a_remote()
    {
        using var lonely = new UdpTunnelDevice(new IPEndPoint(IPAddress.Loopback, 0), mtu: 100);
        lonely.Transmit.OnNext(new byte[10]);
        lonely.RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 9); // the discard port on loopback
        lonely.Transmit.OnNext(new byte[101]);
        Assert.Equal(2, lonely.TransmitDropped);
        Assert.Equal(100, lonely.Mtu);
    }

    [Fact]
    public async Task Dispose_ends_the_receive_loop_and_completes_received()
    {
        var (a, b) = ConnectedPair();
        var completed = new TaskCompletionSource();
        a.Received.Subscribe(_ => { }, () => completed.TrySetResult());
        Assert.True(a.IsReceiving);

        a.Dispose();

        Assert.False(a.IsReceiving);
        await completed.Task.WaitAsync(Patience);
        a.Transmit.OnNext(new byte[1]);
        Assert.Equal(1, a.TransmitDropped);
        b.Dispose();
    }

    [Fact]
    public async Task A_subscriber_may_dispose_the_device_from_inside_a_delivery()
    {
        var (a, b) = ConnectedPair();
        using (b)
        {
            var completed = new TaskCompletionSource();
            a.Received.Subscribe(_ => a.Dispose(), () => completed.TrySetResult());
            b.Transmit.OnNext(new byte[] { 0x45 });
            await completed.Task.WaitAsync(Patience);
        }
    }
}
