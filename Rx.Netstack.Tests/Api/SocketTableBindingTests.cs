using System.Collections.ObjectModel;
using System.Collections.Specialized;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Devices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// <see cref="SocketTableBinding.Bind"/>: the socket table's change sets applied to an <see cref="ObservableCollection{T}"/> on
/// a UI scheduler, the collection equal to the table after every batch, updates as Replace (and Move), never remove-and-add.
/// </summary>
public sealed class SocketTableBindingTests
{
    private static readonly TimeSpan TenMs = TimeSpan.FromMilliseconds(10);

    /// <summary>Rows by TCP state name (UDP's null first), so a connection moves when it goes from SynSent to Established.</summary>
    private sealed class ByStateName : IComparer<SocketInfo>
    {
        public int Compare(SocketInfo x, SocketInfo y) => string.CompareOrdinal(x.State?.ToString() ?? "", y.State?.ToString() ?? "");
    }

    [Fact]
    public void The_collection_follows_the_table_on_the_ui_scheduler_with_moves_and_replaces()
    {
        var scheduler = new TestScheduler();
        var ui = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")], RunContinuationsInline = true });
        var b = network.AddStack("b", new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.2/24")], RunContinuationsInline = true },
            new ImpairmentOptions { Delay = TenMs });
        var udp = network.Run(a.BindUdpAsync(53));
        var listener = network.Run(a.ListenTcpAsync(8080));
        var server = network.Run(b.ListenTcpAsync(80));

        var stale = new SocketInfo(default, default, null, null, IpProtocol.Udp, 4);
        var rows = new ObservableCollection<SocketInfo> { stale }; // a previous binding's row: cleared when this one starts
        var events = new List<NotifyCollectionChangedEventArgs>();
        rows.CollectionChanged += (_, e) => events.Add(e);
        var order = new ByStateName();
        var expected = new Dictionary<SocketHandle, SocketInfo>();
        using var mirror = a.SocketTable.Subscribe(batch => SocketTableExtensions.Apply(expected, batch));
        using var binding = a.SocketTable.Bind(rows, ui, order).Subscribe();

        scheduler.AdvanceBy(10);
        Assert.Equal([stale], rows); // nothing changes off the UI scheduler (ui.Start() runs what it was given)
        ui.Start();
        AssertMirrors();
        Assert.Equal(2, rows.Count);

        // A connection: added in SynSent (after Listen), then Established (before Listen) — a Move and a Replace.
        var connecting = a.ConnectTcpAsync(NetEndpoint.Parse("10.0.0.2:80"));
        scheduler.AdvanceBy(10); // the SYN is out; its answer is 10 ms away
        ui.Start();
        AssertMirrors();
        Assert.Equal(TcpState.SynSent, rows[^1].State);
        var connection = network.Run(connecting);
        ui.Start();
        AssertMirrors();
        Assert.Equal(TcpState.Established, rows[1].State);
        Assert.Contains(events, e => e.Action == NotifyCollectionChangedAction.Move);
        Assert.Contains(events, e => e.Action == NotifyCollectionChangedAction.Replace);

        // Closed: through FIN-WAIT and TIME-WAIT (replaces) and, 2 MSL later, gone (a remove). The UDP socket goes too.
        network.Run(connection.CloseAsync());
        network.Run(udp.DisposeAsync().AsTask());
        scheduler.AdvanceBy(TimeSpan.FromMinutes(5).Ticks);
        ui.Start();
        AssertMirrors();
        Assert.Equal(TcpState.Listen, Assert.Single(rows).State);

        // Every update was applied in place: the only removes are of rows that left the table (two) and the stale row.
        Assert.Equal(3, events.Count(e => e.Action == NotifyCollectionChangedAction.Remove)
            + events.Count(e => e.Action == NotifyCollectionChangedAction.Reset));
        Assert.Equal(3, events.Count(e => e.Action == NotifyCollectionChangedAction.Add)); // UDP, listener, connection
        network.Run(listener.DisposeAsync().AsTask());
        network.Run(server.DisposeAsync().AsTask());

        void AssertMirrors() => Assert.Equal(expected.Values.Order(Comparer<SocketInfo>.Create((x, y) =>
        {
            int c = order.Compare(x, y);
            return c != 0 ? c : x.Handle.Index.CompareTo(y.Handle.Index);
        })), rows);
    }

    [Fact]
    public void A_second_subscription_rebuilds_the_collection_from_the_snapshot()
    {
        var scheduler = new TestScheduler();
        using var network = new VirtualNetwork(scheduler);
        var a = network.AddStack("a", "10.0.0.1/24");
        network.Run(a.BindUdpAsync(53));
        network.Run(a.BindUdpAsync(54));
        var rows = new ObservableCollection<SocketInfo>();
        var bound = a.SocketTable.Bind(rows, scheduler);

        using (bound.Subscribe()) scheduler.AdvanceBy(10); // a TestScheduler runs each hop a tick later
        Assert.Equal([53, 54], rows.Select(r => r.Local.Port));
        using (bound.Subscribe()) scheduler.AdvanceBy(10); // a TestScheduler runs each hop a tick later
        Assert.Equal([53, 54], rows.Select(r => r.Local.Port)); // cleared, then the snapshot: not four rows
    }

    [Fact]
    public void Bind_checks_its_arguments()
    {
        using var stack = new Netstack(new NetstackOptions { Addresses = [InterfaceAddress.Parse("10.0.0.1/24")] }, new TestScheduler());
        Assert.Throws<ArgumentNullException>(() => stack.SocketTable.Bind(null!, new TestScheduler()));
        Assert.Throws<ArgumentNullException>(() => stack.SocketTable.Bind([], null!));
    }
}
