using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.Interop;

/// <summary>Bulk data both ways at once over one connection from our stack to a kernel listener, checked byte for byte.</summary>
internal static class TwoWayTransfer
{
    /// <summary>
    /// Connects <paramref name="stack"/> to <paramref name="listener"/> (a kernel socket listening on <paramref name="remote"/>),
    /// sends <paramref name="size"/> bytes each way at once, half-closes both sides and checks what arrived by SHA-256.
    /// Returns the connection's info at the end.
    /// </summary>
    public static async Task<TcpConnectionInfo> RunAsync(Netstack stack, Socket listener, IPEndPoint remote, int size, CancellationToken cancellationToken)
    {
        byte[] up = TransferCheck.RandomBytes(size, seed: 21), down = TransferCheck.RandomBytes(size, seed: 22);
        Task<Socket> accepting = listener.AcceptAsync(cancellationToken).AsTask();
        await using TcpConnection connection = await stack.ConnectTcpAsync(new NetEndpoint(NetAddress.FromIPAddress(remote.Address), (ushort)remote.Port),
            cancellationToken: cancellationToken);
        using Socket peer = await accepting;
        Task stackSends = TransferCheck.SendAllAsync(connection, up, cancellationToken);
        Task kernelSends = TransferCheck.SendAllAsync(peer, down, cancellationToken);
        Task<(long, string)> kernelReceives = TransferCheck.ReceiveAllAsync(peer, cancellationToken);
        Task<(long, string)> stackReceives = TransferCheck.ReceiveAllAsync(connection, cancellationToken);
        await Task.WhenAll(stackSends, kernelSends, kernelReceives, stackReceives);
        Assert.Equal((up.Length, TransferCheck.Sha256(up)), await kernelReceives);
        Assert.Equal((down.Length, TransferCheck.Sha256(down)), await stackReceives);
        return await connection.GetInfoAsync(cancellationToken);
    }
}
