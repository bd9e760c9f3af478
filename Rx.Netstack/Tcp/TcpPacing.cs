using System.Runtime.InteropServices;

namespace Rx.Netstack.Tcp;

/// <summary>
/// Pacing and the loss state a rate-based controller reads (<c>TcpControlBlock.Pacing.cs</c>): when the next paced segment may
/// leave, and whether the go-back-N after a timeout is still under way. A part of <see cref="TcpControlBlock"/>, changed only
/// by it; unused while the congestion controller sets no pacing rate and takes no rate samples.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct TcpPacing
{
    /// <summary>The earliest time the next data segment may go (Linux's tcp_wstamp_ns): each segment sent pushes it on by its
    /// length over the pacing rate.</summary>
    public Instant NextSendAt;

    /// <summary>A retransmission timeout's go-back-N is under way (Linux's TCP_CA_Loss) until SND.UNA reaches
    /// <see cref="LossRecoverPoint"/>.</summary>
    public bool InLoss;

    /// <summary>SND.MAX when the last retransmission timeout fired.</summary>
    public Wire.SeqNumber LossRecoverPoint;
}
