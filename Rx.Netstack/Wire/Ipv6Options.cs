namespace Rx.Netstack.Wire;

/// <summary>
/// Walks the type-length-value options of an IPv6 hop-by-hop or destination options header (RFC 8200 §4.2).
/// The stack implements no option beyond padding, so every other option is handled by the action its type's
/// two high bits request.
/// </summary>
internal static class Ipv6Options
{
    private const byte Pad1 = 0;
    private const byte PadN = 1;

    /// <summary>
    /// Checks the options of the extension header at <c>packet[headerStart..headerEnd]</c> (its first two bytes are next header
    /// and length). Returns <see cref="WireError.BadExtensionHeader"/> for a malformed option (pointer at it) and
    /// <see cref="WireError.BadOption"/> for an unrecognised option whose action is "discard" (pointer at its type byte).
    /// </summary>
    public static WireError Check(ReadOnlySpan<byte> packet, int headerStart, int headerEnd, out int errorPointer)
    {
        errorPointer = 0;
        int i = headerStart + 2;
        while (i < headerEnd)
        {
            byte type = packet[i];
            if (type == Pad1)
            {
                i++;
                continue;
            }
            if (i + 2 > headerEnd || i + 2 + packet[i + 1] > headerEnd)
            {
                errorPointer = i; // the option runs past its header
                return WireError.BadExtensionHeader;
            }
            // RFC 8200 §4.2: action bits 00 skip; 01 discard; 10 discard and report; 11 report unless multicast.
            if (type != PadN && (type >> 6) != 0)
            {
                errorPointer = i;
                return WireError.BadOption;
            }
            i += 2 + packet[i + 1];
        }
        return WireError.None;
    }
}
