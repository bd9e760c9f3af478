namespace Rx.Netstack;

/// <summary>
/// A link that carries whole IP packets (no link-layer header): a TUN device, a tunnel, an in-memory pipe.
/// </summary>
/// <remarks>
/// <para><b>Frame ownership.</b> A frame passed to <c>OnNext</c>, in either direction, is <em>borrowed</em>:
/// it is valid only until <c>OnNext</c> returns. Whoever needs it longer copies it. This lets the stack
/// emit from pooled buffers and read into pooled buffers with no allocation per packet.</para>
/// <para><see cref="Received"/> may call <c>OnNext</c> from any thread; the stack copies each frame into its
/// inbox and processes it on its own scheduler. <see cref="Transmit"/> is called on the stack's scheduler.</para>
/// </remarks>
public interface IPacketDevice
{
    /// <summary>Frames arriving from the link. <c>OnError</c> or <c>OnCompleted</c> means the link is gone.</summary>
    IObservable<ReadOnlyMemory<byte>> Received { get; }

    /// <summary>Frames the stack sends onto the link.</summary>
    IObserver<ReadOnlyMemory<byte>> Transmit { get; }

    /// <summary>The largest IP packet the link carries, in bytes.</summary>
    int Mtu { get; }

    /// <summary>Checksum work the link takes off the stack (read once, when the stack attaches the device); none by default.</summary>
    ChecksumOffload ChecksumOffload => ChecksumOffload.None;

    /// <summary>
    /// True when the link cuts an outgoing TCP packet longer than <see cref="Mtu"/> into MTU-sized segments itself (TCP
    /// segmentation offload, as a network card or a Linux TUN descriptor with virtio-net headers does); false by default.
    /// </summary>
    /// <remarks>
    /// Read once, when the stack attaches the device, and used only together with <see cref="ChecksumOffload.Transmit"/> (the
    /// link finishes each segment's checksum). The stack then may send one TCP "super-segment" of up to 64 KiB carrying several
    /// segments' worth of new data. The device cuts it after every <c>Mtu − IP header − TCP header (with options)</c> payload
    /// bytes, copies the header and its options into each piece, advances the sequence number and keeps FIN and PSH for the
    /// last piece only. The stack sends such packets only on connections whose MSS is exactly the one that MTU gives.
    /// </remarks>
    bool TcpSegmentationOffload => false;

    /// <summary>
    /// What the frames carry (read once, when the stack attaches the device): whole IP packets (the default) or Ethernet II
    /// frames. On <see cref="LinkMedium.Ethernet"/> the stack adds and strips the Ethernet header, answers ARP and neighbour
    /// discovery and resolves each next hop; <see cref="Mtu"/> is still the largest IP packet (the frame is 14 bytes longer,
    /// 18 with a VLAN tag), as a Linux interface's MTU is.
    /// </summary>
    LinkMedium Medium => LinkMedium.Ip;
}
