using System.Runtime.CompilerServices;
using System.Text;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>Async-stream and convenience members for <see cref="UdpSocket"/>.</summary>
public static class UdpSocketExtensions
{
    /// <summary>
    /// Datagrams as an async stream, pulled in batches (one request takes every datagram queued, up to 64): a slow consumer
    /// holds at most one batch, and the socket's queue fills and drops beyond that, as UDP does. Ends when the socket
    /// closes. System.Interactive.Async operators (<c>Where</c>, <c>Select</c>, <c>Take</c> …) apply. ICMP errors about
    /// datagrams the socket sent (see <see cref="UdpSocket.ReceiveAsync"/>) are passed over, as by <see cref="UdpSocket.Received"/>.
    /// </summary>
    public static async IAsyncEnumerable<Datagram> ReceiveAllAsync(this UdpSocket socket, int? maxLength = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        while (true)
        {
            IReadOnlyList<Datagram> batch;
            try
            {
                batch = await socket.ReceiveBatchAsync(maxLength: maxLength, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (NetstackException e) when (e.Kind is NetstackErrorKind.SocketClosed or NetstackErrorKind.StaleHandle)
            {
                yield break;
            }
            catch (NetstackException e) when (e.Error.Remote is not null)
            {
                continue; // an ICMP error about one datagram sent: the stream goes on
            }
            foreach (Datagram datagram in batch) yield return datagram;
        }
    }

    /// <summary>Sends <paramref name="text"/> as one UTF-8 datagram.</summary>
    public static Task SendAsync(this UdpSocket socket, string text, NetEndpoint destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(text);
        return socket.SendAsync(Encoding.UTF8.GetBytes(text), destination, cancellationToken);
    }
}
