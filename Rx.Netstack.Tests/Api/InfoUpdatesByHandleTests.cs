using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// <see cref="SocketTableExtensions.InfoUpdates"/>: the info of any TCP row of the socket table — here the server side of an
/// accepted connection, which the test holds no <c>TcpConnection</c> of — until the connection is gone.
/// </summary>
public sealed class InfoUpdatesByHandleTests
{
    [Fact]
    public void A_rows_handle_streams_its_connections_info_until_the_connection_is_gone()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        Netstack a = network.AddStack("a", "10.0.0.1/24");
        Netstack b = network.AddStack("b", "10.0.0.2/24");
        var rows = new Dictionary<SocketHandle, SocketInfo>();
        using var table = b.SocketTable.Subscribe(batch => SocketTableExtensions.Apply(rows, batch));
        var listener = network.Run(b.ListenTcpAsync(7));
        var client = network.Run(a.ConnectTcpAsync("10.0.0.2:7"));
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        SocketHandle accepted = rows.Values.Single(r => r.Kind == SocketKind.TcpStream).Handle;

        var infos = new List<TcpConnectionInfo>();
        bool completed = false;
        using var updates = b.InfoUpdates(accepted, TimeSpan.FromMilliseconds(100)).Subscribe(infos.Add, () => completed = true);
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
        Assert.Equal(TcpState.Established, Assert.Single(infos).State);
        Assert.Equal(0, infos[0].BytesReceived);

        network.Run(client.SendAsync(new byte[1000]));
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
        Assert.Equal(1000, infos[^1].BytesReceived);
        int count = infos.Count;
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(500).Ticks);
        Assert.Equal(count, infos.Count); // distinct values only: an idle connection sends nothing

        // A reset closes it; the row stays (Closed, with why) until its owner lets go — here the listener it waits in.
        network.Run(client.AbortAsync());
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(200).Ticks);
        Assert.Equal((TcpState.Closed, TcpError.ConnectionReset), (infos[^1].State, infos[^1].Error));
        Assert.False(completed);
        network.Run(listener.DisposeAsync().AsTask());
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(200).Ticks);
        Assert.True(completed);
        Assert.DoesNotContain(accepted, rows.Keys);
        Assert.Throws<ArgumentOutOfRangeException>(() => b.InfoUpdates(accepted, TimeSpan.Zero));
    }
}
