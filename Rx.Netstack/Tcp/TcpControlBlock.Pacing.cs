using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

internal sealed partial class TcpControlBlock
{
    // Delivery rate samples for a rate-based controller (BBR) and pacing at the rate it sets. Nothing here runs for a
    // controller that sets no pacing rate and takes no samples (_rate is null then, the rate 0).

    /// <summary>
    /// How far behind the pacing clock may fall and be made up at once, at least: a wake-up that came late sends what it
    /// should have sent meanwhile, up to the larger of this and a quarter of SRTT (<see cref="PacingLag"/>). A loaded machine
    /// wakes late by milliseconds; without the catch-up every late wake-up would lower the rate below the pacing rate, which
    /// the model would then measure as the path's. The virtual clock of tests is exact, so there the segments leave on the
    /// pacing schedule.
    /// </summary>
    private static readonly TimeSpan MinPacingLag = TimeSpan.FromMilliseconds(1);

    /// <summary>The largest burst pacing lets a segmentation-offload super-segment carry: about this long at the rate
    /// (Linux's sk_pacing_shift of 10, ~1 ms), two segments at least.</summary>
    private static readonly TimeSpan PacingQuantumTime = TimeSpan.FromMilliseconds(1);

    /// <summary>The congestion controller (tests, diagnostics).</summary>
    internal ICongestionControl CongestionController => _cc;

    /// <summary>The delivery rate sampler, when the controller takes samples (tests).</summary>
    internal DeliveryRateSampler? RateSampler => _rate;

    /// <summary>The pacing rate in bytes per second; 0 when not paced.</summary>
    internal double PacingRate => _cc.PacingRate;

    /// <summary>
    /// True when pacing holds data back now (the next paced send time has not come): then, if anything waits to be sent, the
    /// pacing timer is set for it. Never true without a pacing rate.
    /// </summary>
    private bool PacingDefers(Instant now)
    {
        if (now >= _pacing.NextSendAt || _cc.PacingRate <= 0) return false;
        if (_snd.Nxt < _snd.SendLimit || _recovery.Repairing) _timers.Pace = _pacing.NextSendAt;
        return true;
    }

    /// <summary>A data segment of <paramref name="length"/> payload bytes went out: the next may go its length at the pacing rate later.</summary>
    private void OnPacedSend(Instant now, int length)
    {
        double rate = _cc.PacingRate;
        if (rate <= 0 || length <= 0) return;
        var earliest = new Instant(now.Ticks - PacingLag().Ticks);
        Instant from = _pacing.NextSendAt > earliest ? _pacing.NextSendAt : earliest;
        _pacing.NextSendAt = from + TimeSpan.FromTicks((long)(length * (double)TimeSpan.TicksPerSecond / rate));
    }

    /// <summary>The most the pacing clock may lag behind the engine's: a quarter of SRTT, 1 ms at least.</summary>
    private TimeSpan PacingLag() =>
        _rtt.SmoothedRtt is { } srtt && srtt.Ticks / 4 > MinPacingLag.Ticks ? TimeSpan.FromTicks(srtt.Ticks / 4) : MinPacingLag;

    /// <summary>The most new data one paced super-segment may carry: ~1 ms at the pacing rate in whole segments, two at least.</summary>
    private int PacedSegmentLimit(int perSegment, int segmentLimit)
    {
        double rate = _cc.PacingRate;
        if (rate <= 0 || segmentLimit <= perSegment) return segmentLimit;
        long quantum = (long)(rate * PacingQuantumTime.Ticks / TimeSpan.TicksPerSecond);
        int segments = (int)Math.Clamp(quantum / perSegment, 2, segmentLimit / perSegment);
        return segments * perSegment;
    }

    /// <summary>The bytes loss recovery counts in the network (the pipe): sent, not delivered, not marked lost.</summary>
    private long BytesInNetwork() => _recovery.BytesInNetwork(SenderView);

    /// <summary>An ACK is about to be processed: start its rate sample; returns the pipe before it (0 without a sampler).</summary>
    private long BeginRateSample()
    {
        if (_rate is null) return 0;
        _rate.BeginAck();
        return BytesInNetwork();
    }

    /// <summary>
    /// The ACK was processed, loss recovery included: hand its rate sample to the controller (Linux's tcp_rate_gen, then
    /// cong_control).
    /// </summary>
    private void EndRateSample(Instant now, long priorInFlight)
    {
        if (_rate is null) return;
        if (_pacing.InLoss && _snd.Una >= _pacing.LossRecoverPoint) _pacing.InLoss = false;
        LossState state = _recovery.InRecovery ? LossState.Recovery : _pacing.InLoss ? LossState.Loss : LossState.Open;
        RateSample rs = _rate.EndAck(now, _rtt.SmoothedRtt is null ? null : MinRttForSamples());
        var signals = new AckSignals(BytesInNetwork(), priorInFlight, _rate.Delivered, state, _rtt.SmoothedRtt, _rate);
        _cc.OnRateSample(now, rs, signals);
    }

    /// <summary>The least interval a rate sample may span: the controller's min RTT when it has one (a shorter one comes
    /// from ACKs bunched up on the way and overstates the rate, draft-cheng §3.3).</summary>
    private TimeSpan? MinRttForSamples() => _cc is Bbr { MinRtt: { } m } ? m : null;

    /// <summary>Data [<paramref name="seq"/>, <paramref name="end"/>) went out with <paramref name="inFlightBefore"/> bytes outstanding.</summary>
    private void OnSentForRate(Instant now, SeqNumber seq, SeqNumber end, int length, long inFlightBefore)
    {
        _rate?.OnSent(seq, end, now, inFlightBefore);
        OnPacedSend(now, length);
    }

    /// <summary>
    /// The sender found nothing to send: if that is for want of data while congestion control had room, the samples until
    /// what is in flight now is delivered are application-limited (draft-cheng §3.4).
    /// </summary>
    private void CheckApplicationLimited()
    {
        if (_rate is null || !IsSynchronized || _recovery.InRecovery || _pacing.InLoss) return;
        if (_snd.DataEnd - _snd.Nxt >= _opt.Smss) return;         // data waits: limited by the windows or pacing, not the application
        if (_recovery.CongestionRoom(SenderView) < _opt.Smss) return; // cwnd-limited
        _rate.MarkAppLimited(BytesInNetwork());
    }

    /// <summary>A retransmission timeout: the loss state lasts until what was sent before it is acknowledged.</summary>
    private void OnTimeoutForRate()
    {
        if (_rate is null) return;
        _pacing.InLoss = true;
        _pacing.LossRecoverPoint = _snd.Max;
    }
}
