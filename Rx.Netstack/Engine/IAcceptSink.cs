using Rx.Netstack.Commands;

namespace Rx.Netstack.Engine;

/// <summary>
/// Takes established connections from one engine's listener without an accept command each (the sharded facade's listener,
/// <see cref="ShardedListener"/>). Called inside that engine's pass.
/// </summary>
internal interface IAcceptSink
{
    /// <summary>Takes <paramref name="accepted"/>; false when it has no room now (the connection stays in the engine's queue,
    /// and the sink sends an accept command when it has room again).</summary>
    bool TryTake(Reply.Accepted accepted);
}
