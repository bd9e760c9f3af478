using System.Diagnostics;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Limits challenge ACKs stack-wide (RFC 5961 §7) with a budget per one-second window, timed by the engine's
/// <see cref="Instant"/> (never a clock).
/// </summary>
/// <remarks>
/// A fixed, shared budget is a side channel (CVE-2016-5696, "Off-Path TCP Exploits: Global Rate Limit Considered
/// Dangerous"): an off-path attacker who exhausts it with probes on its own connection and counts the challenge ACKs left
/// over learns whether its guesses at someone else's connection hit the window. With a <c>jitter</c> source each window's
/// budget is drawn afresh from [perSecond / 2, perSecond × 3 / 2), so the count left over says nothing dependable; the mean
/// stays <c>perSecond</c>. Without one (transcript tests) every window's budget is exactly <c>perSecond</c>.
/// </remarks>
internal sealed class ChallengeAckLimiter
{
    /// <summary>The configured mean budget per window.</summary>
    private readonly int _perSecond;

    /// <summary>Draws each window's budget, or null for exactly <see cref="_perSecond"/>.</summary>
    private readonly Random? _jitter;

    /// <summary>Challenge ACKs still allowed in the current window.</summary>
    private int _left;

    /// <summary>When the current window began (its first challenge ACK); valid once <see cref="_started"/>.</summary>
    private Instant _windowStart;

    /// <summary>Whether any window has begun.</summary>
    private bool _started;

    /// <summary>Creates a limiter allowing <paramref name="perSecond"/> challenge ACKs a second on average.</summary>
    /// <param name="perSecond">The mean budget per one-second window.</param>
    /// <param name="jitter">Draws each window's budget (the CVE-2016-5696 defence), or null for a fixed budget.</param>
    public ChallengeAckLimiter(int perSecond = 1000, Random? jitter = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perSecond, 1);
        _perSecond = perSecond;
        _jitter = jitter;
    }

    /// <summary>The budget of the current window (for tests and diagnostics); 0 before the first window.</summary>
    public int WindowBudget { get; private set; }

    /// <summary>Takes one challenge ACK from the budget of the window <paramref name="now"/> falls in, if any is left.</summary>
    public bool TryTake(Instant now)
    {
        if (!_started || (now - _windowStart).Ticks >= TimeSpan.TicksPerSecond)
        {
            _started = true;
            _windowStart = now;
            WindowBudget = _jitter is null ? _perSecond : Math.Max(1, _perSecond / 2 + _jitter.Next(_perSecond));
            _left = WindowBudget;
        }
        Debug.Assert(_left >= 0 && _left <= WindowBudget);
        if (_left == 0) return false;
        _left--;
        return true;
    }
}
