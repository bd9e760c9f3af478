using System.Diagnostics;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp.Congestion;

/// <summary>
/// HyStart++ (RFC 9406): the delay signal that ends the first slow start of <see cref="Cubic"/> and <see cref="NewReno"/>
/// before it overshoots. It watches the minimum RTT of each round; when a round's minimum rises by a threshold over the
/// round before, growth slows to a quarter (Conservative Slow Start, CSS) for <see cref="CssRounds"/> rounds, and then slow
/// start ends at the window reached. If the RTT falls back during CSS, it was jitter, and slow start resumes. The owner keeps
/// the window; this type only says which phase the window is in.
/// </summary>
/// <remarks>
/// <para>A round (§4.2) runs from an ACK at or beyond <c>windowEnd</c> — SND.NXT when the round began — to the next such ACK.
/// The owner calls <see cref="OnAck"/> for every ACK of new data while it is in its first slow start (ssthresh not yet set,
/// §4.2: only that one, later slow starts have an ssthresh to stop at), before applying the ACK's growth.</para>
/// <para>RTT samples come from the echoed timestamp of each ACK (RFC 7323 §4.1), so with timestamps every ACK counts
/// towards <see cref="NRttSample"/>; without them (a Windows peer, say) each ACK's sample is the time since the newest
/// segment it delivers was sent (<see cref="ILossRecovery.DeliveryRtt"/>, from RACK's per-segment send times). Only without
/// SACK, where no such times are kept, does the sender time one segment per round: no round gathers eight samples and the
/// delay check never runs (slow start then ends on loss, as without HyStart++).</para>
/// <para>What the owner's slow start grows by per ACK is its own choice (see <see cref="Cubic"/> and
/// <see cref="NewReno"/>); in CSS it divides that growth by <see cref="CssGrowthDivisor"/>.</para>
/// </remarks>
internal sealed class HyStartPlusPlus
{
    /// <summary>MIN_RTT_THRESH: the smallest RTT rise that counts (RFC 9406 §4.3).</summary>
    public static readonly TimeSpan MinRttThreshold = TimeSpan.FromMilliseconds(4);

    /// <summary>MAX_RTT_THRESH: the largest RTT rise ever required (RFC 9406 §4.3).</summary>
    public static readonly TimeSpan MaxRttThreshold = TimeSpan.FromMilliseconds(16);

    /// <summary>MIN_RTT_DIVISOR: the threshold is the last round's minimum RTT over this, clamped (RFC 9406 §4.3).</summary>
    public const int MinRttDivisor = 8;

    /// <summary>N_RTT_SAMPLE: RTT samples a round needs before its minimum is compared (RFC 9406 §4.3).</summary>
    public const int NRttSample = 8;

    /// <summary>CSS_GROWTH_DIVISOR: CSS grows by the slow-start increase over this (RFC 9406 §4.3).</summary>
    public const int CssGrowthDivisor = 4;

    /// <summary>CSS_ROUNDS: rounds of CSS before slow start ends (RFC 9406 §4.3).</summary>
    public const int CssRounds = 5;

    private bool _roundStarted;                 // windowEnd is set: a round is running
    private SeqNumber _windowEnd;               // SND.NXT when this round began; an ACK at or past it ends the round
    private TimeSpan _lastRoundMinRtt = Never;  // lastRoundMinRTT: the previous round's minimum RTT (Never = infinity)
    private TimeSpan _currentRoundMinRtt = Never; // currentRoundMinRTT: this round's minimum so far
    private int _rttSampleCount;                // rttSampleCount: RTT samples taken in this round
    private TimeSpan _cssBaselineMinRtt = Never; // cssBaselineMinRtt: the minimum RTT that started CSS
    private int _cssRoundsDone;                 // rounds ended since CSS began

    // Stands for infinity: no sample yet.
    private static readonly TimeSpan Never = TimeSpan.MaxValue;

    /// <summary>True in Conservative Slow Start: the owner grows by its slow-start increase over <see cref="CssGrowthDivisor"/>.</summary>
    public bool InConservativeSlowStart { get; private set; }

    /// <summary>
    /// An ACK of new data arrived in the first slow start (RFC 9406 §4.2). Returns true when CSS has run its
    /// <see cref="CssRounds"/> rounds: the owner ends slow start by setting ssthresh to cwnd.
    /// </summary>
    /// <param name="ack">The ACK's cumulative acknowledgement (the new SND.UNA).</param>
    /// <param name="sendNext">The highest sequence number sent so far (SND.NXT, before this ACK releases more).</param>
    /// <param name="rttSample">The RTT this ACK measured, if any.</param>
    public bool OnAck(SeqNumber ack, SeqNumber sendNext, TimeSpan? rttSample)
    {
        if (!_roundStarted || ack >= _windowEnd)
        {
            // A new round: the one just ended becomes the reference (§4.2).
            if (_roundStarted && InConservativeSlowStart && ++_cssRoundsDone >= CssRounds)
            {
                Reset();
                return true;
            }
            _roundStarted = true;
            _windowEnd = sendNext;
            _lastRoundMinRtt = _currentRoundMinRtt;
            _currentRoundMinRtt = Never;
            _rttSampleCount = 0;
        }

        if (rttSample is not { } rtt || rtt < TimeSpan.Zero) return false;
        if (rtt < _currentRoundMinRtt) _currentRoundMinRtt = rtt;
        _rttSampleCount++;
        if (_rttSampleCount < NRttSample || _currentRoundMinRtt == Never) return false;

        if (!InConservativeSlowStart)
        {
            if (_lastRoundMinRtt == Never) return false;
            TimeSpan threshold = RttThreshold(_lastRoundMinRtt);
            if (_currentRoundMinRtt >= _lastRoundMinRtt + threshold)
            {
                // The queue is building: slow down, but keep watching in case this was jitter.
                _cssBaselineMinRtt = _currentRoundMinRtt;
                _cssRoundsDone = 0;
                InConservativeSlowStart = true;
            }
        }
        else if (_currentRoundMinRtt < _cssBaselineMinRtt)
        {
            // The RTT fell below where CSS began: the rise was jitter, back to slow start (§4.2).
            _cssBaselineMinRtt = Never;
            InConservativeSlowStart = false;
        }
        return false;
    }

    /// <summary>
    /// What a controller calls for every ACK of new data: while <paramref name="inFirstSlowStart"/>, feeds the ACK to
    /// <paramref name="rounds"/>, made here at the first one; returns true (and drops the rounds) when slow start is to end.
    /// Holding the rounds only while they run keeps a connection that never sent, or that finished its slow start, small.
    /// </summary>
    public static bool Advance(ref HyStartPlusPlus? rounds, bool inFirstSlowStart, SeqNumber ack, SeqNumber sendNext, TimeSpan? rttSample)
    {
        if (!inFirstSlowStart) return false;
        rounds ??= new HyStartPlusPlus();
        if (!rounds.OnAck(ack, sendNext, rttSample)) return false;
        rounds = null;
        return true;
    }

    /// <summary>Forgets all rounds (slow start ended, by loss or by CSS).</summary>
    public void Reset()
    {
        _roundStarted = false;
        _lastRoundMinRtt = Never;
        _currentRoundMinRtt = Never;
        _rttSampleCount = 0;
        _cssBaselineMinRtt = Never;
        _cssRoundsDone = 0;
        InConservativeSlowStart = false;
    }

    /// <summary>RttThresh = clamp(lastRoundMinRTT / MIN_RTT_DIVISOR, MIN_RTT_THRESH, MAX_RTT_THRESH) (RFC 9406 §4.2).</summary>
    public static TimeSpan RttThreshold(TimeSpan lastRoundMinRtt)
    {
        Debug.Assert(lastRoundMinRtt >= TimeSpan.Zero);
        TimeSpan eighth = lastRoundMinRtt / MinRttDivisor;
        return eighth < MinRttThreshold ? MinRttThreshold : eighth > MaxRttThreshold ? MaxRttThreshold : eighth;
    }
}
