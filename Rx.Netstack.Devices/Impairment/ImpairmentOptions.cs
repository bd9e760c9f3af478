namespace Rx.Netstack.Devices;

/// <summary>
/// What an <see cref="ImpairedLink"/> does to the frames of one direction. Probabilities are in [0, 1];
/// the default value of every option means "no impairment".
/// </summary>
/// <remarks>
/// A frame's fate is decided in this order: lost? corrupted? duplicated? held back for reordering? Then its
/// delivery time is: when the link is free to send it (after the frames before it), plus its serialisation time
/// at <see cref="BandwidthBytesPerSecond"/>, plus <see cref="Delay"/>, plus a uniform jitter in
/// [0, <see cref="Jitter"/>], plus <see cref="ReorderDelay"/> if held back. Jitter may itself reorder frames,
/// as on a real path.
/// </remarks>
public sealed record ImpairmentOptions
{
    /// <summary>No impairment: frames pass through synchronously, untouched.</summary>
    public static ImpairmentOptions None { get; } = new();

    /// <summary>Probability that a frame is dropped.</summary>
    public double Loss { get; init; }

    /// <summary>
    /// An ECN-capable IP packet that <see cref="Loss"/> would drop is delivered with its ECN field set to CE instead
    /// (RFC 3168 §5), as a router with active queue management marks rather than drops; the IPv4 header checksum is
    /// recomputed. A packet that is not ECN-capable (Not-ECT, or not IP) is still dropped. Default false.
    /// </summary>
    public bool CongestionMarking { get; init; }

    /// <summary>Fixed propagation delay added to every frame.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Largest extra random delay (uniform in [0, Jitter]).</summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Probability that a frame is delivered twice.</summary>
    public double Duplication { get; init; }

    /// <summary>Probability that a frame is held back by <see cref="ReorderDelay"/>, letting later frames pass it.</summary>
    public double Reordering { get; init; }

    /// <summary>The extra delay of a frame held back for reordering. Default 10 ms.</summary>
    public TimeSpan ReorderDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Probability that one random bit of a frame is flipped.</summary>
    public double Corruption { get; init; }

    /// <summary>Link rate in bytes per second (each frame takes length / rate to send); 0 means unlimited.</summary>
    public long BandwidthBytesPerSecond { get; init; }

    /// <summary>True when these options change nothing.</summary>
    public bool IsNone => Loss == 0 && Delay == TimeSpan.Zero && Jitter == TimeSpan.Zero && Duplication == 0
        && Reordering == 0 && Corruption == 0 && BandwidthBytesPerSecond == 0;

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A probability outside [0, 1], or a negative duration or rate.</exception>
    public void Validate()
    {
        CheckProbability(Loss, nameof(Loss));
        CheckProbability(Duplication, nameof(Duplication));
        CheckProbability(Reordering, nameof(Reordering));
        CheckProbability(Corruption, nameof(Corruption));
        ArgumentOutOfRangeException.ThrowIfLessThan(Delay, TimeSpan.Zero, nameof(Delay));
        ArgumentOutOfRangeException.ThrowIfLessThan(Jitter, TimeSpan.Zero, nameof(Jitter));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReorderDelay, TimeSpan.Zero, nameof(ReorderDelay));
        ArgumentOutOfRangeException.ThrowIfNegative(BandwidthBytesPerSecond, nameof(BandwidthBytesPerSecond));
    }

    private static void CheckProbability(double value, string name)
    {
        if (!(value >= 0 && value <= 1)) throw new ArgumentOutOfRangeException(name, value, "A probability is between 0 and 1.");
    }
}
