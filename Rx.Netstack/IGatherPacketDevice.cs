namespace Rx.Netstack;

/// <summary>
/// An <see cref="IPacketDevice"/> that can also send a packet given in pieces: its headers and up to two runs of payload, which
/// it writes out without joining them first (a <c>writev()</c> of the pieces, as a TUN descriptor takes). The stack then sends a
/// TCP segment's payload straight from the connection's send buffer instead of copying it into a frame.
/// </summary>
/// <remarks>
/// <para>Optional: the stack uses it only on a device of <see cref="LinkMedium.Ip"/> that takes <see cref="ChecksumOffload.Transmit"/>
/// (the checksum then need not read the payload), for TCP segments with payload that leave the stack; everything else still goes
/// through <see cref="IPacketDevice.Transmit"/>. A device put in front of another one (a capture, an impairment) that does not
/// implement this interface simply gets whole frames.</para>
/// <para>Sending the pieces must have the same effect as <c>Transmit.OnNext</c> of their concatenation, including what
/// <see cref="IPacketDevice.TcpSegmentationOffload"/> promises for a packet longer than the MTU.</para>
/// </remarks>
public interface IGatherPacketDevice : IPacketDevice
{
    /// <summary>
    /// Sends one IP packet made of <paramref name="headers"/> (the IP header and the transport header with its options), then
    /// <paramref name="payload"/>, then <paramref name="payloadContinued"/> (empty unless the payload wraps around the end of a
    /// ring). All three are borrowed: valid only until the call returns. Called on the stack's scheduler, as
    /// <see cref="IPacketDevice.Transmit"/> is; a packet the link cannot take is dropped and counted by the device, not thrown.
    /// </summary>
    void TransmitGathered(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadContinued);
}
