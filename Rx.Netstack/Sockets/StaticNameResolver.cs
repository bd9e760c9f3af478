namespace Rx.Netstack.Sockets;

/// <summary>
/// A fixed table of names (case-insensitive, like DNS), like an <c>/etc/hosts</c> file; names it does not hold go to an
/// optional fallback resolver.
/// </summary>
public sealed class StaticNameResolver : INameResolver
{
    private readonly Dictionary<string, NetAddress[]> _table = new(StringComparer.OrdinalIgnoreCase);
    private readonly INameResolver? _fallback;

    /// <summary>Creates a resolver from name → addresses entries.</summary>
    public StaticNameResolver(IEnumerable<KeyValuePair<string, NetAddress[]>> entries, INameResolver? fallback = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var (name, addresses) in entries) _table[name.TrimEnd('.')] = addresses;
        _fallback = fallback;
    }

    /// <summary>Creates a resolver with one address per name: <c>new StaticNameResolver(("server", addr))</c>.</summary>
    public StaticNameResolver(params (string Name, NetAddress Address)[] entries)
        : this(entries.GroupBy(e => e.Name, StringComparer.OrdinalIgnoreCase)
            .Select(g => KeyValuePair.Create(g.Key, g.Select(e => e.Address).ToArray())))
    {
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<NetAddress>> ResolveAsync(string host, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (_table.TryGetValue(host.TrimEnd('.'), out NetAddress[]? addresses)) return new(addresses);
        return _fallback?.ResolveAsync(host, cancellationToken) ?? new(Array.Empty<NetAddress>());
    }
}
