using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// A client's SYN to an intercepted destination that waits for the application's decision. No connection exists yet and
/// no SYN-ACK has been sent (gVisor's forwarder does the same): the client retransmits its SYN meanwhile, and a retransmission
/// finds this offer instead of making another.
/// </summary>
internal sealed class TcpOffer(long id, TcpInterceptorSocketState interceptor, NetEndpoint local, NetEndpoint remote, in TcpHeader syn, Instant deadline)
{
    /// <summary>The id the application names it by (unique in the stack).</summary>
    public long Id { get; } = id;

    /// <summary>The interceptor that holds it.</summary>
    public TcpInterceptorSocketState Interceptor { get; } = interceptor;

    /// <summary>The original destination: the connection's local endpoint once accepted.</summary>
    public NetEndpoint Local { get; } = local;

    /// <summary>The client.</summary>
    public NetEndpoint Remote { get; } = remote;

    /// <summary>The client's latest SYN (a retransmission with another sequence number replaces it): what the connection
    /// answers when accepted, and what a refusal quotes.</summary>
    public TcpHeader Syn { get; set; } = syn;

    /// <summary>When it is refused with a reset if still undecided.</summary>
    public Instant Deadline { get; } = deadline;

    /// <summary>True once handed to the application by a <c>Next</c>.</summary>
    public bool Taken { get; set; }

    /// <summary>True once accepted, refused, withdrawn (the client reset) or expired: it has left every table.</summary>
    public bool Decided { get; set; }
}
