using System.Collections.ObjectModel;
using System.Collections.Specialized;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// <see cref="SocketTableExtensions.Bind"/>: the socket table kept in an <see cref="ObservableCollection{T}"/> for a UI, changed
/// only on the scheduler given, one notification per changed row.
/// </summary>
public sealed class SocketTableBindTests
{
    [Fact]
    public void The_collection_follows_the_table_on_the_ui_scheduler_one_notification_per_row()
    {
        var scheduler = new TestScheduler();
        var ui = new TestScheduler(); // stands for a dispatcher: nothing changes until it runs (a batch a tick)
        using var network = new VirtualNetwork(scheduler);
        Netstack a = network.AddStack("a", "10.0.0.1/24");
        Netstack b = network.AddStack("b", "10.0.0.2/24");
        UdpSocket mdns = network.Run(a.BindUdpAsync(5353));
        var rows = new ObservableCollection<SocketInfo>([default]); // something stale, replaced by the snapshot
        var notes = new List<string>();
        rows.CollectionChanged += (_, e) => notes.Add(e.Action switch
        {
            NotifyCollectionChangedAction.Add => $"add {e.NewStartingIndex}",
            NotifyCollectionChangedAction.Replace => $"replace {e.NewStartingIndex}",
            NotifyCollectionChangedAction.Remove => $"remove {e.OldStartingIndex}",
            _ => e.Action.ToString().ToLowerInvariant(),
        });

        IDisposable binding = a.SocketTable.Bind(rows, ui);

        scheduler.AdvanceBy(1);
        Assert.Equal(new SocketInfo[] { default }, rows); // the snapshot came, on the engine; the UI has not run yet
        ui.AdvanceBy(100);
        Assert.Equal(["reset", "add 0"], notes);
        Assert.Equal(5353, Assert.Single(rows).Local.Port);

        // A connection: added in handle order while its SYN is out, replaced in place when established, and as it closes.
        network.Run(b.ListenTcpAsync(80));
        TcpConnection connection = network.Run(a.ConnectTcpAsync("10.0.0.2:80"));
        notes.Clear();
        ui.AdvanceBy(100);
        Assert.Equal(["add 1", "replace 1"], notes);
        Assert.Equal((connection.Local, TcpState.Established), (rows[1].Local, rows[1].State));
        network.Run(connection.ShutdownWriteAsync()); // our FIN, acknowledged: FIN-WAIT-2
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        notes.Clear();
        ui.AdvanceBy(100);
        Assert.NotEmpty(notes);
        Assert.All(notes, note => Assert.Equal("replace 1", note));
        Assert.Equal(TcpState.FinWait2, rows[1].State);

        // The UDP socket goes: one removal; the rows stay in handle order.
        network.Run(mdns.DisposeAsync().AsTask());
        notes.Clear();
        ui.AdvanceBy(100);
        Assert.Equal(["remove 0"], notes);
        Assert.Equal(connection.Local, Assert.Single(rows).Local);

        // Unbound: the collection stays as it was.
        binding.Dispose();
        network.Run(connection.AbortAsync());
        ui.AdvanceBy(100);
        Assert.Single(rows);
        Assert.Throws<ArgumentNullException>(() => a.SocketTable.Bind(null!, ui));
    }
}
