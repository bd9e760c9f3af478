using System.Net.Sockets;
using System.Security.Cryptography;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Tests.Interop;

/// <summary>Bulk data for transfers and their SHA-256, on both kinds of socket (the kernel's and ours).</summary>
internal static class TransferCheck
{
    public static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Sends everything in chunks, then shuts down our sending side.</summary>
    public static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data[..Math.Min(data.Length, 256 * 1024)], SocketFlags.None, cancellationToken);
            data = data[sent..];
        }
        socket.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Reads until the peer's FIN; returns the byte count and SHA-256 of everything read.</summary>
    public static async Task<(long Bytes, string Sha256)> ReceiveAllAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        long total = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>Sends everything over our stack's connection, then half-closes it.</summary>
    public static async Task SendAllAsync(TcpConnection connection, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var chunk = data[..Math.Min(data.Length, 256 * 1024)];
            await connection.SendAsync(chunk, cancellationToken);
            data = data[chunk.Length..];
        }
        await connection.ShutdownWriteAsync(cancellationToken);
    }

    /// <summary>Reads our stack's connection until the peer's FIN; returns the byte count and SHA-256.</summary>
    public static async Task<(long Bytes, string Sha256)> ReceiveAllAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        long total = 0;
        int read;
        while ((read = await connection.ReadAsync(buffer, cancellationToken)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
