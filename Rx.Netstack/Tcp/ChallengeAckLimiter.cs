namespace Rx.Netstack.Tcp;

/// <summary>
/// A token bucket limiting challenge ACKs stack-wide (RFC 5961 §7): at most <c>perSecond</c> per second, refilled from the
/// engine's <see cref="Instant"/> (never a clock).
/// </summary>
internal sealed class ChallengeAckLimiter
{
    private readonly int _perSecond;
    private long _tokens;
    private Instant _lastRefill;
    private bool _started;

    /// <summary>Creates a limiter that allows <paramref name="perSecond"/> challenge ACKs a second (a full bucket to start).</summary>
    public ChallengeAckLimiter(int perSecond = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perSecond, 1);
        _perSecond = perSecond;
        _tokens = perSecond;
    }

    /// <summary>Takes one token if any is left at <paramref name="now"/>.</summary>
    public bool TryTake(Instant now)
    {
        Refill(now);
        if (_tokens <= 0) return false;
        _tokens--;
        return true;
    }

    private void Refill(Instant now)
    {
        if (!_started)
        {
            _started = true;
            _lastRefill = now;
            return;
        }
        long elapsed = (now - _lastRefill).Ticks;
        if (elapsed <= 0) return;
        if (elapsed >= TimeSpan.TicksPerSecond)
        {
            _tokens = _perSecond;
            _lastRefill = now;
            return;
        }
        long add = elapsed * _perSecond / TimeSpan.TicksPerSecond;
        if (add <= 0) return;
        _tokens = Math.Min(_perSecond, _tokens + add);
        // Advance only by the time the whole tokens stand for, so fractions are not lost.
        _lastRefill = new Instant(_lastRefill.Ticks + add * TimeSpan.TicksPerSecond / _perSecond);
    }
}
