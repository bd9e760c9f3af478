// Placeholder until the TCP state machine lands; deleted at the merge.
namespace Rx.Netstack.Tcp;

/// <summary>Placeholder.</summary>
public sealed record TcpSettings
{
    /// <summary>Placeholder.</summary>
    public int SendBufferSize { get; init; } = 16 * 1024;
    /// <summary>Placeholder.</summary>
    public int ReceiveBufferSize { get; init; } = 16 * 1024;
    /// <summary>Placeholder.</summary>
    public void Validate() { }
}

/// <summary>Placeholder.</summary>
public readonly record struct TcpConnectionInfo(int State);
