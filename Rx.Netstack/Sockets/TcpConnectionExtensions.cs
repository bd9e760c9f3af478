using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Rx.Netstack.Sockets;

/// <summary>More ways to use a <see cref="TcpConnection"/> and a <see cref="TcpConnectionListener"/>: pipes and async streams.</summary>
public static class TcpConnectionExtensions
{
    /// <summary>The connection as an <see cref="IDuplexPipe"/> (see <see cref="TcpDuplexPipe"/>); the pipe owns the connection.</summary>
    public static TcpDuplexPipe AsDuplexPipe(this TcpConnection connection, PipeOptions? receiveOptions = null, PipeOptions? sendOptions = null) =>
        new(connection, receiveOptions, sendOptions);

    /// <summary>
    /// Accepted connections as an async stream; ends when the listener closes. A moment of overload (the command queue past
    /// its hard limit) is waited out, not thrown: an accept loop must outlive it.
    /// </summary>
    public static async IAsyncEnumerable<TcpConnection> AcceptAllAsync(this TcpConnectionListener listener,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(listener);
        while (true)
        {
            TcpConnection connection;
            try
            {
                connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Commands.NetstackException e) when (e.Kind is Commands.NetstackErrorKind.SocketClosed or Commands.NetstackErrorKind.StaleHandle)
            {
                yield break;
            }
            catch (Commands.NetstackException e) when (NetstackRequests.IsTransient(e))
            {
                await listener.Stack.PauseAfterRefusalAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            yield return connection;
        }
    }
}
