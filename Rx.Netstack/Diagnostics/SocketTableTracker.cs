using Rx.Netstack.Engine;

namespace Rx.Netstack.Diagnostics;

/// <summary>
/// Turns the engine's socket changes into batches for <see cref="Netstack.SocketTable"/> subscribers. Exists only while someone
/// subscribes. The engine reports adds and removes (from the socket table) and flushes (of dirty sockets); at the end of the
/// pass <see cref="Publish"/> describes only the sockets touched, so the cost follows the work done, never the number of idle sockets.
/// Engine thread only.
/// </summary>
internal sealed class SocketTableTracker(Func<SocketState, SocketInfo> describe)
{
    private readonly Dictionary<Commands.SocketHandle, SocketInfo> _rows = [];
    private readonly HashSet<SocketState> _touched = [];
    private readonly List<SocketState> _touchedOrder = [];
    private readonly List<SocketTableChange> _removed = [];
    private IObserver<IReadOnlyList<SocketTableChange>>[] _observers = [];

    public int ObserverCount => _observers.Length;

    /// <summary>Starts from what exists (called when the first observer arrives).</summary>
    public void Reset(IEnumerable<SocketState> sockets)
    {
        _rows.Clear();
        _touched.Clear();
        _touchedOrder.Clear();
        _removed.Clear();
        foreach (SocketState socket in sockets) _rows[socket.Handle] = describe(socket);
    }

    /// <summary>The whole table as a batch of adds (for a new observer).</summary>
    public IReadOnlyList<SocketTableChange> Snapshot() =>
        _rows.Values.OrderBy(r => r.Handle.Index).Select(r => new SocketTableChange(SocketTableChangeKind.Add, r)).ToArray();

    public void AddObserver(IObserver<IReadOnlyList<SocketTableChange>> observer) => _observers = [.. _observers, observer];

    public void RemoveObserver(IObserver<IReadOnlyList<SocketTableChange>> observer) => _observers = _observers.Where(o => o != observer).ToArray();

    public void Touched(SocketState socket)
    {
        if (_touched.Add(socket)) _touchedOrder.Add(socket);
    }

    public void Removed(SocketState socket)
    {
        if (_rows.Remove(socket.Handle, out SocketInfo last)) _removed.Add(new SocketTableChange(SocketTableChangeKind.Remove, last));
    }

    /// <summary>Sends the pass's changes (if any) to every observer; returns how many observers threw.</summary>
    public int Publish()
    {
        if (_touchedOrder.Count == 0 && _removed.Count == 0) return 0;
        List<SocketTableChange>? batch = _removed.Count > 0 ? [.. _removed] : null;
        _removed.Clear();
        foreach (SocketState socket in _touchedOrder)
        {
            if (socket.IsClosed) continue; // added and removed in the same pass, or removed (reported above)
            SocketInfo now = describe(socket);
            if (!_rows.TryGetValue(socket.Handle, out SocketInfo before))
                (batch ??= []).Add(new SocketTableChange(SocketTableChangeKind.Add, now));
            else if (before != now)
                (batch ??= []).Add(new SocketTableChange(SocketTableChangeKind.Update, now));
            else continue;
            _rows[socket.Handle] = now;
        }
        _touched.Clear();
        _touchedOrder.Clear();
        if (batch is null) return 0;
        int faults = 0;
        foreach (var observer in _observers)
        {
            try { observer.OnNext(batch); }
            catch (Exception) { faults++; } // a subscriber that throws hurts only itself
        }
        return faults;
    }

    public void Complete()
    {
        foreach (var observer in _observers) observer.OnCompleted();
        _observers = [];
    }
}
