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
}
