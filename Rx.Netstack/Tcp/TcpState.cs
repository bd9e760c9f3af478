namespace Rx.Netstack.Tcp;

/// <summary>The states of a TCP connection (RFC 9293 §3.3.2).</summary>
public enum TcpState
{
    /// <summary>No connection: never opened, or finished (see the connection's error for why).</summary>
    Closed,
    /// <summary>Waiting for a connection request (listeners; a connection block itself never sits here).</summary>
    Listen,
    /// <summary>SYN sent, waiting for the peer's SYN.</summary>
    SynSent,
    /// <summary>SYN received and SYN-ACK sent, waiting for the ACK of our SYN.</summary>
    SynReceived,
    /// <summary>Open: data flows both ways.</summary>
    Established,
    /// <summary>We closed (FIN sent); waiting for its ACK or the peer's FIN.</summary>
    FinWait1,
    /// <summary>Our FIN is acknowledged; waiting for the peer's FIN.</summary>
    FinWait2,
    /// <summary>The peer closed; we may still send until we close.</summary>
    CloseWait,
    /// <summary>Both sides closed at once; waiting for the ACK of our FIN.</summary>
    Closing,
    /// <summary>The peer closed first and we closed after; waiting for the ACK of our FIN.</summary>
    LastAck,
    /// <summary>Both FINs exchanged and acknowledged; waiting 2·MSL so old segments die out.</summary>
    TimeWait,
}
