using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli;

/// <summary>
/// The two sides every <c>bench</c> compares, behind one shape: a connected pair of byte streams, either two Rx.Netstack
/// connections (A → B over the pipe) or two kernel sockets over 127.0.0.1.
/// </summary>
internal interface IBenchStreamPair : IAsyncDisposable
{
    ValueTask SendAsync(ReadOnlyMemory<byte> data, bool fromClient);
    ValueTask<int> ReadAsync(Memory<byte> buffer, bool atServer);
    Task ShutdownClientAsync();
}

/// <summary>A TCP connection pair on the two stacks of a <see cref="DemoNetwork"/>.</summary>
internal sealed class StackStreamPair(TcpConnection client, TcpConnection server, TcpConnectionListener listener) : IBenchStreamPair
{
    public static async Task<StackStreamPair> OpenAsync(DemoNetwork net, ushort port, Tcp.TcpSettings settings)
    {
        TcpConnectionListener listener = await net.B.ListenTcpAsync(port, settings: settings);
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = await net.A.ConnectTcpAsync(new NetEndpoint(DemoNetwork.B4, port), settings).WaitAsync(TimeSpan.FromSeconds(10));
        TcpConnection server = await accept.WaitAsync(TimeSpan.FromSeconds(10));
        return new StackStreamPair(client, server, listener);
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> data, bool fromClient) => new((fromClient ? client : server).SendAsync(data));

    public ValueTask<int> ReadAsync(Memory<byte> buffer, bool atServer) => (atServer ? server : client).ReadAsync(buffer);

    public Task ShutdownClientAsync() => client.ShutdownWriteAsync();

    public async ValueTask DisposeAsync()
    {
        await client.CloseAsync();
        await server.CloseAsync();
        await listener.DisposeAsync();
    }
}

/// <summary>A TCP connection pair through the kernel's loopback (127.0.0.1), with the same buffer sizes.</summary>
internal sealed class KernelStreamPair(Socket client, Socket server) : IBenchStreamPair
{
    /// <summary>
    /// Opens the pair on the host's loopback, or with <paramref name="ns"/> on that namespace's own <c>lo</c>: the sockets are
    /// made on a thread inside it and stay there whichever thread uses them. <paramref name="congestion"/>: the kernel's
    /// algorithm for both sockets (TCP_CONGESTION), instead of the namespace's default.
    /// </summary>
    public static async Task<KernelStreamPair> OpenAsync(int bufferSize, bool noDelay, NetworkNamespace? ns = null, string? congestion = null)
    {
        (Socket Listener, Socket Client) Create()
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            // An accepted socket takes the listener's algorithm.
            if (congestion is not null) BenchLoss.UseCongestionControl(listener, congestion);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            {
                SendBufferSize = bufferSize, ReceiveBufferSize = bufferSize, NoDelay = noDelay,
            };
            if (congestion is not null) BenchLoss.UseCongestionControl(client, congestion);
            return (listener, client);
        }
        (Socket listenerSocket, Socket clientSocket) = ns is null ? Create() : ns.Run(Create);
        using Socket listener = listenerSocket;
        Task<Socket> accept = listener.AcceptAsync();
        await clientSocket.ConnectAsync(listener.LocalEndPoint!).WaitAsync(TimeSpan.FromSeconds(10));
        Socket server = await accept.WaitAsync(TimeSpan.FromSeconds(10));
        server.SendBufferSize = bufferSize;
        server.ReceiveBufferSize = bufferSize;
        server.NoDelay = noDelay;
        return new KernelStreamPair(clientSocket, server);
    }

    /// <summary>The client's socket (the sender of a bulk transfer).</summary>
    public Socket Client => client;

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, bool fromClient)
    {
        Socket socket = fromClient ? client : server;
        while (!data.IsEmpty) data = data[await socket.SendAsync(data, SocketFlags.None)..];
    }

    public ValueTask<int> ReadAsync(Memory<byte> buffer, bool atServer) => (atServer ? server : client).ReceiveAsync(buffer, SocketFlags.None);

    public Task ShutdownClientAsync()
    {
        client.Shutdown(SocketShutdown.Send);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        client.Dispose();
        server.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The measurements shared by <c>bench tcp</c> and <c>bench rr</c>.</summary>
internal static class BenchTransfers
{
    /// <summary>Upper bound on loop iterations, whatever the clock says (a loop is bounded in count and time).</summary>
    public const long MaxIterations = 100_000_000;

    /// <summary>
    /// Client → server bulk transfer: the client writes <paramref name="writeSize"/> bytes at a time (the server reads up to
    /// <paramref name="readSize"/>, the socket buffer size, at a time) for
    /// <paramref name="duration"/>, then shuts down; the figure is bytes received over the time until the end of stream.
    /// </summary>
    public static async Task<(long Bytes, TimeSpan Elapsed)> BulkAsync(IBenchStreamPair pair, int writeSize, int readSize, TimeSpan duration)
    {
        byte[] data = new byte[writeSize];
        new Random(6).NextBytes(data);
        var clock = Stopwatch.StartNew();

        async Task<long> ReceiveAsync()
        {
            byte[] buffer = new byte[Math.Max(writeSize, readSize)];
            long total = 0;
            for (long i = 0; i < MaxIterations; i++)
            {
                int n = await pair.ReadAsync(buffer, atServer: true);
                if (n == 0) break;
                total += n;
            }
            return total;
        }

        Task<long> receiving = Task.Run(ReceiveAsync);
        for (long i = 0; i < MaxIterations && clock.Elapsed < duration; i++)
            await pair.SendAsync(data, fromClient: true);
        await pair.ShutdownClientAsync();
        long bytes = await receiving.WaitAsync(duration + TimeSpan.FromSeconds(30));
        return (bytes, clock.Elapsed);
    }

    /// <summary>1-byte request, 1-byte response, one at a time, for <paramref name="duration"/>; returns the count of round trips.</summary>
    public static async Task<(long RoundTrips, TimeSpan Elapsed)> RequestResponseAsync(IBenchStreamPair pair, TimeSpan duration)
    {
        using var stop = new CancellationTokenSource();
        async Task ServeAsync()
        {
            byte[] buffer = new byte[1];
            for (long i = 0; i < MaxIterations; i++)
            {
                if (await pair.ReadAsync(buffer, atServer: true) == 0) return;
                await pair.SendAsync(buffer, fromClient: false);
            }
        }
        Task serving = Task.Run(ServeAsync);
        byte[] request = [42], response = new byte[1];
        var clock = Stopwatch.StartNew();
        long trips = 0;
        while (trips < MaxIterations && clock.Elapsed < duration)
        {
            await pair.SendAsync(request, fromClient: true);
            if (await pair.ReadAsync(response, atServer: false) != 1) throw new InvalidOperationException("the server closed during bench rr");
            trips++;
        }
        TimeSpan elapsed = clock.Elapsed;
        await pair.ShutdownClientAsync();
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
        return (trips, elapsed);
    }
}
