using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Diagnostics;

/// <summary>
/// Binds the socket table's change sets to an <see cref="ObservableCollection{T}"/> that a WPF, Avalonia or MAUI view shows:
/// what DynamicData's <c>Bind</c> does for its own change sets.
/// </summary>
public static class SocketTableBinding
{
    /// <summary>
    /// Applies each batch of <paramref name="changes"/> to <paramref name="target"/> on <paramref name="scheduler"/> (the UI
    /// thread's scheduler): an add inserts the row at its place in <paramref name="order"/>, an update replaces it (a
    /// Replace notification, or a Move then a Replace when its place changed), a remove removes it. The collection is cleared
    /// when the subscription starts (the first batch is the whole table) and is then the table, in order, after every batch.
    /// Subscribe to the result to start; it yields each batch after it was applied, on <paramref name="scheduler"/>.
    /// </summary>
    /// <param name="changes">The change stream, usually <see cref="Netstack.SocketTable"/>.</param>
    /// <param name="target">The collection a view binds to. Only this binding may change it while subscribed.</param>
    /// <param name="scheduler">Where the collection is changed (a dispatcher's scheduler, <c>SynchronizationContextScheduler</c> …).</param>
    /// <param name="order">The row order; null for the order of handles. Ties are broken by handle, so rows never compare equal.</param>
    public static IObservable<IReadOnlyList<SocketTableChange>> Bind(this IObservable<IReadOnlyList<SocketTableChange>> changes,
        ObservableCollection<SocketInfo> target, IScheduler scheduler, IComparer<SocketInfo>? order = null)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(scheduler);
        var rows = new RowOrder(order);
        return Observable.Defer(() =>
        {
            // Per subscription: the rows as last applied, by handle, to find a row's place before an update moved it.
            var current = new Dictionary<SocketHandle, SocketInfo>();
            bool cleared = false;
            return changes.ObserveOn(scheduler).Do(batch =>
            {
                if (!cleared)
                {
                    target.Clear();
                    cleared = true;
                }
                foreach (SocketTableChange change in batch) Apply(target, current, rows, change);
            });
        });
    }

    private static void Apply(ObservableCollection<SocketInfo> target, Dictionary<SocketHandle, SocketInfo> current, RowOrder rows,
        SocketTableChange change)
    {
        SocketInfo row = change.Socket;
        bool known = current.TryGetValue(row.Handle, out SocketInfo old);
        switch (change.Kind)
        {
            case SocketTableChangeKind.Remove:
                if (!known) return; // removed before we saw it: nothing to undo
                target.RemoveAt(IndexOf(target, rows, old));
                current.Remove(row.Handle);
                break;
            case SocketTableChangeKind.Add when !known:
                target.Insert(~BinarySearch(target, rows, row), row);
                current.Add(row.Handle, row);
                break;
            default: // an update, or an add of a row we have (treated as its update)
                if (!known)
                {
                    target.Insert(~BinarySearch(target, rows, row), row);
                    current.Add(row.Handle, row);
                    break;
                }
                int from = IndexOf(target, rows, old);
                // Its new place among the other rows (the list without it): the view sees a Move, if any, and a Replace.
                int to = ~BinarySearch(target, rows, row, skip: from);
                if (to != from) target.Move(from, to);
                target[to] = row;
                current[row.Handle] = row;
                break;
        }
        Debug.Assert(target.Count == current.Count, "the collection holds exactly the rows applied");
    }

    /// <summary>The index of <paramref name="row"/>, which is in <paramref name="target"/> (the list is in order).</summary>
    private static int IndexOf(ObservableCollection<SocketInfo> target, RowOrder rows, SocketInfo row)
    {
        int index = BinarySearch(target, rows, row);
        Debug.Assert(index >= 0 && target[index].Handle == row.Handle, "a known row is where its order puts it");
        return index;
    }

    /// <summary>
    /// <see cref="List{T}.BinarySearch(T)"/> over the collection, as if the item at <paramref name="skip"/> (if any) were not
    /// there: the index, or the complement of where the row would go.
    /// </summary>
    private static int BinarySearch(ObservableCollection<SocketInfo> target, RowOrder rows, SocketInfo row, int skip = -1)
    {
        int lo = 0, hi = target.Count - (skip >= 0 ? 2 : 1);
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            int c = rows.Compare(target[skip >= 0 && mid >= skip ? mid + 1 : mid], row);
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    /// <summary>The caller's order, then handle order: a total order, so every row has one place.</summary>
    private sealed class RowOrder(IComparer<SocketInfo>? order) : IComparer<SocketInfo>
    {
        public int Compare(SocketInfo x, SocketInfo y)
        {
            int c = order?.Compare(x, y) ?? 0;
            if (c != 0) return c;
            c = x.Handle.Index.CompareTo(y.Handle.Index);
            return c != 0 ? c : x.Handle.Generation.CompareTo(y.Handle.Generation);
        }
    }
}
