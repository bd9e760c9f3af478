namespace Rx.Netstack.Wire;

/// <summary>Why a parser rejected its input. The engine counts each as a drop reason.</summary>
public enum WireError
{
    /// <summary>The input parsed.</summary>
    None = 0,
    /// <summary>Shorter than its fixed header or than a length field says.</summary>
    Truncated,
    /// <summary>The IP version nibble is not the expected one.</summary>
    BadVersion,
    /// <summary>A header length field is below the minimum or beyond the buffer.</summary>
    BadHeaderLength,
    /// <summary>A total/payload length field is inconsistent with the header or the buffer.</summary>
    BadLength,
    /// <summary>The checksum does not verify.</summary>
    BadChecksum,
    /// <summary>An option is malformed (length 0/1, running past the header, wrong fixed size).</summary>
    BadOption,
    /// <summary>An IPv6 extension header is malformed or not allowed where it is.</summary>
    BadExtensionHeader,
    /// <summary>An IPv6 next-header value the stack does not know (answered with ICMPv6 parameter problem, RFC 8200 §4).</summary>
    UnknownNextHeader,
    /// <summary>A field value that is not allowed (e.g. a zero port, a source address that is multicast).</summary>
    BadField,
}
