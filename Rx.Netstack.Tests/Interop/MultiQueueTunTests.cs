using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// A stack of two engines on a two-queue TUN interface (<c>IFF_MULTI_QUEUE</c>) in a namespace of the test's own, with the
/// Linux kernel as the peer: many connections each way spread over both engines, every byte intact.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class MultiQueueTunTests
{
    private const string Interface = "rxmq0";
    private static readonly IPAddress KernelV4 = IPAddress.Parse("10.76.0.1"), StackV4 = IPAddress.Parse("10.76.0.2");
    private static readonly IPAddress KernelV6 = IPAddress.Parse("fd76::1"), StackV6 = IPAddress.Parse("fd76::2");

    private sealed class Rig : IAsyncDisposable
    {
        public required NetworkNamespace Namespace { get; init; }
        public required MultiQueueTunDevice Tun { get; init; }
        public required Netstack Stack { get; init; }
        public required IDisposable Attachment { get; init; }

        public static Rig Start(bool offloads)
        {
            var ns = NetworkNamespace.Create("rxmq");
            MultiQueueTunDevice? tun = null;
            try
            {
                tun = ns.Run(() => MultiQueueTunDevice.Open(Interface, 2, offloads: offloads));
                ns.Exec("ip", "addr", "add", $"{KernelV4}/24", "dev", Interface);
                ns.Exec("ip", "-6", "addr", "add", $"{KernelV6}/64", "dev", Interface, "nodad");
                ns.Exec("ip", "link", "set", Interface, "up");
                var stack = new Netstack(new NetstackOptions
                {
                    Addresses = [InterfaceAddress.Parse($"{StackV4}/24"), InterfaceAddress.Parse($"{StackV6}/64")],
                    Engines = 2,
                });
                return new Rig { Namespace = ns, Tun = tun, Stack = stack, Attachment = stack.AttachQueues(tun) };
            }
            catch
            {
                tun?.Dispose();
                ns.Dispose();
                throw;
            }
        }

        public Socket KernelSocket(AddressFamily family) => Namespace.Run(() => new Socket(family, SocketType.Stream, ProtocolType.Tcp));

        public async ValueTask DisposeAsync()
        {
            Attachment.Dispose();
            await Stack.DisposeAsync();
            Tun.Dispose();
            Namespace.Dispose();
        }
    }

    [NamespaceFact]
    public async Task Kernel_clients_on_both_address_families_are_served_by_both_engines_byte_exact() =>
        await KernelClientsAsync(offloads: true);

    [NamespaceFact]
    public async Task Without_offloads_too() => await KernelClientsAsync(offloads: false);

    private static async Task KernelClientsAsync(bool offloads)
    {
        await using var rig = Rig.Start(offloads);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        TcpConnectionListener v4 = await rig.Stack.ListenTcpAsync(7);
        TcpConnectionListener v6 = await rig.Stack.ListenTcpAsync(7, ipv6: true);

        // The stack echoes every accepted connection back to its sender.
        async Task ServeAsync(TcpConnectionListener listener, int count)
        {
            var echoes = new List<Task>();
            for (int i = 0; i < count; i++)
            {
                TcpConnection connection = await listener.AcceptAsync(deadline.Token);
                echoes.Add(Task.Run(async () =>
                {
                    var buffer = new byte[64 * 1024];
                    int read;
                    while ((read = await connection.ReadAsync(buffer, deadline.Token)) > 0) await connection.SendAsync(buffer.AsMemory(0, read), deadline.Token);
                    await connection.CloseAsync(deadline.Token);
                }));
            }
            await Task.WhenAll(echoes);
        }

        const int perFamily = 16;
        Task serving = Task.WhenAll(ServeAsync(v4, perFamily), ServeAsync(v6, perFamily));
        var clients = new List<Task>();
        for (int i = 0; i < 2 * perFamily; i++)
        {
            bool six = i % 2 == 1;
            int seed = i;
            clients.Add(Task.Run(async () =>
            {
                byte[] data = TransferCheck.RandomBytes(300_000 + seed * 1000, seed);
                using Socket client = rig.KernelSocket(six ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork);
                await client.ConnectAsync(new IPEndPoint(six ? StackV6 : StackV4, 7), deadline.Token);
                Task sending = TransferCheck.SendAllAsync(client, data, deadline.Token);
                (long bytes, string sha) = await TransferCheck.ReceiveAllAsync(client, deadline.Token);
                await sending;
                Assert.Equal(data.Length, bytes);
                Assert.Equal(TransferCheck.Sha256(data), sha);
            }));
        }
        await Task.WhenAll(clients);
        await serving.WaitAsync(deadline.Token);

        IReadOnlyList<Netstack> engines = rig.Stack.Shards!.Engines;
        Assert.All(engines, e => Assert.True(e.EngineStats().TcpBytesIn > 1_000_000, $"engine {e.Id} carried {e.EngineStats().TcpBytesIn} bytes"));
        Assert.All(rig.Tun.Devices, d => Assert.Equal(0, d.TransmitDropped));
        // Without offloads the kernel sends MTU-sized segments; each queue delivers its reads as a burst, and the engines merge
        // in-order runs of them (GRO).
        if (!offloads) Assert.True(engines.Sum(e => e.EngineStats().SegmentsCoalesced) > 0, "no segment was coalesced");
        // Moved frames are the first SYN of a flow whose kernel hash named the other queue, and what the kernel sent before it
        // learned the flow's queue from our answer: a handful per connection at most, not its data.
        Assert.InRange(rig.Stack.Shards.FramesMoved, 0, 2 * perFamily * 4);
        await v4.DisposeAsync();
        await v6.DisposeAsync();
    }

    [NamespaceFact]
    public async Task Connections_from_the_stack_to_a_kernel_listener_spread_over_both_queues_byte_exact()
    {
        await using var rig = Rig.Start(offloads: true);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using Socket listener = rig.KernelSocket(AddressFamily.InterNetwork);
        listener.Bind(new IPEndPoint(KernelV4, 5001));
        listener.Listen(64);

        const int count = 16;
        var receivers = new List<Task<(long, string)>>();
        var senders = new List<Task>();
        var data = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            data[i] = TransferCheck.RandomBytes(500_000, 100 + i);
            Task<Socket> accept = listener.AcceptAsync(deadline.Token).AsTask();
            TcpConnection connection = await rig.Stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(KernelV4), 5001), cancellationToken: deadline.Token);
            Socket kernel = await accept;
            receivers.Add(Task.Run(async () =>
            {
                using (kernel) return await TransferCheck.ReceiveAllAsync(kernel, deadline.Token);
            }));
            byte[] bytes = data[i];
            senders.Add(Task.Run(async () =>
            {
                await TransferCheck.SendAllAsync(connection, bytes, deadline.Token);
                await connection.CloseAsync(deadline.Token);
            }));
        }
        await Task.WhenAll(senders);
        (long, string)[] received = await Task.WhenAll(receivers);
        for (int i = 0; i < count; i++) Assert.Equal((data[i].LongLength, TransferCheck.Sha256(data[i])), received[i]);

        // Every connect chose a port whose flow is its engine's and sent its SYN from that engine's queue: the kernel learned
        // each flow's queue from it, so none of the thousands of segments had to be moved. What may be moved is the kernel's own
        // chatter that belongs to the home engine (IPv6 router solicitations, MLD reports) when its hash names the other queue.
        Assert.InRange(rig.Stack.Shards!.FramesMoved, 0, count);
        Assert.All(rig.Stack.Shards.Engines, e => Assert.True(e.EngineStats().TcpBytesOut > 1_000_000, $"engine {e.Id} sent {e.EngineStats().TcpBytesOut} bytes"));
    }
}
