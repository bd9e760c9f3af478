using System.Reactive.Linq;
using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Diagnostics;

/// <summary>Helpers over the socket-table change stream.</summary>
public static class SocketTableExtensions
{
    /// <summary>
    /// Applies each batch of changes to a table and yields the whole table after it, ordered by handle — for a UI that redraws
    /// (a console table) rather than binding to changes. Each subscription keeps its own table.
    /// </summary>
    public static IObservable<IReadOnlyList<SocketInfo>> ToSnapshots(this IObservable<IReadOnlyList<SocketTableChange>> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return Observable.Defer(() =>
        {
            var table = new SortedDictionary<SocketHandle, SocketInfo>(HandleOrder.Instance);
            return changes.Select(batch =>
            {
                Apply(table, batch);
                return (IReadOnlyList<SocketInfo>)table.Values.ToArray();
            });
        });
    }

    /// <summary>Applies a batch of changes to a dictionary keyed by handle (the way a view model would).</summary>
    public static void Apply(IDictionary<SocketHandle, SocketInfo> table, IEnumerable<SocketTableChange> batch)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(batch);
        foreach (SocketTableChange change in batch)
        {
            if (change.Kind == SocketTableChangeKind.Remove) table.Remove(change.Socket.Handle);
            else table[change.Socket.Handle] = change.Socket;
        }
    }

    /// <summary>
    /// The info of the TCP connection <paramref name="connection"/> (a <see cref="SocketKind.TcpStream"/> row of the socket
    /// table) at once and then every <paramref name="period"/> on the stack's scheduler, distinct values only; it completes
    /// when the connection is gone. What <see cref="Sockets.TcpConnection.InfoUpdates"/> gives for a connection you hold,
    /// for any row a UI shows — the server side of an accepted connection included.
    /// </summary>
    public static IObservable<TcpConnectionInfo> InfoUpdates(this Netstack stack, SocketHandle connection, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        return Observable.Interval(period, stack.Scheduler).StartWith(stack.Scheduler, 0)
            .Select(_ => stack.Execute(new Command.TcpStream.GetInfo(connection)))
            .Concat()
            .TakeWhile(r => r is Reply.Info)
            .Select(r => ((Reply.Info)r).Connection)
            .DistinctUntilChanged();
    }

    private sealed class HandleOrder : IComparer<SocketHandle>
    {
        public static readonly HandleOrder Instance = new();

        public int Compare(SocketHandle x, SocketHandle y) =>
            x.Index != y.Index ? x.Index.CompareTo(y.Index) : x.Generation.CompareTo(y.Generation);
    }
}
