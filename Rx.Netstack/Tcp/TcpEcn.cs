using System.Runtime.InteropServices;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tcp;

/// <summary>
/// A connection's Explicit Congestion Notification state (RFC 3168 §6.1): whether the handshake agreed ECN, the receiver's
/// echo of a congestion mark until the sender confirms it, and the sender's once-per-window response. A part of
/// <see cref="TcpControlBlock"/>, which alone changes it.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct TcpEcn
{
    /// <summary>The IP ECN field's codepoints (RFC 3168 §5).</summary>
    public const byte NotEct = 0, Ect1 = 1, Ect0 = 2, CongestionExperienced = 3;

    /// <summary>Both ends agreed ECN: our SYN carried ECE and CWR and the SYN-ACK ECE alone, or the other way round
    /// (RFC 3168 §6.1.1). Only then is data sent ECN-capable and are ECE and CWR meaningful.</summary>
    public bool Agreed;

    /// <summary>Receiver: a segment arrived marked CE; every segment we send carries ECE until one with CWR arrives
    /// (RFC 3168 §6.1.3).</summary>
    public bool EchoCongestion;

    /// <summary>Sender: the window was reduced for an ECE; the next new data segment carries CWR (RFC 3168 §6.1.2).</summary>
    public bool CwrPending;

    /// <summary>Sender: a response to ECE happened and <see cref="RespondedUntil"/> is meaningful.</summary>
    public bool Responded;

    /// <summary>Sender: SND.MAX at the last response; ECE is not answered again until SND.UNA passes it, once per window of
    /// data (RFC 3168 §6.1.2).</summary>
    public SeqNumber RespondedUntil;

    /// <summary>The segment last handed out is new data to be sent ECN-capable, ECT(0) (RFC 3168 §6.1.1; never a SYN, a pure
    /// ACK, a retransmission or a probe, §6.1.4–§6.1.5).</summary>
    public bool LastSegmentCapable;
}
