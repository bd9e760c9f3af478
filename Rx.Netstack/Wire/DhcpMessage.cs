using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>DHCP message types (RFC 2132 §9.6, option 53).</summary>
public enum DhcpMessageType : byte
{
    /// <summary>Client broadcast to locate servers.</summary>
    Discover = 1,
    /// <summary>Server offer of an address.</summary>
    Offer = 2,
    /// <summary>Client request of an offered address, or renewal.</summary>
    Request = 3,
    /// <summary>Client: the address is in use by another host.</summary>
    Decline = 4,
    /// <summary>Server: the lease is granted, with its parameters.</summary>
    Ack = 5,
    /// <summary>Server: the request is refused (the client starts over).</summary>
    Nak = 6,
    /// <summary>Client gives the lease up.</summary>
    Release = 7,
}

/// <summary>
/// The meaning of a DHCPv4 message (RFC 2131 §2, options of RFC 2132) as far as a client needs it: the BOOTP fixed part and
/// the options the stack reads or writes. Other options are skipped on parse.
/// </summary>
/// <param name="Type">Option 53.</param>
/// <param name="TransactionId">xid: the client's random number that pairs replies with requests.</param>
/// <param name="ClientMac">chaddr.</param>
/// <param name="Reply">op: BOOTREPLY (true, from a server) or BOOTREQUEST.</param>
/// <param name="Broadcast">The broadcast flag: the client cannot take unicast before it has its address.</param>
/// <param name="Seconds">secs: seconds since the client began.</param>
/// <param name="ClientAddress">ciaddr: the client's address while it renews.</param>
/// <param name="YourAddress">yiaddr: the address offered or granted.</param>
/// <param name="RequestedAddress">Option 50.</param>
/// <param name="ServerIdentifier">Option 54.</param>
/// <param name="SubnetMaskLength">Option 1, as a prefix length (-1: absent).</param>
/// <param name="Router">Option 3, its first router (unspecified: none).</param>
/// <param name="DnsServers">Option 6 (null: none).</param>
/// <param name="LeaseTime">Option 51, seconds (0: absent).</param>
/// <param name="RenewalTime">Option 58, T1 in seconds (0: absent).</param>
/// <param name="RebindingTime">Option 59, T2 in seconds (0: absent).</param>
public readonly record struct DhcpMessage(
    DhcpMessageType Type,
    uint TransactionId,
    MacAddress ClientMac,
    bool Reply = false,
    bool Broadcast = false,
    ushort Seconds = 0,
    NetAddress ClientAddress = default,
    NetAddress YourAddress = default,
    NetAddress RequestedAddress = default,
    NetAddress ServerIdentifier = default,
    int SubnetMaskLength = -1,
    NetAddress Router = default,
    IReadOnlyList<NetAddress>? DnsServers = null,
    uint LeaseTime = 0,
    uint RenewalTime = 0,
    uint RebindingTime = 0)
{
    /// <summary>The server's port (RFC 2131 §4.1).</summary>
    public const ushort ServerPort = 67;

    /// <summary>The client's port.</summary>
    public const ushort ClientPort = 68;

    private const int FixedLength = 236;
    private const uint MagicCookie = 0x63825363; // RFC 2131 §3
    private const int OptionsAt = FixedLength + 4;

    /// <summary>Parses a DHCP message (the UDP payload).</summary>
    /// <returns><see cref="WireError.None"/>; <see cref="WireError.Truncated"/>; <see cref="WireError.BadField"/> (not Ethernet
    /// addresses, no magic cookie, no message type); <see cref="WireError.BadOption"/> (an option running past the end).</returns>
    public static WireError TryParse(ReadOnlySpan<byte> message, out DhcpMessage dhcp)
    {
        dhcp = default;
        if (message.Length < OptionsAt) return WireError.Truncated;
        if (message[1] != 1 || message[2] != MacAddress.Length || BinaryPrimitives.ReadUInt32BigEndian(message[FixedLength..]) != MagicCookie)
            return WireError.BadField;
        var result = new DhcpMessage(0, BinaryPrimitives.ReadUInt32BigEndian(message[4..]), MacAddress.Read(message[28..]),
            Reply: message[0] == 2, Broadcast: (message[10] & 0x80) != 0, Seconds: BinaryPrimitives.ReadUInt16BigEndian(message[8..]),
            ClientAddress: NetAddress.ReadV4(message[12..]), YourAddress: NetAddress.ReadV4(message[16..]));
        ReadOnlySpan<byte> options = message[OptionsAt..];
        while (!options.IsEmpty)
        {
            byte code = options[0];
            if (code == 255) break; // end
            if (code == 0) { options = options[1..]; continue; } // pad
            if (options.Length < 2 || options.Length < 2 + options[1]) return WireError.BadOption;
            ReadOnlySpan<byte> value = options.Slice(2, options[1]);
            switch (code)
            {
                case 53 when value.Length == 1: result = result with { Type = (DhcpMessageType)value[0] }; break;
                case 50 when value.Length == 4: result = result with { RequestedAddress = NetAddress.ReadV4(value) }; break;
                case 54 when value.Length == 4: result = result with { ServerIdentifier = NetAddress.ReadV4(value) }; break;
                case 1 when value.Length == 4: result = result with { SubnetMaskLength = MaskLength(BinaryPrimitives.ReadUInt32BigEndian(value)) }; break;
                case 3 when value.Length >= 4: result = result with { Router = NetAddress.ReadV4(value) }; break;
                case 6 when value.Length >= 4 && value.Length % 4 == 0:
                    var servers = new NetAddress[value.Length / 4];
                    for (int i = 0; i < servers.Length; i++) servers[i] = NetAddress.ReadV4(value[(i * 4)..]);
                    result = result with { DnsServers = servers };
                    break;
                case 51 when value.Length == 4: result = result with { LeaseTime = BinaryPrimitives.ReadUInt32BigEndian(value) }; break;
                case 58 when value.Length == 4: result = result with { RenewalTime = BinaryPrimitives.ReadUInt32BigEndian(value) }; break;
                case 59 when value.Length == 4: result = result with { RebindingTime = BinaryPrimitives.ReadUInt32BigEndian(value) }; break;
                default: break; // RFC 2132 §2: options a client does not know are skipped
            }
            options = options[(2 + value.Length)..];
        }
        if (result.Type is < DhcpMessageType.Discover or > DhcpMessageType.Release) return WireError.BadField;
        dhcp = result;
        return WireError.None;
    }

    /// <summary>A contiguous mask's prefix length, or -1 for a mask that is not contiguous.</summary>
    private static int MaskLength(uint mask)
    {
        int length = System.Numerics.BitOperations.LeadingZeroCount(~mask);
        return length == 32 || mask << length == 0 ? length : -1;
    }

    /// <summary>The bytes <see cref="Emit"/> writes.</summary>
    public int Length => OptionsAt + 3 + (RequestedAddress.IsUnspecified ? 0 : 6) + (ServerIdentifier.IsUnspecified ? 0 : 6)
        + (SubnetMaskLength < 0 ? 0 : 6) + (Router.IsUnspecified ? 0 : 6) + (DnsServers is { Count: > 0 } d ? 2 + 4 * d.Count : 0)
        + (LeaseTime == 0 ? 0 : 6) + (RenewalTime == 0 ? 0 : 6) + (RebindingTime == 0 ? 0 : 6) + (Reply ? 0 : 8) + 1;

    /// <summary>Writes the message: the fixed part, the magic cookie, each option that is set (a client's request also asks
    /// for mask, router, DNS, lease and renewal times with option 55) and the end option.</summary>
    /// <returns>The length written.</returns>
    public static int Emit(Span<byte> message, in DhcpMessage dhcp)
    {
        int length = dhcp.Length;
        if (message.Length < length) throw new ArgumentException("Shorter than the message.", nameof(message));
        Span<byte> m = message[..length];
        m.Clear();
        m[0] = dhcp.Reply ? (byte)2 : (byte)1;
        m[1] = 1; // Ethernet
        m[2] = MacAddress.Length;
        BinaryPrimitives.WriteUInt32BigEndian(m[4..], dhcp.TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(m[8..], dhcp.Seconds);
        if (dhcp.Broadcast) m[10] = 0x80;
        dhcp.ClientAddress.WriteTo(m[12..]);
        dhcp.YourAddress.WriteTo(m[16..]);
        dhcp.ClientMac.WriteTo(m[28..]);
        BinaryPrimitives.WriteUInt32BigEndian(m[FixedLength..], MagicCookie);
        int at = OptionsAt;
        m[at++] = 53; m[at++] = 1; m[at++] = (byte)dhcp.Type;
        if (!dhcp.RequestedAddress.IsUnspecified) at += Address(m[at..], 50, dhcp.RequestedAddress);
        if (!dhcp.ServerIdentifier.IsUnspecified) at += Address(m[at..], 54, dhcp.ServerIdentifier);
        if (dhcp.SubnetMaskLength >= 0)
            at += Number(m[at..], 1, dhcp.SubnetMaskLength == 0 ? 0 : uint.MaxValue << (32 - dhcp.SubnetMaskLength));
        if (!dhcp.Router.IsUnspecified) at += Address(m[at..], 3, dhcp.Router);
        if (dhcp.DnsServers is { Count: > 0 } servers)
        {
            m[at++] = 6;
            m[at++] = (byte)(4 * servers.Count);
            foreach (NetAddress server in servers) { server.WriteTo(m[at..]); at += 4; }
        }
        if (dhcp.LeaseTime != 0) at += Number(m[at..], 51, dhcp.LeaseTime);
        if (dhcp.RenewalTime != 0) at += Number(m[at..], 58, dhcp.RenewalTime);
        if (dhcp.RebindingTime != 0) at += Number(m[at..], 59, dhcp.RebindingTime);
        if (!dhcp.Reply)
        {
            m[at++] = 55; m[at++] = 6;
            m[at++] = 1; m[at++] = 3; m[at++] = 6; m[at++] = 51; m[at++] = 58; m[at++] = 59;
        }
        m[at++] = 255;
        return at;
    }

    private static int Address(Span<byte> option, byte code, NetAddress address)
    {
        option[0] = code;
        option[1] = 4;
        address.WriteTo(option[2..]);
        return 6;
    }

    private static int Number(Span<byte> option, byte code, uint value)
    {
        option[0] = code;
        option[1] = 4;
        BinaryPrimitives.WriteUInt32BigEndian(option[2..], value);
        return 6;
    }
}
