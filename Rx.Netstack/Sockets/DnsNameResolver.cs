using System.Buffers;
using System.Reactive.Concurrency;

namespace Rx.Netstack.Sockets;

/// <summary>
/// A stub DNS resolver (RFC 1035) that asks one server over the stack's own UDP: an A query, and an AAAA query when asked for
/// IPv6 too, each retried on timeout. Answers are not cached. IP literals are returned as they are, without a query.
/// </summary>
public sealed class DnsNameResolver : INameResolver
{
    private readonly Netstack _stack;
    private int _nextId;

    /// <summary>Creates a resolver asking <paramref name="server"/> (port 53 usually).</summary>
    /// <param name="stack">The stack whose UDP carries the queries.</param>
    /// <param name="server">The DNS server.</param>
    /// <param name="timeout">How long one attempt waits for its answer (on the stack's scheduler). Default 2 s.</param>
    /// <param name="attempts">Attempts per query type. Default 3.</param>
    /// <param name="includeIpv6">Also ask for AAAA records (listed after the A records). Default true.</param>
    public DnsNameResolver(Netstack stack, NetEndpoint server, TimeSpan? timeout = null, int attempts = 3, bool includeIpv6 = true)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempts, 1);
        _stack = stack;
        Server = server;
        Timeout = timeout ?? TimeSpan.FromSeconds(2);
        Attempts = attempts;
        IncludeIpv6 = includeIpv6;
        _nextId = Random.Shared.Next(ushort.MaxValue);
    }

    /// <summary>The server asked.</summary>
    public NetEndpoint Server { get; }

    /// <summary>How long one attempt waits.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Attempts per query type.</summary>
    public int Attempts { get; }

    /// <summary>True when AAAA records are asked for too.</summary>
    public bool IncludeIpv6 { get; }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<NetAddress>> ResolveAsync(string host, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var literal)) return [NetAddress.FromIPAddress(literal)];
        var addresses = new List<NetAddress>();
        await QueryAsync(host, DnsMessage.TypeA, addresses, cancellationToken).ConfigureAwait(false);
        if (IncludeIpv6) await QueryAsync(host, DnsMessage.TypeAaaa, addresses, cancellationToken).ConfigureAwait(false);
        return addresses;
    }

    private async Task QueryAsync(string host, ushort type, List<NetAddress> addresses, CancellationToken cancellationToken)
    {
        await using UdpSocket socket = await _stack.BindUdpAsync(ipv6: Server.Address.IsV6, cancellationToken: cancellationToken).ConfigureAwait(false);
        byte[] query = ArrayPool<byte>.Shared.Rent(512);
        try
        {
            for (int attempt = 0; attempt < Attempts; attempt++)
            {
                ushort id = (ushort)Interlocked.Increment(ref _nextId);
                int length = DnsMessage.WriteQuery(query, id, host, type);
                await socket.SendAsync(query.AsMemory(0, length), Server, cancellationToken).ConfigureAwait(false);
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using IDisposable timer = _stack.Scheduler.Schedule(Timeout, deadline.Cancel); // the stack's clock, not the wall clock
                try
                {
                    while (true)
                    {
                        var datagram = await socket.ReceiveAsync(cancellationToken: deadline.Token).ConfigureAwait(false);
                        if (datagram.Source != Server) continue; // RFC 5452 §4: only the server we asked may answer
                        if (DnsMessage.TryReadAnswer(datagram.Data.Span, id, type, addresses, out _)) return;
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // This attempt timed out: try again.
                }
            }
            throw new TimeoutException($"The DNS server {Server} did not answer the {(type == DnsMessage.TypeA ? "A" : "AAAA")} query for '{host}'.");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(query);
        }
    }
}
