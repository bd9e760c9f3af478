using System.Buffers;
using System.Reactive.Concurrency;

namespace Rx.Netstack.Sockets;

/// <summary>
/// A stub DNS resolver (RFC 1035) that asks its servers over the stack's own UDP: an A query, and an AAAA query when asked for
/// IPv6 too. Each attempt asks the servers in order, each given <see cref="Timeout"/> to answer, like a resolv.conf with several
/// <c>nameserver</c> lines. Answers are not cached. IP literals are returned as they are, without a query. A stack with
/// <see cref="NetstackOptions.DnsServers"/> has one already: <see cref="Netstack.NameResolver"/>.
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
        : this(stack, [server], timeout, attempts, includeIpv6)
    {
    }

    /// <summary>Creates a resolver asking <paramref name="servers"/> in order (port 53 usually).</summary>
    /// <param name="stack">The stack whose UDP carries the queries.</param>
    /// <param name="servers">The DNS servers, the preferred first; at least one.</param>
    /// <param name="timeout">How long one server is given to answer (on the stack's scheduler). Default 2 s.</param>
    /// <param name="attempts">Rounds over all servers per query type. Default 3.</param>
    /// <param name="includeIpv6">Also ask for AAAA records (listed after the A records). Default true.</param>
    public DnsNameResolver(Netstack stack, IEnumerable<NetEndpoint> servers, TimeSpan? timeout = null, int attempts = 3, bool includeIpv6 = true)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(servers);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempts, 1);
        _stack = stack;
        Servers = [.. servers];
        if (Servers.Count == 0) throw new ArgumentException("A DNS resolver needs at least one server.", nameof(servers));
        Timeout = timeout ?? TimeSpan.FromSeconds(2);
        Attempts = attempts;
        IncludeIpv6 = includeIpv6;
        _nextId = Random.Shared.Next(ushort.MaxValue);
    }

    /// <summary>The servers asked, in order.</summary>
    public IReadOnlyList<NetEndpoint> Servers { get; }

    /// <summary>How long one server is given to answer one query.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Rounds over all servers per query type.</summary>
    public int Attempts { get; }

    /// <summary>True when AAAA records are asked for too.</summary>
    public bool IncludeIpv6 { get; }

    /// <inheritdoc />
    /// <exception cref="TimeoutException">No server answered within <see cref="Attempts"/> rounds.</exception>
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
        byte[] query = ArrayPool<byte>.Shared.Rent(512);
        try
        {
            for (int attempt = 0; attempt < Attempts; attempt++)
            {
                foreach (NetEndpoint server in Servers)
                {
                    if (await TryQueryAsync(server, host, type, query, addresses, cancellationToken).ConfigureAwait(false)) return;
                }
            }
            throw new TimeoutException($"No DNS server ({string.Join(", ", Servers)}) answered the {(type == DnsMessage.TypeA ? "A" : "AAAA")} query for '{host}'.");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(query);
        }
    }

    /// <summary>One query to one server: true when it answered, false when it did not within <see cref="Timeout"/>.</summary>
    private async Task<bool> TryQueryAsync(NetEndpoint server, string host, ushort type, byte[] query, List<NetAddress> addresses,
        CancellationToken cancellationToken)
    {
        await using UdpSocket socket = await _stack.BindUdpAsync(ipv6: server.Address.IsV6, cancellationToken: cancellationToken).ConfigureAwait(false);
        ushort id = (ushort)Interlocked.Increment(ref _nextId);
        int length = DnsMessage.WriteQuery(query, id, host, type);
        await socket.SendAsync(query.AsMemory(0, length), server, cancellationToken).ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using IDisposable timer = _stack.Scheduler.Schedule(Timeout, deadline.Cancel); // the stack's clock, not the wall clock
        try
        {
            while (true)
            {
                var datagram = await socket.ReceiveAsync(cancellationToken: deadline.Token).ConfigureAwait(false);
                if (datagram.Source != server) continue; // RFC 5452 §4: only the server we asked may answer
                if (DnsMessage.TryReadAnswer(datagram.Data.Span, id, type, addresses, out _)) return true;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // this server did not answer in time
        }
        catch (Commands.NetstackException e) when (e.Error.Remote == server)
        {
            return false; // ICMP said the server is not there (port or host unreachable): ask the next one now, as glibc does
        }
    }
}
