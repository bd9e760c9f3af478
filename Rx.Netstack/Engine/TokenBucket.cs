namespace Rx.Netstack.Engine;

/// <summary>A token bucket on engine time, for rate limits (ICMP errors, RFC 4443 §2.4(f)).</summary>
internal sealed class TokenBucket
{
    private readonly double _ratePerTick;
    private readonly double _capacity;
    private double _tokens;
    private Instant _last;

    public TokenBucket(int perSecond, int burst)
    {
        _ratePerTick = perSecond / (double)TimeSpan.TicksPerSecond;
        _capacity = Math.Max(burst, 0);
        _tokens = _capacity;
        _last = new Instant(long.MinValue);
    }

    /// <summary>Takes one token if there is one.</summary>
    public bool TryTake(Instant now)
    {
        if (_last.Ticks == long.MinValue) _last = now;
        if (now > _last)
        {
            _tokens = Math.Min(_capacity, _tokens + (now.Ticks - _last.Ticks) * _ratePerTick);
            _last = now;
        }
        if (_tokens < 1) return false;
        _tokens -= 1;
        return true;
    }
}
