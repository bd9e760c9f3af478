using System.Buffers.Binary;
using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Support;

/// <summary>
/// A router between two stacks, for path MTU tests in virtual time: each stack's link has <c>linkMtu</c>, the hop between
/// them only <see cref="HopMtu"/>. A larger packet is fragmented when it may be (IPv4 without DF), else dropped — and, unless
/// <see cref="SendsIcmp"/> is off (a firewall filtering ICMP: a PMTU black hole), answered with ICMP fragmentation needed
/// (RFC 1191) or packet too big (RFC 4443 §3.2) from the router's own address, quoting as much as a real router does.
/// Frames are forwarded synchronously, so everything stays on the test's scheduler.
/// </summary>
internal sealed class MtuRouter : IDisposable
{
    public static readonly NetAddress RouterV4 = NetAddress.Parse("10.0.0.254"), RouterV6 = NetAddress.Parse("fd00::fe");

    private readonly PipeDevice _routerA, _routerB;
    private readonly IDisposable _fromA, _fromB;
    private ushort _nextId;

    public MtuRouter(int linkMtu, int hopMtu, bool sendsIcmp = true)
    {
        HopMtu = hopMtu;
        SendsIcmp = sendsIcmp;
        (DeviceA, _routerA) = PipeDevice.CreatePair(linkMtu);
        (DeviceB, _routerB) = PipeDevice.CreatePair(linkMtu);
        _fromA = _routerA.Received.Subscribe(frame => Forward(frame.Span, _routerB, _routerA));
        _fromB = _routerB.Received.Subscribe(frame => Forward(frame.Span, _routerA, _routerB));
    }

    /// <summary>Stack A's end of its link.</summary>
    public PipeDevice DeviceA { get; }

    /// <summary>Stack B's end of its link.</summary>
    public PipeDevice DeviceB { get; }

    /// <summary>The MTU of the hop between the two links.</summary>
    public int HopMtu { get; set; }

    /// <summary>Whether a packet too big is answered with ICMP (false: dropped silently, as behind a filter).</summary>
    public bool SendsIcmp { get; set; }

    /// <summary>Packets forwarded whole.</summary>
    public int Forwarded { get; private set; }

    /// <summary>Packets too big for the hop that could not be fragmented (dropped).</summary>
    public int TooBig { get; private set; }

    /// <summary>IPv4 packets the router fragmented for the hop.</summary>
    public int Fragmented { get; private set; }

    /// <summary>ICMP errors the router sent.</summary>
    public int IcmpSent { get; private set; }

    /// <summary>The largest packet forwarded, each way from A and from B.</summary>
    public int LargestFromA { get; private set; }

    /// <summary>The largest packet forwarded from B.</summary>
    public int LargestFromB { get; private set; }

    /// <summary>IPv4 packets forwarded with DF set, and without.</summary>
    public int WithDontFragment { get; private set; }

    /// <summary>IPv4 packets forwarded without DF.</summary>
    public int WithoutDontFragment { get; private set; }

    /// <summary>When set, packets it returns true for are dropped (and kept in <see cref="Dropped"/>), whatever their size.</summary>
    public Func<byte[], bool>? DropIf { get; set; }

    /// <summary>The packets <see cref="DropIf"/> dropped, in order.</summary>
    public List<byte[]> Dropped { get; } = [];

    /// <summary>Sends a packet to stack A as if it came through the router (a forged ICMP error, say).</summary>
    public void InjectToA(byte[] packet) => _routerA.Transmit.OnNext(packet);

    /// <summary>Sends a packet to stack B as if it came through the router.</summary>
    public void InjectToB(byte[] packet) => _routerB.Transmit.OnNext(packet);

    private void Forward(ReadOnlySpan<byte> packet, PipeDevice onward, PipeDevice back)
    {
        if (DropIf is { } drop && packet.ToArray() is var copy && drop(copy))
        {
            Dropped.Add(copy);
            return;
        }
        bool v6 = packet[0] >> 4 == 6;
        if (!v6)
        {
            if ((packet[6] & 0x40) != 0) WithDontFragment++;
            else WithoutDontFragment++;
        }
        if (packet.Length <= HopMtu)
        {
            Forwarded++;
            if (onward == _routerB) LargestFromA = Math.Max(LargestFromA, packet.Length);
            else LargestFromB = Math.Max(LargestFromB, packet.Length);
            onward.Transmit.OnNext(packet.ToArray());
            return;
        }
        if (!v6 && (packet[6] & 0x40) == 0)
        {
            FragmentV4(packet, onward);
            return;
        }
        TooBig++;
        if (!SendsIcmp) return;
        NetAddress sender = v6 ? NetAddress.ReadV6(packet[8..]) : NetAddress.V4(BinaryPrimitives.ReadUInt32BigEndian(packet[12..]));
        // A router quotes as much as fits the minimum MTU (RFC 1812 §4.3.2.3, RFC 4443 §2.4(c)); many quote only 28 bytes for IPv4.
        int quote = Math.Min(packet.Length, v6 ? 1280 - 48 : 28);
        byte[] icmp = v6
            ? Forge.Icmp(RouterV6, sender, new IcmpHeader((byte)IcmpV6Type.PacketTooBig, 0, Mtu: (uint)HopMtu), packet[..quote])
            : Forge.Icmp(RouterV4, sender, new IcmpHeader((byte)IcmpV4Type.DestinationUnreachable, 4, Mtu: (uint)HopMtu), packet[..quote]);
        IcmpSent++;
        back.Transmit.OnNext(icmp);
    }

    /// <summary>RFC 791 §3.2 fragmentation on the hop, as a router does for a datagram without DF.</summary>
    private void FragmentV4(ReadOnlySpan<byte> packet, PipeDevice onward)
    {
        Assert.Equal(WireError.None, Ipv4Header.TryParse(packet, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload));
        int chunk = (HopMtu - headerLength) & ~7;
        _nextId++;
        for (int offset = 0; offset < payload.Length; offset += chunk)
        {
            int length = Math.Min(chunk, payload.Length - offset);
            byte[] fragment = new byte[headerLength + length];
            payload.Slice(offset, length).CopyTo(fragment.AsSpan(headerLength));
            Ipv4Header.Emit(fragment, header with
            {
                MoreFragments = header.MoreFragments || offset + length < payload.Length,
                FragmentOffset = header.FragmentOffset + offset,
            }, length);
            Fragmented++;
            onward.Transmit.OnNext(fragment);
        }
    }

    public void Dispose()
    {
        _fromA.Dispose();
        _fromB.Dispose();
        DeviceA.Dispose();
        DeviceB.Dispose();
        _routerA.Dispose();
        _routerB.Dispose();
    }
}
