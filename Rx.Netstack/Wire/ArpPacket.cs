using System.Buffers.Binary;

namespace Rx.Netstack.Wire;

/// <summary>ARP operations (RFC 826).</summary>
public enum ArpOperation : ushort
{
    /// <summary>Who has the target protocol address?</summary>
    Request = 1,
    /// <summary>The sender has it.</summary>
    Reply = 2,
}

/// <summary>
/// The meaning of an ARP packet for IPv4 over Ethernet (RFC 826): hardware type 1, protocol type 0x0800, address lengths
/// 6 and 4. A gratuitous ARP has the sender's protocol address as its target too (RFC 5227 §3).
/// </summary>
/// <param name="Operation">Request or reply.</param>
/// <param name="SenderHardware">The sender's MAC address.</param>
/// <param name="SenderProtocol">The sender's IPv4 address (0.0.0.0 in an RFC 5227 probe).</param>
/// <param name="TargetHardware">The target's MAC address (zero in a request).</param>
/// <param name="TargetProtocol">The IPv4 address asked for or answered to.</param>
public readonly record struct ArpPacket(ArpOperation Operation, MacAddress SenderHardware, NetAddress SenderProtocol,
    MacAddress TargetHardware, NetAddress TargetProtocol)
{
    /// <summary>The length of an Ethernet/IPv4 ARP packet.</summary>
    public const int PacketLength = 28;

    private const int HardwareType = 0, ProtocolType = 2, HardwareLength = 4, ProtocolLength = 5, OperationOffset = 6;
    private const int SenderHardwareOffset = 8, SenderProtocolOffset = 14, TargetHardwareOffset = 18, TargetProtocolOffset = 24;

    /// <summary>Parses an ARP packet (trailing link padding ignored).</summary>
    /// <returns><see cref="WireError.None"/>; <see cref="WireError.Truncated"/> (under 28 bytes);
    /// <see cref="WireError.BadField"/> (not Ethernet/IPv4, an unknown operation, or a multicast or broadcast sender).</returns>
    public static WireError TryParse(ReadOnlySpan<byte> packet, out ArpPacket arp)
    {
        arp = default;
        if (packet.Length < PacketLength) return WireError.Truncated;
        if (BinaryPrimitives.ReadUInt16BigEndian(packet[HardwareType..]) != 1
            || BinaryPrimitives.ReadUInt16BigEndian(packet[ProtocolType..]) != (ushort)EtherType.Ipv4
            || packet[HardwareLength] != MacAddress.Length || packet[ProtocolLength] != 4)
            return WireError.BadField;
        var operation = (ArpOperation)BinaryPrimitives.ReadUInt16BigEndian(packet[OperationOffset..]);
        if (operation is not (ArpOperation.Request or ArpOperation.Reply)) return WireError.BadField;
        MacAddress senderHardware = MacAddress.Read(packet[SenderHardwareOffset..]);
        NetAddress senderProtocol = NetAddress.ReadV4(packet[SenderProtocolOffset..]);
        if (senderHardware.IsMulticast || senderProtocol.IsMulticast || senderProtocol.IsBroadcast) return WireError.BadField;
        arp = new ArpPacket(operation, senderHardware, senderProtocol,
            MacAddress.Read(packet[TargetHardwareOffset..]), NetAddress.ReadV4(packet[TargetProtocolOffset..]));
        return WireError.None;
    }

    /// <summary>Writes the 28-byte packet.</summary>
    /// <returns><see cref="PacketLength"/>.</returns>
    /// <exception cref="ArgumentException">The span is too short or an address is IPv6.</exception>
    public static int Emit(Span<byte> packet, in ArpPacket arp)
    {
        if (packet.Length < PacketLength) throw new ArgumentException("Shorter than an ARP packet.", nameof(packet));
        if (arp.SenderProtocol.IsV6 || arp.TargetProtocol.IsV6) throw new ArgumentException("ARP carries IPv4 addresses.", nameof(arp));
        BinaryPrimitives.WriteUInt16BigEndian(packet[HardwareType..], 1);
        BinaryPrimitives.WriteUInt16BigEndian(packet[ProtocolType..], (ushort)EtherType.Ipv4);
        packet[HardwareLength] = MacAddress.Length;
        packet[ProtocolLength] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(packet[OperationOffset..], (ushort)arp.Operation);
        arp.SenderHardware.WriteTo(packet[SenderHardwareOffset..]);
        arp.SenderProtocol.WriteTo(packet[SenderProtocolOffset..]);
        arp.TargetHardware.WriteTo(packet[TargetHardwareOffset..]);
        arp.TargetProtocol.WriteTo(packet[TargetProtocolOffset..]);
        return PacketLength;
    }
}
