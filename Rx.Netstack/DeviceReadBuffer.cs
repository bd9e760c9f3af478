using Rx.Netstack.Engine;

namespace Rx.Netstack;

/// <summary>
/// A device's read buffer whose large frames a stack keeps instead of copying: read a frame into <see cref="Span"/>, then
/// <see cref="Deliver"/> it to the device's subscribers. A <see cref="Netstack"/> subscribed to the device takes the whole
/// buffer for a frame of 8 KiB or more (a TUN super-packet) — it becomes the stack's inbox entry, and TCP payload may stay in
/// it until the application reads it, copied once, on the application's thread — and this buffer continues in a fresh one
/// from a shared pool. Smaller frames are copied by the stack, as any device's frames are.
/// </summary>
/// <remarks>
/// One thread at a time (a device's read loop). Subscribers other than a stack see the frame as any borrowed frame: valid
/// during <c>OnNext</c>, as <see cref="IPacketDevice.Received"/> promises.
/// </remarks>
public sealed class DeviceReadBuffer
{
    /// <summary>The pooled buffer being read into (replaced when a stack takes it).</summary>
    private TransmitBuffer _buffer = TransmitBuffer.Rent();

    /// <summary>Bytes a frame may take: 65,535 and room for a link-layer or virtio-net header before it.</summary>
    public static int Size => TransmitBuffer.Size;

    /// <summary>Where to read the next frame (<see cref="Size"/> bytes). Read nothing new into it during <see cref="Deliver"/>.</summary>
    public Span<byte> Span => _buffer.Array;

    /// <summary>
    /// Hands the <paramref name="length"/> bytes at <paramref name="start"/> of <see cref="Span"/> to <paramref name="observer"/>
    /// (a device's <c>Received</c> subject). True when a stack took the buffer: <see cref="Span"/> is a fresh buffer now.
    /// </summary>
    /// <param name="observer">Who gets the frame.</param>
    /// <param name="start">Where the frame starts in <see cref="Span"/>.</param>
    /// <param name="length">Its length.</param>
    public bool Deliver(IObserver<ReadOnlyMemory<byte>> observer, int start, int length)
    {
        ArgumentNullException.ThrowIfNull(observer);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Size - start);
        TransmitBuffer buffer = _buffer;
        buffer.BeginSend();
        try
        {
            observer.OnNext(buffer.Frame(start, length));
        }
        finally
        {
            if (buffer.EndSend()) _buffer = TransmitBuffer.Rent();
        }
        return !ReferenceEquals(buffer, _buffer);
    }
}
