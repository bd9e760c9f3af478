using System.Diagnostics;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Proportional Rate Reduction (RFC 9937, which obsoletes RFC 6937): how much loss recovery may send on each ACK so that the
/// data in flight falls smoothly from where it was to ssthresh by the end of recovery, instead of RFC 6675's half window of
/// silence followed by one segment per ACK, or a burst when many segments leave the network at once.
/// </summary>
/// <remarks>
/// While the pipe is above ssthresh, sends are held to ssthresh/RecoverFS of what was delivered (the proportional part).
/// Once it fell below (heavy loss), PRR lets it grow back: by what was delivered (the conservative reduction bound, CRB,
/// packet conservation), plus one SMSS per ACK when the ACK is safe — it advanced SND.UNA and showed no new loss — which
/// is slow start's growth (the slow-start reduction bound, SSRB; RFC 9937 §6.2). The result is a window, pipe + SndCnt,
/// that the sender holds against the pipe until the next ACK; the ACK that ends recovery brings cwnd to ssthresh (the
/// controller's <c>OnExitRecovery</c>).
/// </remarks>
internal sealed class ProportionalRateReduction
{
    private long _recoverFs;        // RecoverFS: what may be delivered during this recovery, fixed at its start (RFC 9937 §6.1)
    private long _delivered;        // prr_delivered: bytes delivered (cumulatively acknowledged or SACKed) since recovery began
    private long _out;              // prr_out: bytes sent (new or again) since recovery began
    private long _window;           // pipe + SndCnt at the last ACK: the window the sender holds against the pipe

    /// <summary>The window for the sender now: the pipe at the last ACK plus what that ACK allowed (cwnd in RFC 9937).</summary>
    public long Window => _window;

    /// <summary>
    /// Recovery begins (RFC 9937 §6.1). <paramref name="recoverFs"/> is what may be delivered during it: the bytes between
    /// SND.UNA and SND.NXT less those SACKed before the ACK that started it. <paramref name="pipe"/> is in flight now; until
    /// the first ACK step nothing may go beyond it.
    /// </summary>
    public void Begin(long recoverFs, long pipe)
    {
        _recoverFs = Math.Max(recoverFs, 1);
        _delivered = 0;
        _out = 0;
        _window = pipe;
    }

    /// <summary>
    /// One ACK in recovery, after loss detection ran on it (RFC 9937 §6.2): <paramref name="delivered"/> bytes left the network
    /// (DeliveredData: the advance of SND.UNA plus the change in SACKed bytes), <paramref name="pipe"/> are in flight now.
    /// <paramref name="safe"/>: the ACK advanced SND.UNA and no new loss was found, so PRR-SSRB may grow the window by one
    /// SMSS; otherwise PRR-CRB holds to packet conservation. An ACK that delivered nothing changes nothing, except the one
    /// that begins recovery, which always lets the fast retransmit go.
    /// </summary>
    public void OnAck(long delivered, long pipe, long ssthresh, bool safe, int smss)
    {
        if (delivered <= 0 && _out > 0) return;
        _delivered += Math.Max(delivered, 0);
        long sendCount;
        if (pipe > ssthresh)
        {
            // The proportional part: CEIL(prr_delivered · ssthresh / RecoverFS) − prr_out, the target rounded up to whole
            // segments as Linux counts it in packets: recovery sends only full segments, and a target in bytes would lag
            // behind by up to one segment on every ACK.
            long target = (_delivered * ssthresh + _recoverFs - 1) / _recoverFs;
            sendCount = (target + smss - 1) / smss * smss - _out;
        }
        else
        {
            // Below ssthresh: packet conservation (CRB), one SMSS more on a safe ACK (SSRB), never past ssthresh.
            sendCount = Math.Max(_delivered - _out, delivered);
            if (safe) sendCount += smss;
            sendCount = Math.Min(ssthresh - pipe, sendCount);
        }
        sendCount = Math.Max(sendCount, 0);
        if (_out == 0 && sendCount == 0) sendCount = smss; // the fast retransmit goes whatever the proportion says
        _window = pipe + sendCount;
        Debug.Assert(_window >= pipe, "PRR never asks the pipe to shrink by itself");
    }

    /// <summary>Data was sent in recovery (new or again): prr_out grows (RFC 9937 §6.3).</summary>
    public void OnSent(long bytes) => _out += bytes;
}
