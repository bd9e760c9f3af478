using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Rx.Netstack.Cli;

/// <summary>
/// The client side of a SOCKS5 CONNECT (RFC 1928) without authentication: the proxy's upstream when <c>--socks5</c> is
/// given. A refusal comes back as the <see cref="SocketError"/> the server's reply code stands for, so the caller treats it
/// like a direct connect's failure.
/// </summary>
internal static class Socks5Client
{
    /// <summary>Connects <paramref name="socket"/> to <paramref name="server"/> and asks it to CONNECT to <paramref name="destination"/>.</summary>
    /// <exception cref="SocketException">The server could not be reached, or refused (its reply code mapped, RFC 1928 §6).</exception>
    public static async Task ConnectAsync(Socket socket, IPEndPoint server, IPEndPoint destination, CancellationToken cancellationToken)
    {
        await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
        byte[] buffer = new byte[32];
        // Greeting: version 5, one method, "no authentication required" (RFC 1928 §3).
        await socket.SendAsync(new byte[] { 5, 1, 0 }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        await ReceiveExactlyAsync(socket, buffer.AsMemory(0, 2), cancellationToken).ConfigureAwait(false);
        if (buffer[0] != 5 || buffer[1] != 0) throw new SocketException((int)SocketError.ProtocolNotSupported);

        // Request (§4): CONNECT to an IPv4 (1) or IPv6 (4) address and port.
        bool v6 = destination.AddressFamily == AddressFamily.InterNetworkV6;
        int addressLength = v6 ? 16 : 4;
        buffer[0] = 5;
        buffer[1] = 1;
        buffer[2] = 0;
        buffer[3] = v6 ? (byte)4 : (byte)1;
        destination.Address.TryWriteBytes(buffer.AsSpan(4, addressLength), out _);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(4 + addressLength), (ushort)destination.Port);
        await socket.SendAsync(buffer.AsMemory(0, 6 + addressLength), SocketFlags.None, cancellationToken).ConfigureAwait(false);

        // Reply (§6): VER REP RSV ATYP BND.ADDR BND.PORT.
        await ReceiveExactlyAsync(socket, buffer.AsMemory(0, 4), cancellationToken).ConfigureAwait(false);
        if (buffer[0] != 5) throw new SocketException((int)SocketError.ProtocolNotSupported);
        byte reply = buffer[1];
        int bound = buffer[3] switch { 1 => 4, 4 => 16, _ => -1 };
        if (bound < 0) throw new SocketException((int)SocketError.ProtocolNotSupported);
        await ReceiveExactlyAsync(socket, buffer.AsMemory(0, bound + 2), cancellationToken).ConfigureAwait(false);
        if (reply != 0)
        {
            throw new SocketException((int)(reply switch
            {
                3 => SocketError.NetworkUnreachable,
                4 => SocketError.HostUnreachable,
                5 => SocketError.ConnectionRefused,
                6 => SocketError.TimedOut,
                _ => SocketError.ConnectionRefused, // general failure, not allowed, command or address type not supported
            }));
        }
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new SocketException((int)SocketError.ConnectionReset);
            buffer = buffer[n..];
        }
    }
}
