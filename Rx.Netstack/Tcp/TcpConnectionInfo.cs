namespace Rx.Netstack.Tcp;

/// <summary>A snapshot of one connection's state for dashboards and diagnostics.</summary>
/// <param name="State">The connection state.</param>
/// <param name="SmoothedRtt">SRTT (RFC 6298), or null before the first RTT sample.</param>
/// <param name="RttVariance">RTTVAR (RFC 6298).</param>
/// <param name="Rto">The current retransmission timeout, back-off included.</param>
/// <param name="CongestionWindow">cwnd in bytes.</param>
/// <param name="SlowStartThreshold">ssthresh in bytes (int.MaxValue until the first loss).</param>
/// <param name="BytesInFlight">Bytes sent and not yet acknowledged.</param>
/// <param name="SendWindow">The peer's advertised window in bytes (scaled).</param>
/// <param name="ReceiveWindow">The window we advertise in bytes.</param>
/// <param name="MaxSegmentSize">The largest payload we send in one segment (options excluded).</param>
/// <param name="BytesSent">Payload bytes sent for the first time.</param>
/// <param name="BytesReceived">Payload bytes received in order.</param>
/// <param name="SegmentsRetransmitted">Segments sent again.</param>
/// <param name="Error">Why the connection ended (None while open or after a graceful close).</param>
/// <param name="InRecovery">True during fast recovery (RFC 6582 / RFC 6675).</param>
/// <param name="SackEnabled">True when both sides agreed on SACK.</param>
/// <param name="TimestampsEnabled">True when both sides agreed on timestamps.</param>
/// <param name="SendWindowScale">The shift applied to the peer's window field (0 without window scaling).</param>
/// <param name="ReceiveWindowScale">The shift applied to our window field (0 without window scaling).</param>
/// <param name="SendQueued">Bytes in the send buffer (unsent plus unacknowledged).</param>
/// <param name="ReceiveQueued">Bytes received in order and not yet read.</param>
/// <param name="SendBufferSize">The send buffer's size now: <see cref="TcpSettings.SendBufferSize"/>, or more once auto-tuning
/// (<see cref="TcpSettings.MaxSendBufferSize"/>) grew it.</param>
/// <param name="ReceiveBufferSize">The receive buffer's size now: <see cref="TcpSettings.ReceiveBufferSize"/>, or more once
/// auto-tuning (<see cref="TcpSettings.MaxReceiveBufferSize"/>) grew it.</param>
public readonly record struct TcpConnectionInfo(
    TcpState State,
    TimeSpan? SmoothedRtt,
    TimeSpan RttVariance,
    TimeSpan Rto,
    int CongestionWindow,
    int SlowStartThreshold,
    int BytesInFlight,
    int SendWindow,
    int ReceiveWindow,
    int MaxSegmentSize,
    long BytesSent,
    long BytesReceived,
    long SegmentsRetransmitted,
    TcpError Error = TcpError.None,
    bool InRecovery = false,
    bool SackEnabled = false,
    bool TimestampsEnabled = false,
    int SendWindowScale = 0,
    int ReceiveWindowScale = 0,
    int SendQueued = 0,
    int ReceiveQueued = 0,
    int SendBufferSize = 0,
    int ReceiveBufferSize = 0);
