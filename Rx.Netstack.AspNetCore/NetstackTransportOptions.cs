namespace Rx.Netstack.AspNetCore;

/// <summary>How the Kestrel transport over a <see cref="Netstack"/> behaves.</summary>
public sealed class NetstackTransportOptions
{
    /// <summary>Established connections waiting for Kestrel to accept them (and half-open ones) per listener. Default 512.</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>
    /// Received bytes the application may leave unread before the transport stops reading from the connection (and TCP closes
    /// its window). Default 1 MiB, as Kestrel's socket transport.
    /// </summary>
    public long MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes written and not yet taken by the connection before <c>FlushAsync</c> waits. Default 64 KiB, as Kestrel's socket transport.</summary>
    public long MaxWriteBufferSize { get; set; } = 64 * 1024;

    /// <summary>TCP settings of accepted connections (buffer sizes, congestion control …); null: the stack's defaults.</summary>
    public Tcp.TcpSettings? TcpSettings { get; set; }
}
