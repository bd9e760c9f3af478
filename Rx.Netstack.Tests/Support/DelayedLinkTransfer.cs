using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.Support;

/// <summary>One bulk transfer between two of our stacks over an <see cref="ImpairedLink"/> (a delay, perhaps a bottleneck), in
/// virtual time: what window growth, buffer tuning and slow start tests measure end to end.</summary>
/// <param name="Took">Virtual time from the first send to the last byte read.</param>
/// <param name="SenderInfo">The sending connection at the end.</param>
/// <param name="ReceiverInfo">The receiving connection at the end.</param>
/// <param name="Received">What the receiver read.</param>
/// <param name="Sent">What was sent.</param>
internal sealed record DelayedLinkTransfer(TimeSpan Took, TcpConnectionInfo SenderInfo, TcpConnectionInfo ReceiverInfo, byte[] Received, byte[] Sent)
{
    /// <summary>
    /// Sends <paramref name="length"/> random bytes A → B, both connections on <paramref name="settings"/>, A attached through a
    /// link that impairs its frames with <paramref name="outbound"/> and B's with <paramref name="inbound"/>. The reader takes at
    /// most <paramref name="readSize"/> bytes at a time, waiting <paramref name="readEvery"/> before each read (null: at once).
    /// </summary>
    public static DelayedLinkTransfer Run(TcpSettings settings, int length, ImpairmentOptions outbound, ImpairmentOptions inbound,
        int readSize = 256 * 1024, TimeSpan? readEvery = null)
    {
        var scheduler = new TestScheduler();
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)], RunContinuationsInline = true }, scheduler);
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)], RunContinuationsInline = true }, scheduler);
        var (deviceA, deviceB) = PipeDevice.CreatePair(1500);
        using var link = new ImpairedLink(deviceA, scheduler, outbound, inbound, seed: 1);
        a.Attach(link);
        b.Attach(deviceB);
        TcpConnectionListener listener = scheduler.Await(b.ListenTcpAsync(80, settings: settings));
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = scheduler.Await(a.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80), settings));
        TcpConnection server = scheduler.Await(accept);

        byte[] data = new byte[length];
        new Random(5).NextBytes(data);
        long start = scheduler.Clock;
        Task send = client.SendAsync(data);
        var received = new MemoryStream(length);
        var buffer = new byte[readSize];
        while (received.Length < length)
        {
            if (readEvery is { } pause) scheduler.AdvanceBy(pause.Ticks);
            int n = scheduler.Await(server.ReadAsync(buffer).AsTask());
            Assert.True(n > 0, $"end of stream after {received.Length} bytes");
            received.Write(buffer, 0, n);
        }
        scheduler.Await(send);
        var took = TimeSpan.FromTicks(scheduler.Clock - start);
        return new DelayedLinkTransfer(took, scheduler.Await(client.GetInfoAsync()), scheduler.Await(server.GetInfoAsync()), received.ToArray(), data);
    }
}
