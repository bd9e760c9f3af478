namespace Rx.Netstack.Commands;

/// <summary>What the <see cref="Netstack.Tap"/> shows.</summary>
/// <param name="Id">The request's correlation id.</param>
public abstract record CommandEvent(long Id)
{
    /// <summary>The engine took a request.</summary>
    public sealed record Taken(long Id, Command Command) : CommandEvent(Id);

    /// <summary>The engine answered a request.</summary>
    public sealed record Replied(long Id, Reply Reply) : CommandEvent(Id);
}
