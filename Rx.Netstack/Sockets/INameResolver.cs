namespace Rx.Netstack.Sockets;

/// <summary>Turns a host name into addresses for <see cref="NetstackHttp"/> and <see cref="NetstackDial"/>.</summary>
public interface INameResolver
{
    /// <summary>The addresses of <paramref name="host"/>, preferred first; empty when the name does not exist.</summary>
    ValueTask<IReadOnlyList<NetAddress>> ResolveAsync(string host, CancellationToken cancellationToken = default);
}
