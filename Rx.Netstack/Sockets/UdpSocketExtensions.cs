using System.Runtime.CompilerServices;
using System.Text;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>Async-stream and convenience members for <see cref="UdpSocket"/>.</summary>
public static class UdpSocketExtensions
{
    /// <summary>
    /// Datagrams as an async stream (each one pulled by its own receive, so a slow consumer lets the socket's queue fill and drop,
    /// as UDP does); ends when the socket closes. System.Interactive.Async operators (<c>Where</c>, <c>Select</c>, <c>Take</c> …) apply.
    /// </summary>
    public static async IAsyncEnumerable<Datagram> ReceiveAllAsync(this UdpSocket socket, int? maxLength = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        while (true)
        {
            Datagram datagram;
            try
            {
                datagram = await socket.ReceiveAsync(maxLength, cancellationToken).ConfigureAwait(false);
            }
            catch (NetstackException e) when (e.Kind is NetstackErrorKind.SocketClosed or NetstackErrorKind.StaleHandle)
            {
                yield break;
            }
            yield return datagram;
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
