using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Rx.Netstack.Cli;

/// <summary>
/// The client side of SOCKS5 (RFC 1928) without authentication: CONNECT for the proxy's TCP upstream and UDP ASSOCIATE (§7)
/// for its UDP flows when <c>--socks5</c> is given. A refusal comes back as the <see cref="SocketError"/> the server's reply
/// code stands for, so the caller treats it like a direct connect's failure.
/// </summary>
internal static class Socks5Client
{
    /// <summary>The longest UDP request header (§7): RSV(2) FRAG(1) ATYP(1), an IPv6 address, a port.</summary>
    public const int MaxUdpHeaderLength = 4 + 16 + 2;

    /// <summary>Connects <paramref name="socket"/> to <paramref name="server"/> and asks it to CONNECT to <paramref name="destination"/>.</summary>
    /// <exception cref="SocketException">The server could not be reached, or refused (its reply code mapped, RFC 1928 §6).</exception>
    public static async Task ConnectAsync(Socket socket, IPEndPoint server, IPEndPoint destination, CancellationToken cancellationToken)
    {
        await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
        await RequestAsync(socket, 1, destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks the server <paramref name="control"/> is connected to for a UDP association (§7) for datagrams that will come from
    /// <paramref name="udpSource"/>, and returns the relay's endpoint to send them to. The association lasts as long as
    /// <paramref name="control"/> stays open. A relay address of all zeros means the server's own address (common practice).
    /// </summary>
    /// <exception cref="SocketException">The server refused (its reply code mapped) or broke the protocol.</exception>
    public static async Task<IPEndPoint> AssociateUdpAsync(Socket control, IPEndPoint udpSource, CancellationToken cancellationToken)
    {
        IPEndPoint relay = await RequestAsync(control, 3, udpSource, cancellationToken).ConfigureAwait(false);
        if (relay.Address.Equals(IPAddress.Any) || relay.Address.Equals(IPAddress.IPv6Any))
            relay = new IPEndPoint(((IPEndPoint)control.RemoteEndPoint!).Address, relay.Port);
        return relay;
    }

    /// <summary>Writes the UDP request header for a datagram to <paramref name="destination"/> (§7: RSV, FRAG 0, ATYP, DST.ADDR, DST.PORT); returns its length.</summary>
    public static int WriteUdpHeader(Span<byte> header, IPEndPoint destination)
    {
        bool v6 = destination.AddressFamily == AddressFamily.InterNetworkV6;
        int addressLength = v6 ? 16 : 4;
        header[0] = 0;
        header[1] = 0;
        header[2] = 0; // not a fragment
        header[3] = v6 ? (byte)4 : (byte)1;
        destination.Address.TryWriteBytes(header.Slice(4, addressLength), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header[(4 + addressLength)..], (ushort)destination.Port);
        return 6 + addressLength;
    }

    /// <summary>
    /// Reads the UDP request header of a datagram from the relay: where it came from and where its data starts. A fragment
    /// (FRAG ≠ 0) is <see cref="UdpHeaderResult.Fragment"/> — this client does not reassemble, and §7 says a client that does
    /// not must drop it; a header it cannot read (short, reserved bytes set, a domain name or unknown address type) is
    /// <see cref="UdpHeaderResult.Malformed"/>.
    /// </summary>
    public static UdpHeaderResult ReadUdpHeader(ReadOnlySpan<byte> datagram, out IPEndPoint? source, out int headerLength)
    {
        source = null;
        headerLength = 0;
        if (datagram.Length < 4 || datagram[0] != 0 || datagram[1] != 0) return UdpHeaderResult.Malformed;
        if (datagram[2] != 0) return UdpHeaderResult.Fragment;
        int addressLength = datagram[3] switch { 1 => 4, 4 => 16, _ => -1 };
        if (addressLength < 0 || datagram.Length < 6 + addressLength) return UdpHeaderResult.Malformed;
        var address = new IPAddress(datagram.Slice(4, addressLength));
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        source = new IPEndPoint(address, BinaryPrimitives.ReadUInt16BigEndian(datagram[(4 + addressLength)..]));
        headerLength = 6 + addressLength;
        return UdpHeaderResult.Ok;
    }

    /// <summary>Greeting (§3) and one request (§4) for <paramref name="command"/> (1 CONNECT, 3 UDP ASSOCIATE); returns BND.ADDR:BND.PORT.</summary>
    private static async Task<IPEndPoint> RequestAsync(Socket socket, byte command, IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[32];
        // Greeting: version 5, one method, "no authentication required" (RFC 1928 §3).
        await socket.SendAsync(new byte[] { 5, 1, 0 }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        await ReceiveExactlyAsync(socket, buffer.AsMemory(0, 2), cancellationToken).ConfigureAwait(false);
        if (buffer[0] != 5 || buffer[1] != 0) throw new SocketException((int)SocketError.ProtocolNotSupported);

        // Request (§4): the command with an IPv4 (1) or IPv6 (4) address and port.
        bool v6 = endpoint.AddressFamily == AddressFamily.InterNetworkV6;
        int addressLength = v6 ? 16 : 4;
        buffer[0] = 5;
        buffer[1] = command;
        buffer[2] = 0;
        buffer[3] = v6 ? (byte)4 : (byte)1;
        endpoint.Address.TryWriteBytes(buffer.AsSpan(4, addressLength), out _);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(4 + addressLength), (ushort)endpoint.Port);
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
        return new IPEndPoint(new IPAddress(buffer.AsSpan(0, bound)), BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(bound)));
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

/// <summary>What <see cref="Socks5Client.ReadUdpHeader"/> found.</summary>
internal enum UdpHeaderResult
{
    /// <summary>A whole datagram with an address it can read.</summary>
    Ok,

    /// <summary>A fragment (FRAG ≠ 0): dropped, since fragments are not reassembled.</summary>
    Fragment,

    /// <summary>Too short, reserved bytes set, or an address type it does not read.</summary>
    Malformed,
}
