namespace Rx.Netstack.Diagnostics;

/// <summary>What happened to a row of the socket table.</summary>
public enum SocketTableChangeKind
{
    /// <summary>A socket appeared (or was there when the subscription started).</summary>
    Add,
    /// <summary>A socket's row changed (a TCP state change).</summary>
    Update,
    /// <summary>A socket left the table.</summary>
    Remove,
}

/// <summary>
/// One change of the live socket table: a UI keeps a collection keyed by <see cref="SocketInfo.Handle"/> and applies each change
/// (add the row, replace it, remove it) — or lets <see cref="SocketTableExtensions.ToSnapshots"/> do it.
/// </summary>
/// <param name="Kind">Add, update or remove.</param>
/// <param name="Socket">The row after the change (for a removal: the row as it last was).</param>
public readonly record struct SocketTableChange(SocketTableChangeKind Kind, SocketInfo Socket);
