using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Detects that the retransmissions of a loss episode (a fast recovery or a timeout) were needless, and then restores the
/// congestion state saved when it began. Two detectors, as Linux runs both: D-SACK (RFC 3708 §3: every retransmission of the
/// episode came back as a duplicate) and timestamps (the Eifel algorithm, RFC 3522 §3.2: the first ACK for the retransmitted
/// data echoes a TSval older than the retransmission's, so the original arrived). The response (RFC 4015) is the caller's.
/// </summary>
internal sealed class RetransmissionUndo
{
    private readonly ICongestionControl _cc; // saves and restores its own state (SaveForUndo / Undo)
    private bool _active;                    // an episode whose reduction may still be undone
    private SeqNumber _marker;               // SND.UNA when the episode began: its first retransmission starts here
    private SeqNumber _end;                  // SND.MAX when the episode began: D-SACKs above it are not about it
    private int _retransmissions;            // segments sent again in the episode and not yet reported duplicate (RFC 3708 §3)
    private bool _sawRetransmission;         // at least one segment was sent again
    private bool _eifelPending;              // the first ACK beyond the marker is still to be checked (RFC 3522 §3.2)
    private uint _retransmitTsVal;           // RetransmitTS: the TSval of the episode's first retransmission
    private bool _hasRetransmitTsVal;        // it carried timestamps

    /// <summary>Undo for the connection whose controller is <paramref name="cc"/>.</summary>
    public RetransmissionUndo(ICongestionControl cc) => _cc = cc;

    /// <summary>True while an episode may still be found needless.</summary>
    public bool Active => _active;

    /// <summary>
    /// A loss episode begins (fast recovery, or a timeout not within one): call before the controller reduces its window,
    /// so its state from before is what an undo restores. A timeout within an episode continues it.
    /// </summary>
    public void Begin(in SenderView snd)
    {
        if (_active) return;
        _active = true;
        _marker = snd.Una;
        _end = snd.Max;
        _retransmissions = 0;
        _sawRetransmission = false;
        _eifelPending = true;
        _hasRetransmitTsVal = false;
        _cc.SaveForUndo();
    }

    /// <summary>The reduction can no longer be undone (an ECN response, RFC 3168 §6.1.2, is never undone).</summary>
    public void Forget() => _active = false;

    /// <summary>A segment within the episode went out again carrying <paramref name="tsVal"/>.</summary>
    public void OnRetransmitted(SeqNumber start, uint? tsVal)
    {
        if (!_active || start < _marker) return;
        _retransmissions++;
        _sawRetransmission = true;
        if (!_hasRetransmitTsVal && tsVal is { } ts)
        {
            _retransmitTsVal = ts;
            _hasRetransmitTsVal = true;
        }
    }

    /// <summary>
    /// A D-SACK block (RFC 2883): if it lies in the episode's data it reports one of its retransmissions (or the original)
    /// as a duplicate. True when it was the last one outstanding: the whole episode was needless and the state is restored.
    /// </summary>
    public bool OnDuplicateSack(SackBlock block, int smss)
    {
        if (!_active || !_sawRetransmission || block.Left < _marker || block.Right > _end) return false;
        int segments = Math.Max(1, (block.Right - block.Left + smss - 1) / smss);
        _retransmissions = Math.Max(0, _retransmissions - segments);
        if (_retransmissions > 0) return false;
        Undo();
        return true;
    }

    /// <summary>
    /// An ACK of new data up to <paramref name="ack"/> echoing <paramref name="tsEcho"/>. The first one past the marker decides
    /// Eifel detection (RFC 3522 §3.2): an echo older than RetransmitTS means the original arrived, the state is restored
    /// (true). An episode that ended without it keeps waiting for D-SACKs until the next one begins.
    /// </summary>
    public bool OnAck(SeqNumber ack, uint? tsEcho)
    {
        if (!_active || !_eifelPending || !_hasRetransmitTsVal || ack <= _marker) return false;
        _eifelPending = false;
        if (tsEcho is not { } echo || !TcpAgreedOptions.TsBefore(echo, _retransmitTsVal)) return false;
        Undo();
        return true;
    }

    private void Undo()
    {
        _active = false;
        _cc.Undo();
    }
}
