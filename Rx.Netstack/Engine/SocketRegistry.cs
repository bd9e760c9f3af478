using System.Diagnostics;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Engine;

/// <summary>
/// Slots of sockets addressed by <see cref="SocketHandle"/>. A freed slot's generation is bumped, so an old handle to it is
/// recognised as stale instead of reaching the slot's next occupant. Free slots are reused last-freed-first.
/// </summary>
internal sealed class SocketRegistry
{
    /// <summary>The stack's id, written into every handle (a handle of another stack is refused).</summary>
    private readonly int _stackId;

    /// <summary>Sockets held at most (<see cref="NetstackOptions.MaxSockets"/>).</summary>
    private readonly int _capacity;

    /// <summary>The sockets by slot (null: free); grown by doubling.</summary>
    private SocketState?[] _slots = new SocketState?[16];

    /// <summary>Each slot's generation, bumped when it is freed, so an old handle to it is stale.</summary>
    private uint[] _generations = new uint[16];

    /// <summary>Freed slots, reused last-freed-first.</summary>
    private readonly Stack<int> _free = new();

    /// <summary>Slots ever used: the high-water mark of <see cref="_slots"/>.</summary>
    private int _used;

    /// <summary>Sockets in the registry by <see cref="SocketKind"/> (index), kept on add and remove so stats never walk it.</summary>
    private readonly int[] _countByKind = new int[Enum.GetValues<SocketKind>().Length];

    public SocketRegistry(int stackId, int capacity)
    {
        _stackId = stackId;
        _capacity = capacity;
    }

    public int Count { get; private set; }

    /// <summary>How many sockets of <paramref name="kind"/> the table holds.</summary>
    public int CountOf(SocketKind kind) => _countByKind[(int)kind];

    /// <summary>Told of every add and remove while someone watches the socket table (null otherwise: no cost).</summary>
    public Diagnostics.SocketTableTracker? Tracker { get; set; }

    /// <summary>Gives <paramref name="socket"/> a slot and a handle, or returns false when the table is full.</summary>
    public bool TryAdd(SocketState socket, SocketKind kind)
    {
        if (Count >= _capacity) return false;
        int index;
        if (_free.Count > 0) index = _free.Pop();
        else
        {
            if (_used == _slots.Length)
            {
                Array.Resize(ref _slots, _slots.Length * 2);
                Array.Resize(ref _generations, _generations.Length * 2);
            }
            index = _used++;
        }
        _slots[index] = socket;
        socket.Handle = new SocketHandle(index, _generations[index], kind, _stackId);
        Count++;
        _countByKind[(int)kind]++;
        AssertCounts();
        Tracker?.Touched(socket);
        return true;
    }

    public void Remove(SocketState socket)
    {
        int index = socket.Handle.Index;
        if ((uint)index >= (uint)_used || _slots[index] != socket) return;
        _slots[index] = null;
        _generations[index]++;
        _free.Push(index);
        Count--;
        _countByKind[(int)socket.Handle.Kind]--;
        AssertCounts();
        Tracker?.Removed(socket);
    }

    /// <summary>Finds the socket a handle names, or says precisely why not.</summary>
    public NetstackError? TryGet<T>(SocketHandle handle, out T? socket) where T : SocketState
    {
        socket = null;
        if (!handle.IsValid || handle.StackId != _stackId || (uint)handle.Index >= (uint)_used)
            return NetstackError.Of(NetstackErrorKind.InvalidHandle, $"Handle {handle} was not issued by this stack.");
        if (_generations[handle.Index] != handle.Generation || _slots[handle.Index] is null)
            return NetstackError.Of(NetstackErrorKind.StaleHandle, $"Handle {handle} names a socket that has been closed.");
        if (_slots[handle.Index] is not T typed || handle.Kind != typed.Handle.Kind)
            return NetstackError.Of(NetstackErrorKind.InvalidHandle, $"Handle {handle} does not name a socket of this kind.");
        socket = typed;
        return null;
    }

    /// <summary>The registry's tallies agree: the count by kind adds up to the count, within the capacity.</summary>
    [Conditional("DEBUG")]
    private void AssertCounts()
    {
        int sum = 0;
        foreach (int n in _countByKind)
        {
            Debug.Assert(n >= 0, "no kind counts below zero");
            sum += n;
        }
        Debug.Assert(sum == Count && Count <= _capacity && _used <= _slots.Length, "socket counts add up");
    }

    /// <summary>Every live socket (for disposal and diagnostics; not used on the hot path).</summary>
    public IEnumerable<SocketState> All()
    {
        for (int i = 0; i < _used; i++)
            if (_slots[i] is { } s) yield return s;
    }
}
