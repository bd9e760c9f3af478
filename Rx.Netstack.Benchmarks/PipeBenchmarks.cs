using BenchmarkDotNet.Attributes;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;

namespace Rx.Netstack.Benchmarks;

/// <summary>Two stacks on one <see cref="InlineScheduler"/> joined by a synchronous <see cref="PipeDevice"/>.</summary>
public abstract class PipeBenchmarkBase
{
    protected static readonly NetAddress A4 = NetAddress.Parse("10.0.0.1"), B4 = NetAddress.Parse("10.0.0.2");

    private protected InlineScheduler Scheduler { get; } = new();
    protected Netstack A { get; private set; } = null!;
    protected Netstack B { get; private set; } = null!;

    protected void CreateStacks(int mtu, Func<NetstackOptions, NetstackOptions>? configure = null,
        ChecksumOffload checksums = ChecksumOffload.None)
    {
        configure ??= o => o;
        // Inline continuations: the benchmarks measure the engine and the command path, not the thread pool's hop.
        A = new Netstack(configure(new NetstackOptions { Addresses = [new(A4, 24)], RunContinuationsInline = true }), Scheduler);
        B = new Netstack(configure(new NetstackOptions { Addresses = [new(B4, 24)], RunContinuationsInline = true }), Scheduler);
        var (deviceA, deviceB) = PipeDevice.CreatePair(mtu, checksumOffload: checksums);
        A.Attach(deviceA);
        B.Attach(deviceB);
    }

    /// <summary>Runs virtual time in 1 ms steps until <paramref name="task"/> completes (bounded).</summary>
    protected T Await<T>(Task<T> task)
    {
        for (int i = 0; i < 100_000 && !task.IsCompleted; i++) Scheduler.Advance(TimeSpan.FromMilliseconds(1));
        return task.IsCompleted ? task.GetAwaiter().GetResult() : throw new TimeoutException("no progress in 100 s of virtual time");
    }

    protected void Await(Task task) => Await(task.ContinueWith(static _ => 0, TaskContinuationOptions.ExecuteSynchronously));

    [GlobalCleanup]
    public void Cleanup()
    {
        A.Dispose();
        B.Dispose();
    }
}

/// <summary>A 64-byte UDP datagram A → B and back, through the friendly API (commands, replies) and the pipe.</summary>
[MemoryDiagnoser]
public class UdpRoundTripBenchmarks : PipeBenchmarkBase
{
    private UdpSocket _client = null!, _server = null!;
    private readonly byte[] _payload = new byte[64];
    private NetEndpoint _serverEndpoint;

    [GlobalSetup]
    public void Setup()
    {
        CreateStacks(1500);
        _server = Await(B.BindUdpAsync(7));
        _client = Await(A.BindUdpAsync(40000));
        _serverEndpoint = new NetEndpoint(B4, 7);
    }

    [Benchmark(Description = "UDP 64 B round trip A → B → A")]
    public int RoundTrip()
    {
        Task<Commands.Datagram> atServer = _server.ReceiveAsync();
        Await(_client.SendAsync(_payload, _serverEndpoint));
        Commands.Datagram request = Await(atServer);
        Task<Commands.Datagram> atClient = _client.ReceiveAsync();
        Await(_server.SendAsync(request.Data, request.Source));
        return Await(atClient).Data.Length;
    }
}

/// <summary>A 1 MiB TCP transfer A → B (256 KiB buffers, 32 KiB writes and reads) over the pipe, MTU 1500 and 65535,
/// with checksums computed (None) and offloaded as on Linux's loopback (Both).</summary>
[MemoryDiagnoser]
public class TcpBulkBenchmarks : PipeBenchmarkBase
{
    private const int Total = 1 << 20, Chunk = 32 * 1024;
    private TcpConnection _client = null!, _server = null!;
    private readonly byte[] _data = new byte[Chunk], _buffer = new byte[Chunk];

    [Params(1500, 65535)]
    public int Mtu { get; set; }

    [Params(ChecksumOffload.None, ChecksumOffload.Both)]
    public ChecksumOffload Checksums { get; set; }

    /// <summary>Receive coalescing in both engines (<see cref="NetstackOptions.CoalesceReceivedSegments"/>).</summary>
    [Params(false, true)]
    public bool Coalesce { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        CreateStacks(Mtu, o => o with { CoalesceReceivedSegments = Coalesce }, checksums: Checksums);
        var settings = new TcpSettings { SendBufferSize = 256 * 1024, ReceiveBufferSize = 256 * 1024 };
        TcpConnectionListener listener = Await(B.ListenTcpAsync(80, settings: settings));
        Task<TcpConnection> accept = listener.AcceptAsync();
        _client = Await(A.ConnectTcpAsync(new NetEndpoint(B4, 80), settings));
        _server = Await(accept);
    }

    [Benchmark(Description = "TCP 1 MiB A → B")]
    public long Transfer()
    {
        Task sending = SendAllAsync();
        long received = 0;
        while (received < Total)
        {
            int n = Await(_server.ReadAsync(_buffer).AsTask());
            if (n == 0) throw new InvalidOperationException("end of stream during the transfer");
            received += n;
        }
        Await(sending);
        return received;
    }

    private async Task SendAllAsync()
    {
        for (int sent = 0; sent < Total; sent += Chunk) await _client.SendAsync(_data).ConfigureAwait(false);
    }

    /// <summary><see cref="Transfer"/> <paramref name="count"/> times outside BenchmarkDotNet (see Program.cs: counting instructions).</summary>
    public static void Repeat(int mtu, ChecksumOffload checksums, int count, bool coalesce = true)
    {
        var bench = new TcpBulkBenchmarks { Mtu = mtu, Checksums = checksums, Coalesce = coalesce };
        bench.Setup();
        for (int i = 0; i < count; i++) bench.Transfer();
        bench.Cleanup();
    }
}
