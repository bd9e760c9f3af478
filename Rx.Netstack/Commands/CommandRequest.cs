namespace Rx.Netstack.Commands;

/// <summary>A command with its correlation id and where its reply goes.</summary>
/// <param name="Id">Correlation id (see <see cref="Netstack.NextRequestId"/>).</param>
/// <param name="Command">The command.</param>
/// <param name="ReplyTo">Receives one reply, then completes.</param>
public sealed record CommandRequest(long Id, Command Command, IObserver<Reply> ReplyTo);
