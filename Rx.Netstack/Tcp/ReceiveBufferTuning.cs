namespace Rx.Netstack.Tcp;

/// <summary>
/// Receive buffer auto-tuning's measurement for one connection (<see cref="TcpSettings.MaxReceiveBufferSize"/>): what the
/// reader takes per round trip (Linux's <c>rcvq_space</c>). Made at the first segment of a connection that tunes, so the
/// connections that do not carry only a null reference.
/// </summary>
/// <param name="startAt">When the first measurement begins.</param>
/// <param name="startTaken">What the reader had taken then.</param>
internal sealed class ReceiveBufferTuning(Instant startAt, long startTaken)
{
    /// <summary>When the current measurement began.</summary>
    public Instant StartAt = startAt;

    /// <summary>What the reader had taken then (bytes received in order less those still queued).</summary>
    public long StartTaken = startTaken;

    /// <summary>The most the reader took in one round trip so far (Linux's <c>rcvq_space.space</c>); 0 before the first.</summary>
    public long BestPerRoundTrip;
}
