namespace Rx.Netstack.Tcp;

/// <summary>Why a TCP connection ended, or <see cref="None"/> when it closed gracefully (or is still open).</summary>
public enum TcpError
{
    /// <summary>No error.</summary>
    None,
    /// <summary>The peer reset the connection (RST in a synchronized state).</summary>
    ConnectionReset,
    /// <summary>The peer refused the connection (RST answering our SYN).</summary>
    ConnectionRefused,
    /// <summary>Retransmissions, SYN retries, zero-window probes or keepalive probes went unanswered.</summary>
    TimedOut,
    /// <summary>An ICMP error said the host is unreachable.</summary>
    HostUnreachable,
    /// <summary>An ICMP error said the network is unreachable.</summary>
    NetworkUnreachable,
    /// <summary>The connection was aborted locally (RST sent) or a close discarded data.</summary>
    Aborted,
    /// <summary>The stack's device failed or completed while the connection was open.</summary>
    DeviceLost,
}
