using System.Collections.ObjectModel;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Diagnostics;

public static partial class SocketTableExtensions
{
    /// <summary>
    /// Keeps <paramref name="target"/> equal to the socket table, ordered by handle, for a view bound to it (WPF, Avalonia,
    /// MAUI): each batch of changes is applied on <paramref name="scheduler"/> — the UI thread's, e.g. a dispatcher or
    /// synchronization-context scheduler — as one insert, replace or remove per changed row, so the view redraws only those
    /// rows (what DynamicData's <c>Bind</c> does for its change sets). The first batch, the socket table's snapshot, replaces
    /// whatever the collection held. The collection then belongs to the binding: change it only through the table. Dispose
    /// the result to stop.
    /// </summary>
    /// <param name="changes">The stack's <see cref="Netstack.SocketTable"/> (or a stream whose first batch is a snapshot).</param>
    /// <param name="target">The collection a view binds to.</param>
    /// <param name="scheduler">Where the collection is changed; the batches come on the engine's thread.</param>
    public static IDisposable Bind(this IObservable<IReadOnlyList<SocketTableChange>> changes, ObservableCollection<SocketInfo> target, IScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(scheduler);
        bool first = true; // touched only on the scheduler
        return changes.ObserveOn(scheduler).Subscribe(batch =>
        {
            if (first)
            {
                first = false;
                target.Clear();
            }
            foreach (SocketTableChange change in batch) Apply(target, change);
        });
    }

    private static void Apply(ObservableCollection<SocketInfo> rows, SocketTableChange change)
    {
        int at = IndexOf(rows, change.Socket.Handle);
        if (change.Kind == SocketTableChangeKind.Remove)
        {
            if (at >= 0) rows.RemoveAt(at);
        }
        else if (at < 0)
        {
            rows.Insert(~at, change.Socket);
        }
        else if (rows[at] != change.Socket)
        {
            rows[at] = change.Socket; // one Replace notification: the view redraws that row alone
        }
    }

    /// <summary>The row's index in handle order, or the complement of where it would go (as <see cref="Array.BinarySearch(Array, object)"/>).</summary>
    private static int IndexOf(ObservableCollection<SocketInfo> rows, SocketHandle handle)
    {
        int low = 0, high = rows.Count - 1;
        while (low <= high)
        {
            int middle = low + (high - low) / 2;
            int order = HandleOrder.Instance.Compare(rows[middle].Handle, handle);
            if (order == 0) return middle;
            if (order < 0) low = middle + 1;
            else high = middle - 1;
        }
        return ~low;
    }
}
