namespace Rx.Netstack.Engine;

/// <summary>
/// A sharded facade object that keeps one request outstanding per engine (<see cref="ShardedListener"/>'s accepts,
/// <see cref="ShardedInterceptor"/>'s offers), so <see cref="ShardSet.RetryPumpLater"/> can ask again after a refusal.
/// </summary>
internal interface IShardPump
{
    /// <summary>Sends engine <paramref name="engine"/> its next request, unless one is outstanding or none is wanted.</summary>
    void Pump(int engine);
}
