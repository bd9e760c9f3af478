using Microsoft.Reactive.Testing;
using Rx.Netstack.Cli;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// The peer of <c>bench reflect</c>, in virtual time (its figures are for a quiet machine, not for tests): the reflectors
/// acknowledge every byte of the stack's bulk data on every queue, and as clients complete connection after connection
/// with the stack's listener — with one engine and with two, never drawing a reset (a wrong answer would).
/// </summary>
public sealed class BenchReflectTests
{
    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(2, false)]
    public void Reflectors_acknowledge_every_byte_of_bulk(int engines, bool offloads)
    {
        var s = new TestScheduler();
        using var rig = new BenchReflect.Rig(new BenchOptions { Engines = engines, Offloads = offloads }, clientMode: false, s);
        const int connections = 4, bytes = 300_000;
        var sends = new List<Task>();
        for (int i = 0; i < connections; i++)
        {
            TcpConnection c = s.Await(rig.Stack.ConnectTcpAsync(new NetEndpoint(BenchReflect.PeerAddress, BenchReflect.SinkPort)));
            sends.Add(s.StartInVirtualTime(() => c.SendAsync(new byte[bytes])));
        }
        s.Await(Task.WhenAll(sends));
        Assert.True(s.RunUntil(() => rig.Reflectors.Sum(r => r.BytesAcked) == connections * bytes), $"{rig.Reflectors.Sum(r => r.BytesAcked)} bytes acknowledged");
        Assert.Equal(0, rig.Reflectors.Sum(r => r.ResetsSeen));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Reflected_clients_complete_connection_after_connection(int engines)
    {
        var s = new TestScheduler();
        using var rig = new BenchReflect.Rig(new BenchOptions { Engines = engines }, clientMode: true, s);
        TcpConnectionListener listener = s.Await(rig.Stack.ListenTcpAsync(BenchReflect.ListenPort, backlog: 64));
        using var stop = new CancellationTokenSource();
        _ = s.StartInVirtualTime(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                TcpConnection server = await listener.AcceptAsync(stop.Token);
                _ = server.CloseAsync();
            }
        });
        for (int i = 0; i < 4; i++) rig.Reflectors[i % rig.Reflectors.Length].OpenClient(BenchReflect.StackAddress, BenchReflect.PeerAddress, BenchReflect.ListenPort);
        Assert.True(s.RunUntil(() => rig.Reflectors.Sum(r => r.ConnectionsCompleted) >= 100), $"{rig.Reflectors.Sum(r => r.ConnectionsCompleted)} connections completed");
        foreach (BenchReflect.Reflector r in rig.Reflectors) r.Stop();
        stop.Cancel();
        Assert.Equal(0, rig.Reflectors.Sum(r => r.ResetsSeen));
    }
}
