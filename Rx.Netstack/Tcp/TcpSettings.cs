using Rx.Netstack.Tcp.Congestion;

namespace Rx.Netstack.Tcp;

/// <summary>Per-connection TCP options. Defaults follow the RFCs and common practice; call <see cref="Validate"/> before use.</summary>
public sealed record TcpSettings
{
    /// <summary>The largest buffer size accepted (the largest window window scaling can express, RFC 7323 §2.3).</summary>
    public const int MaxBufferSize = 1 << 30;

    /// <summary>The default settings.</summary>
    public static TcpSettings Default { get; } = new();

    /// <summary>Bytes the send buffer holds (queued plus unacknowledged); its starting size when <see cref="MaxSendBufferSize"/>
    /// lets it grow. Default 16 KiB.</summary>
    public int SendBufferSize { get; init; } = 16 * 1024;

    /// <summary>
    /// The most bytes the send buffer may grow to with auto-tuning, or 0 (the default) to keep it at
    /// <see cref="SendBufferSize"/>. Above <see cref="SendBufferSize"/>, a connection whose writer waits for room grows its
    /// buffer to twice its congestion window, up to this size, as Linux (<c>tcp_wmem</c>) and gVisor do: a fixed buffer smaller
    /// than what the path holds caps the data in flight, and leaves the sender idle while the writer refills it.
    /// </summary>
    public int MaxSendBufferSize { get; init; }

    /// <summary>The send buffer's size limit: <see cref="MaxSendBufferSize"/> when it auto-tunes, else <see cref="SendBufferSize"/>.</summary>
    internal int SendBufferLimit => Math.Max(SendBufferSize, MaxSendBufferSize);

    /// <summary>Bytes the receive buffer holds (its starting size when <see cref="MaxReceiveBufferSize"/> lets it grow); it is the
    /// largest window we advertise (window scaling makes 1 MiB+ work). Default 16 KiB.</summary>
    public int ReceiveBufferSize { get; init; } = 16 * 1024;

    /// <summary>
    /// The most bytes the receive buffer may grow to with auto-tuning, or 0 (the default) to keep it at
    /// <see cref="ReceiveBufferSize"/>. Above it, the buffer follows what the reader takes per round trip, as Linux's
    /// <c>tcp_rcv_space_adjust</c> (dynamic right-sizing) and gVisor's receive buffer moderation do: twice that plus room for
    /// 16 segments, more while it still grows, so the window keeps ahead of a sender in slow start. The window scale is chosen
    /// for this size (RFC 7323 §2.3), so a larger window can be advertised later.
    /// </summary>
    public int MaxReceiveBufferSize { get; init; }

    /// <summary>The receive buffer's size limit: <see cref="MaxReceiveBufferSize"/> when it auto-tunes, else <see cref="ReceiveBufferSize"/>.</summary>
    internal int ReceiveBufferLimit => Math.Max(ReceiveBufferSize, MaxReceiveBufferSize);

    /// <summary>Disables Nagle's algorithm (RFC 9293 §3.7.4): small segments go out at once. Default false.</summary>
    public bool NoDelay { get; init; }

    /// <summary>Idle time before the first keepalive probe (RFC 1122 §4.2.3.6); null turns keepalive off (the default).</summary>
    public TimeSpan? KeepAliveIdle { get; init; }

    /// <summary>Time between unanswered keepalive probes. Default 75 s.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>Unanswered keepalive probes before the connection times out. Default 9.</summary>
    public int KeepAliveCount { get; init; } = 9;

    /// <summary>The congestion control algorithm. Default CUBIC.</summary>
    public CongestionControlAlgorithm CongestionControl { get; init; } = CongestionControlAlgorithm.Cubic;

    /// <summary>
    /// HyStart++ (RFC 9406) in the first slow start of CUBIC and NewReno: slow start ends when the round trip time rises by
    /// an eighth (4–16 ms) over the previous round's, after five rounds of growing at a quarter of the rate, instead of
    /// only when a segment is lost; and slow start counts every byte a (stretch) ACK acknowledges rather than at most two
    /// segments per ACK. Needs timestamps (<see cref="EnableTimestamps"/>) for its RTT samples. No effect on BBR. Default true;
    /// false gives the slow start of RFC 5681 with RFC 3465's L = 2·SMSS.
    /// </summary>
    public bool EnableHyStart { get; init; } = true;

    /// <summary>RTO before the first RTT sample (RFC 6298 §2.1). Default 1 s.</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Lower bound of the RTO (RFC 6298 §2.4 allows going below 1 s). Default 200 ms.</summary>
    public TimeSpan MinRto { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Upper bound of the RTO and its back-off (RFC 6298 §2.5). Default 60 s.</summary>
    public TimeSpan MaxRto { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// SYN (or SYN-ACK) retransmissions before giving up. With the defaults the SYN goes out at 0 s and again at 1, 3, 7,
    /// 15, 31 and 63 s, and the connection times out at 127 s (InitialRto · (2^(n+1) − 1), as Linux counts it). Default 6.
    /// </summary>
    public int MaxSynRetries { get; init; } = 6;

    /// <summary>Data retransmission timeouts in a row (without progress) before the connection times out. Default 15.</summary>
    public int MaxRetries { get; init; } = 15;

    /// <summary>Longest delay of an ACK (RFC 1122 §4.2.3.2 says under 0.5 s; RFC 5681 §4.2). Default 40 ms.</summary>
    public TimeSpan DelayedAckTimeout { get; init; } = TimeSpan.FromMilliseconds(40);

    /// <summary>How long TIME-WAIT lasts (2·MSL, RFC 9293 §3.4.2). Default 60 s.</summary>
    public TimeSpan TimeWaitDuration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Offer and use selective acknowledgments (RFC 2018, RFC 6675). Default true.</summary>
    public bool EnableSack { get; init; } = true;

    /// <summary>
    /// Tail loss probes (RFC 8985 §7, with SACK only): when the ACKs stop while data is in flight, send one probe after about
    /// two round trips instead of waiting for the retransmission timeout, so a lost tail is repaired by fast recovery.
    /// Default true.
    /// </summary>
    public bool EnableTailLossProbe { get; init; } = true;

    /// <summary>
    /// RACK-TLP loss detection (RFC 8985) when SACK is agreed: a segment is lost when one sent after it arrived and a
    /// reordering window passed, rather than after three duplicate ACKs; needless retransmissions found by D-SACK or timestamps
    /// are undone. Without SACK, or with this off, losses are found by duplicate ACKs (RFC 5681, RFC 6582, RFC 6675). Default true.
    /// </summary>
    public bool EnableRack { get; init; } = true;

    /// <summary>
    /// Proportional Rate Reduction (RFC 9937) in fast recovery: each ACK lets out a share of what it delivered, so the data in
    /// flight falls smoothly to the new slow-start threshold by the end of recovery (and after heavy loss grows back towards it
    /// as in slow start). With this off, recovery sends as RFC 6675 (SACK: nothing until the pipe fell below ssthresh, then
    /// one segment per ACK) and RFC 6582 (without SACK: cwnd inflated per duplicate ACK) describe. BBR sets its own window in
    /// recovery and does without PRR either way (as in Linux). Default true.
    /// </summary>
    public bool EnableProportionalRateReduction { get; init; } = true;

    /// <summary>
    /// Explicit Congestion Notification (RFC 3168): a connection we open asks for it in its SYN, one we accept agrees when the
    /// peer asked. Then new data goes out ECN-capable (ECT(0)), a router's congestion mark (CE) is echoed to the sender, and
    /// the sender slows down once per window as for a loss, without one. Default false (Linux's tcp_ecn=1 is the same, 2
    /// accepts only).
    /// </summary>
    public bool EnableEcn { get; init; }

    /// <summary>Offer and use timestamps (RFC 7323 §3–§5: RTT measurement and PAWS). Default true.</summary>
    public bool EnableTimestamps { get; init; } = true;

    /// <summary>Offer and use window scaling (RFC 7323 §2). Default true.</summary>
    public bool EnableWindowScale { get; init; } = true;

    /// <summary>Checks every value; throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (SendBufferSize is < 1 or > MaxBufferSize)
            throw new ArgumentException($"SendBufferSize must be between 1 and {MaxBufferSize} bytes (was {SendBufferSize}).", nameof(SendBufferSize));
        if (MaxSendBufferSize != 0 && (MaxSendBufferSize < SendBufferSize || MaxSendBufferSize > MaxBufferSize))
            throw new ArgumentException($"MaxSendBufferSize must be 0 (no auto-tuning) or between SendBufferSize ({SendBufferSize}) and {MaxBufferSize} bytes (was {MaxSendBufferSize}).", nameof(MaxSendBufferSize));
        if (ReceiveBufferSize is < 1 or > MaxBufferSize)
            throw new ArgumentException($"ReceiveBufferSize must be between 1 and {MaxBufferSize} bytes (was {ReceiveBufferSize}).", nameof(ReceiveBufferSize));
        if (MaxReceiveBufferSize != 0 && (MaxReceiveBufferSize < ReceiveBufferSize || MaxReceiveBufferSize > MaxBufferSize))
            throw new ArgumentException($"MaxReceiveBufferSize must be 0 (no auto-tuning) or between ReceiveBufferSize ({ReceiveBufferSize}) and {MaxBufferSize} bytes (was {MaxReceiveBufferSize}).", nameof(MaxReceiveBufferSize));
        if (!EnableWindowScale && ReceiveBufferLimit > ushort.MaxValue)
            throw new ArgumentException($"A receive buffer above {ushort.MaxValue} bytes needs EnableWindowScale (RFC 7323 §2).", MaxReceiveBufferSize > ReceiveBufferSize ? nameof(MaxReceiveBufferSize) : nameof(ReceiveBufferSize));
        if (KeepAliveIdle is { } idle && idle <= TimeSpan.Zero)
            throw new ArgumentException($"KeepAliveIdle must be positive or null (was {idle}).", nameof(KeepAliveIdle));
        if (KeepAliveInterval <= TimeSpan.Zero)
            throw new ArgumentException($"KeepAliveInterval must be positive (was {KeepAliveInterval}).", nameof(KeepAliveInterval));
        if (KeepAliveCount < 1)
            throw new ArgumentException($"KeepAliveCount must be at least 1 (was {KeepAliveCount}).", nameof(KeepAliveCount));
        if (!Enum.IsDefined(CongestionControl))
            throw new ArgumentException($"CongestionControl {CongestionControl} is not a known algorithm.", nameof(CongestionControl));
        if (MinRto <= TimeSpan.Zero)
            throw new ArgumentException($"MinRto must be positive (was {MinRto}).", nameof(MinRto));
        if (MaxRto < MinRto)
            throw new ArgumentException($"MaxRto ({MaxRto}) must not be below MinRto ({MinRto}).", nameof(MaxRto));
        if (InitialRto < MinRto || InitialRto > MaxRto)
            throw new ArgumentException($"InitialRto ({InitialRto}) must lie between MinRto ({MinRto}) and MaxRto ({MaxRto}).", nameof(InitialRto));
        if (MaxSynRetries is < 0 or > 20)
            throw new ArgumentException($"MaxSynRetries must be between 0 and 20 (was {MaxSynRetries}).", nameof(MaxSynRetries));
        if (MaxRetries is < 1 or > 100)
            throw new ArgumentException($"MaxRetries must be between 1 and 100 (was {MaxRetries}).", nameof(MaxRetries));
        if (DelayedAckTimeout < TimeSpan.Zero || DelayedAckTimeout >= TimeSpan.FromMilliseconds(500))
            throw new ArgumentException($"DelayedAckTimeout must be at least 0 and under 500 ms (RFC 1122 §4.2.3.2; was {DelayedAckTimeout}).", nameof(DelayedAckTimeout));
        if (TimeWaitDuration < TimeSpan.Zero)
            throw new ArgumentException($"TimeWaitDuration must not be negative (was {TimeWaitDuration}).", nameof(TimeWaitDuration));
    }
}
