using System.Collections.Immutable;
using System.Diagnostics;
using System.Reactive.Disposables;
using System.Runtime.InteropServices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Link;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>
/// The interface and IP layer: the attached device and its offloads, the stack's addresses, the transmit path (IP headers,
/// fragmentation, loopback, the transmit buffer), input (IP checks, reassembly, next-header dispatch) and ICMP (echo,
/// errors, pings). It knows no socket: it hands transport packets up to <see cref="Netstack"/>, which routes them to the
/// demultiplexers, and the demultiplexers send through it (see docs/architecture.md, "Components").
/// </summary>
/// <remarks>Input and ICMP are in <c>IpLayer.Input.cs</c> and <c>IpLayer.Icmp.cs</c>; all state is declared here.</remarks>
internal sealed partial class IpLayer
{
    /// <summary>Room before an IP header for a link-layer header (Ethernet with an 802.1Q tag), written in place.</summary>
    public const int LinkHeaderRoom = EthernetLayer.FrameRoom;

    /// <summary>Where upper layers write what they send: after room for the largest IP header (IPv6 + fragment header) and
    /// the link-layer header.</summary>
    public const int HeaderRoom = LinkHeaderRoom + Ipv6Header.HeaderLength + Ipv6Header.FragmentHeaderLength;

    /// <summary>Bytes of the invoking packet an ICMP error quotes at most: the error then fits the minimum MTU
    /// (576 for IPv4, RFC 1812 §4.3.2.3; 1280 for IPv6, RFC 4443 §2.4(c)).</summary>
    private const int IcmpV4QuoteLimit = 576 - Ipv4Header.HeaderLength - IcmpHeader.HeaderLength;
    private const int IcmpV6QuoteLimit = 1280 - Ipv6Header.HeaderLength - IcmpHeader.HeaderLength;

    // ---------------------------------------------------------------- state

    /// <summary>The composer, for the calls up: transport packets, ICMP errors for TCP, a changed segmentation offload.</summary>
    private readonly Netstack _stack;

    /// <summary>The inbox (looped-back packets), the timer queue (reassembly, pings), replies (pings) and the engine lock.</summary>
    private readonly PassScheduler _passes;

    /// <summary>The stack's settings (MTU without a device, TTL, loopback, ICMP rate).</summary>
    private readonly NetstackOptions _options;

    /// <summary>The stack's counters.</summary>
    private readonly NetstackCounters _counters;

    /// <summary>The stack's interface addresses: <see cref="_configured"/> and the link layer's automatic ones.</summary>
    private ImmutableArray<InterfaceAddress> _addresses;

    /// <summary>The addresses of the options or of <see cref="SetAddresses"/>.</summary>
    private ImmutableArray<InterfaceAddress> _configured;

    /// <summary>The addresses the link layer made (IPv6 link-local, SLAAC); empty on an IP device.</summary>
    private ImmutableArray<InterfaceAddress> _automatic = [];

    /// <summary>The link layer: in the path when <see cref="_medium"/> is Ethernet (set once, by the stack, after construction).</summary>
    private EthernetLayer _link = null!;

    /// <summary>What the attached device carries.</summary>
    private LinkMedium _medium;

    /// <summary>Multicast groups joined by sockets, and IGMP/MLD (set once, by the stack, after construction).</summary>
    private MulticastMembership _multicast = null!;

    /// <summary>Where packets are built; a stack on the other end of an in-memory pipe may take it (then we rent another).</summary>
    private TransmitBuffer _tx = TransmitBuffer.Rent();

    /// <summary>Where fragments are built, one at a time, from the packet in <see cref="_tx"/>.</summary>
    private readonly byte[] _fragmentBuffer = new byte[65535 + HeaderRoom];

    /// <summary>Incomplete fragmented datagrams (a timer owner).</summary>
    private readonly Reassembler _reassembler;

    /// <summary>The rate limit of ICMP errors sent (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)).</summary>
    private readonly TokenBucket _icmpErrorLimiter;

    /// <summary>Path MTUs learned per destination from validated ICMP errors (RFC 1191, RFC 8201); see <c>IpLayer.PathMtu.cs</c>.
    /// The home engine's, for every engine of a sharded stack (<see cref="SharePathMtu"/>).</summary>
    private PathMtuCache _pathMtu = new();

    /// <summary>Echo requests in flight (made with the first ping; a timer owner).</summary>
    private Pinger? _pinger;

    /// <summary>The attached device (null: none; packets to other hosts are dropped as <see cref="DropReason.NoDevice"/>).</summary>
    private IPacketDevice? _device;

    /// <summary>The subscription to <see cref="_device"/>'s received frames.</summary>
    private IDisposable? _deviceSubscription;

    /// <summary>The device's MTU (0 without a device: <see cref="NetstackOptions.Mtu"/> is in force).</summary>
    private int _deviceMtu;

    /// <summary>The device does not need TCP/UDP checksums (<see cref="ChecksumOffload.Transmit"/>): emission leaves them zero.</summary>
    private bool _txChecksumOffload;

    /// <summary>The device cuts TCP super-segments itself (<see cref="IPacketDevice.TcpSegmentationOffload"/>, only with transmit
    /// checksum offload): a TCP packet longer than the MTU goes to it whole instead of being fragmented or dropped.</summary>
    private bool _txSegmentationOffload;

    /// <summary>The device, when it takes packets in pieces (<see cref="IGatherPacketDevice"/>) and the stack may use that: an IP
    /// medium and transmit checksum offload, so TCP payload goes from the send ring to the device uncopied (null otherwise).</summary>
    private IGatherPacketDevice? _gather;

    /// <summary>The identification of the next IPv4 packet sent.</summary>
    private ushort _nextIpv4Id;

    /// <summary>The identification of the last IPv6 packet sent in fragments.</summary>
    private uint _nextIpv6FragmentId;

    /// <summary>Of a sharded stack, hands a whole IP packet to another engine's inbox (set once by the shard set; null with one
    /// engine): the link's steering reads fixed header offsets, so a TCP segment that came in fragments or behind IPv6
    /// extension headers lands on the home engine, and goes on from here to the engine its flow belongs to.</summary>
    private PacketMover? _moveToEngine;

    /// <summary>Creates the IP layer of <paramref name="stack"/>, with the addresses of its options.</summary>
    public IpLayer(Netstack stack, PassScheduler passes, NetstackOptions options, NetstackCounters counters)
    {
        _stack = stack;
        _passes = passes;
        _options = options;
        _counters = counters;
        _configured = _addresses = [.. options.Addresses];
        _reassembler = new Reassembler(options.ReassemblyTimeout, options.ReassemblyMemoryLimit, counters, OnReassemblyTimeout);
        _icmpErrorLimiter = new TokenBucket(options.IcmpErrorRatePerSecond, Math.Max(1, options.IcmpErrorRatePerSecond / 10));
    }

    /// <summary>Moves a whole IP packet to engine <paramref name="engine"/> of the same sharded stack.</summary>
    public delegate void PacketMover(int engine, ReadOnlySpan<byte> packet, bool checksumTrusted);

    /// <summary>Makes this engine one of a sharded stack's: TCP packets the link's steering could not place are moved on.</summary>
    public void JoinShards(PacketMover mover) => _moveToEngine = mover;

    /// <summary>The stack's interface addresses now.</summary>
    public IReadOnlyList<InterfaceAddress> Addresses => _addresses;

    /// <summary>The same, as a span for the engine's loops.</summary>
    public ReadOnlySpan<InterfaceAddress> AddressSpan => _addresses.AsSpan();

    /// <summary>The link layer (for Ethernet devices); set once by the stack.</summary>
    public EthernetLayer Link
    {
        get => _link;
        set => _link = value;
    }

    /// <summary>Multicast group membership and IGMP/MLD; set once by the stack.</summary>
    public MulticastMembership Multicast
    {
        get => _multicast;
        set => _multicast = value;
    }

    /// <summary>What the attached device carries (<see cref="LinkMedium.Ip"/> without a device).</summary>
    public LinkMedium Medium => _medium;

    /// <summary>The MTU in force: the attached device's, or <see cref="NetstackOptions.Mtu"/>.</summary>
    public int Mtu => _deviceMtu > 0 ? _deviceMtu : _options.Mtu;

    /// <summary>True when the device finishes TCP/UDP checksums: emitters leave them zero.</summary>
    public bool TransmitChecksumOffload => _txChecksumOffload;

    /// <summary>Bytes held by incomplete IP datagrams.</summary>
    public int ReassemblyMemoryInUse => _reassembler.MemoryInUse;

    // ---------------------------------------------------------------- the device

    /// <summary>Attaches a device (see <see cref="Netstack.Attach"/>); dispose the result to detach.</summary>
    public IDisposable Attach(IPacketDevice device)
    {
        lock (_passes.EngineLock)
        {
            DetachLocked();
            _device = device;
            _deviceMtu = Math.Min(device.Mtu, 65535);
            _txChecksumOffload = device.ChecksumOffload.HasFlag(ChecksumOffload.Transmit);
            _medium = device.Medium;
            // The device finishes each segment's checksum after cutting, so TSO is used only with transmit checksum offload. On
            // Ethernet the device copies the frame header into each piece; super-segments go in untagged frames only.
            _txSegmentationOffload = _txChecksumOffload && device.TcpSegmentationOffload
                && (_medium == LinkMedium.Ip || _options.Ethernet.VlanId is null);
            _stack.OnSegmentationOffloadChanged(_txSegmentationOffload ? _deviceMtu : 0);
            _gather = _txChecksumOffload && _medium == LinkMedium.Ip ? device as IGatherPacketDevice : null;
            _deviceSubscription = device.Received.Subscribe(new DeviceObserver(this, device));
            if (_medium == LinkMedium.Ethernet) _link.OnAttached();
            _multicast.OnAttached(_passes.Now);
        }
        return Disposable.Create(() =>
        {
            lock (_passes.EngineLock) if (_device == device) DetachLocked();
        });
    }

    /// <summary>Detaches <paramref name="device"/> if it is the one attached (in a pass); false when another replaced it.</summary>
    public bool DetachIfAttached(IPacketDevice device)
    {
        Debug.Assert(Monitor.IsEntered(_passes.EngineLock), "the device is detached under the engine lock");
        if (_device != device) return false;
        DetachLocked();
        return true;
    }

    private void DetachLocked()
    {
        _deviceSubscription?.Dispose();
        _deviceSubscription = null;
        _device = null;
        _deviceMtu = 0;
        _link.OnDetached();
        _medium = LinkMedium.Ip;
        _txChecksumOffload = false;
        _txSegmentationOffload = false;
        _gather = null;
        _stack.OnSegmentationOffloadChanged(0);
    }

    /// <summary>The layer's part of the teardown: pings in flight fail, fragments are dropped, the device is detached and told.</summary>
    public void TearDown(Commands.NetstackError error)
    {
        _pinger?.FailAll(error); // pings in flight are not sockets: they must hear of the disposal too
        _reassembler.Clear();
        _deviceSubscription?.Dispose();
        _deviceSubscription = null;
        try { _device?.Transmit.OnCompleted(); } catch (Exception) { _counters.SubscriberFaults++; }
        _device = null;
    }

    /// <summary>
    /// Feeds a device's frames into the inbox. A failed or finished device is detached and its loss is noted, so the next
    /// pass ends the open connections with a clear error; the stack stays usable and takes a new device with <see cref="Attach"/>.
    /// </summary>
    private sealed class DeviceObserver(IpLayer ip, IPacketDevice device) : IObserver<ReadOnlyMemory<byte>>
    {
        private readonly bool _checksumTrusted = device.ChecksumOffload.HasFlag(ChecksumOffload.Receive);

        public void OnNext(ReadOnlyMemory<byte> frame)
        {
            Interlocked.Increment(ref ip._counters.FramesIn);
            Interlocked.Add(ref ip._counters.BytesIn, frame.Length);
            // A large frame another stack is handing over from its transmit buffer: take the buffer instead of copying it.
            if (frame.Length >= TransmitBuffer.DetachThreshold
                && MemoryMarshal.TryGetMemoryManager(frame, out TransmitBuffer? buffer, out int start, out int length)
                && buffer.TryDetach())
            {
                ip._passes.EnqueueFrame(new InboxFrame(buffer.Array, start, length, FromLoopback: false, _checksumTrusted, buffer));
                return;
            }
            ip._passes.EnqueueFrame(frame.Span, fromLoopback: false, _checksumTrusted);
        }

        public void OnError(Exception error) => OnCompleted();

        // No engine lock here: see PassScheduler.NoteDeviceLost.
        public void OnCompleted() => ip._passes.NoteDeviceLost(device);
    }

    // ---------------------------------------------------------------- addresses

    /// <summary>Replaces the stack's configured addresses (the link layer's automatic ones stay).</summary>
    public void SetAddresses(IReadOnlyList<InterfaceAddress> addresses)
    {
        _configured = [.. addresses];
        RefreshAddresses();
    }

    /// <summary>Replaces the link layer's automatic addresses (IPv6 link-local, SLAAC).</summary>
    public void SetAutomaticAddresses(IEnumerable<InterfaceAddress> addresses)
    {
        _automatic = [.. addresses];
        RefreshAddresses();
    }

    private void RefreshAddresses()
    {
        _addresses = _automatic.IsEmpty ? _configured : [.. _configured, .. _automatic.Where(a => !_configured.Contains(a))];
        _link.OnAddressesChanged();
    }

    /// <summary>True when <paramref name="address"/> is one of the stack's (or loopback, when enabled); an address still
    /// under duplicate address detection, or found duplicate, is not (RFC 4862 §5.4).</summary>
    public bool IsLocalAddress(NetAddress address)
    {
        if (_options.EnableLoopback && address.IsLoopback) return true;
        foreach (InterfaceAddress a in _addresses.AsSpan())
            if (a.Address == address) return !_link.IsUnusable(address);
        return false;
    }

    /// <summary>True when a packet to <paramref name="destination"/> is for this stack (local or IPv4 broadcast).</summary>
    private bool AcceptsDestination(NetAddress destination)
    {
        if (IsLocalAddress(destination)) return true;
        if (destination.IsMulticast) return _link.IsMember(destination) || _multicast.Accepts(destination);
        if (destination.IsV6) return false;
        if (destination.IsBroadcast) return true;
        foreach (InterfaceAddress a in _addresses.AsSpan())
        {
            // Directed broadcast of one of our IPv4 subnets.
            if (a.Address.IsV6 || a.PrefixLength >= 31) continue;
            uint host = uint.MaxValue >> a.PrefixLength;
            if (a.Address.IsInPrefix(destination, a.PrefixLength) && (destination.V4Value & host) == host) return true;
        }
        return false;
    }

    /// <summary>
    /// Chooses the source address for a packet to <paramref name="destination"/>: the bound address if specific, loopback for
    /// loopback, else the stack address of that version whose prefix contains the destination, else the first of that version.
    /// </summary>
    public bool TrySelectSource(NetAddress bound, NetAddress destination, out NetAddress source)
    {
        source = bound;
        if (!bound.IsUnspecified) return bound.IsV6 == destination.IsV6;
        if (destination.IsLoopback && _options.EnableLoopback)
        {
            source = destination.IsV6 ? NetAddress.LoopbackV6 : NetAddress.LoopbackV4;
            return true;
        }
        bool found = false;
        foreach (InterfaceAddress a in _addresses.AsSpan())
        {
            if (a.Address.IsV6 != destination.IsV6 || _link.IsUnusable(a.Address)) continue;
            if (a.Address.IsInPrefix(destination, a.PrefixLength)) { source = a.Address; return true; }
            // RFC 6724 §5 rule 2 (scope), in short: a link-local source only for a destination that is link-local too.
            if (!found || RouteTable.IsLinkLocal(source) && !RouteTable.IsLinkLocal(a.Address)) { source = a.Address; found = true; }
        }
        return found;
    }

    // ---------------------------------------------------------------- transmit

    /// <summary>The transmit buffer where an upper layer writes its packet, starting at <see cref="HeaderRoom"/>.</summary>
    public Span<byte> TransmitPayload => _tx.Array.AsSpan(HeaderRoom);

    /// <summary>
    /// Sends the upper-layer packet of <paramref name="payloadLength"/> bytes already written at <see cref="TransmitPayload"/>:
    /// adds the IP header, fragments it if it is larger than the MTU (unless <paramref name="dontFragment"/>), and hands it to
    /// the device, or back to the inbox when the destination is the stack itself. <paramref name="ecn"/> goes in the IP
    /// header's ECN field (RFC 3168 §5: ECT(0) for a TCP segment that may be marked instead of dropped).
    /// </summary>
    public bool Transmit(NetAddress source, NetAddress destination, IpProtocol protocol, int payloadLength, bool dontFragment = false,
        byte ecn = 0, byte hopLimit = 0)
    {
        if (hopLimit == 0) hopLimit = _options.DefaultTimeToLive; // 0: the stack's default (a multicast send passes its own)
        bool v6 = destination.IsV6;
        int headerLength = EmitIpHeader(source, destination, protocol, payloadLength, dontFragment, ecn, hopLimit);
        Span<byte> packet = _tx.Array.AsSpan(HeaderRoom - headerLength, headerLength + payloadLength);

        if (IsLocalAddress(destination))
        {
            // Delivered inside the stack; processed later in this pass or the next, never re-entrantly.
            _passes.EnqueueFrame(packet, fromLoopback: true, checksumTrusted: _txChecksumOffload);
            return true;
        }
        // IPv6 is fragmented only at the source, to the path MTU (RFC 8201 §5.4, RFC 8200 §5); TCP sizes its own segments.
        int mtu = v6 && protocol != IpProtocol.Tcp ? PathMtuTo(destination, _passes.Now) : Mtu;
        if (packet.Length <= mtu) return SendToDevice(packet);
        if (protocol == IpProtocol.Tcp && _txSegmentationOffload) return SendToDevice(packet); // a super-segment: the device cuts it
        if (dontFragment || v6 && protocol == IpProtocol.Tcp)
        {
            _counters.Drop(DropReason.TooBigToSend);
            return false;
        }
        return v6 ? SendFragmentsV6(source, destination, protocol, payloadLength, mtu) : SendFragmentsV4(packet, payloadLength);
    }

    /// <summary>
    /// Writes the IP header in front of the <paramref name="payloadLength"/>-byte upper-layer packet at
    /// <see cref="TransmitPayload"/> and counts the packet's bytes out; returns the header's length.
    /// </summary>
    private int EmitIpHeader(NetAddress source, NetAddress destination, IpProtocol protocol, int payloadLength, bool dontFragment,
        byte ecn, byte hopLimit)
    {
        bool v6 = destination.IsV6;
        int headerLength = v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        Span<byte> header = _tx.Array.AsSpan(HeaderRoom - headerLength, headerLength);
        _counters.CountBytesOut(protocol, payloadLength);
        if (v6)
            Ipv6Header.Emit(header, new Ipv6Header(source, destination, protocol, hopLimit, TrafficClass: ecn), payloadLength);
        else
            Ipv4Header.Emit(header, new Ipv4Header(source, destination, protocol, hopLimit, _nextIpv4Id++, DontFragment: dontFragment,
                TypeOfService: ecn), payloadLength);
        return headerLength;
    }

    /// <summary>
    /// True when a TCP packet of <paramref name="transportLength"/> bytes to <paramref name="destination"/> may go out with
    /// <see cref="TransmitGathered"/>: the device takes pieces, the destination is not the stack itself, and the packet needs no
    /// fragmenting (it fits the MTU, or the device cuts super-segments).
    /// </summary>
    public bool CanGather(NetAddress destination, int transportLength) =>
        _gather is not null
        && (transportLength + (destination.IsV6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength) <= Mtu || _txSegmentationOffload)
        && !IsLocalAddress(destination);

    /// <summary>
    /// Sends a TCP packet whose <paramref name="headerLength"/>-byte header is written at <see cref="TransmitPayload"/> (its
    /// checksum left to the device) and whose payload is <paramref name="payload"/> then <paramref name="payloadContinued"/>, in
    /// place wherever they are (the send ring): the IP header goes in front of the TCP header and the device gets the pieces
    /// (<see cref="IGatherPacketDevice"/>). Only after <see cref="CanGather"/> said yes for this packet.
    /// </summary>
    public bool TransmitGathered(NetAddress source, NetAddress destination, int headerLength, ReadOnlySpan<byte> payload,
        ReadOnlySpan<byte> payloadContinued, bool dontFragment, byte ecn)
    {
        IGatherPacketDevice? device = _gather;
        Debug.Assert(device is not null, "CanGather said yes");
        int transportLength = headerLength + payload.Length + payloadContinued.Length;
        int ipHeaderLength = EmitIpHeader(source, destination, IpProtocol.Tcp, transportLength, dontFragment, ecn, _options.DefaultTimeToLive);
        Span<byte> headers = _tx.Array.AsSpan(HeaderRoom - ipHeaderLength, ipHeaderLength + headerLength);
        _counters.FramesOut++;
        _counters.BytesOut += ipHeaderLength + transportLength;
        try
        {
            device.TransmitGathered(headers, payload, payloadContinued);
        }
        catch (Exception)
        {
            _counters.SubscriberFaults++;
            return false;
        }
        return true;
    }

    /// <summary>Sends a whole IP packet that is already built (raw sockets).</summary>
    public bool TransmitRawPacket(ReadOnlySpan<byte> packet, NetAddress destination)
    {
        if (IsLocalAddress(destination))
        {
            _passes.EnqueueFrame(packet, fromLoopback: true, checksumTrusted: _txChecksumOffload);
            return true;
        }
        if (packet.Length > Mtu)
        {
            _counters.Drop(DropReason.TooBigToSend);
            return false;
        }
        return SendToDevice(packet);
    }

    private bool SendToDevice(ReadOnlySpan<byte> packet)
    {
        if (_medium == LinkMedium.Ethernet && _device is not null) return _link.Send(packet); // next hop, neighbour, header
        return SendFrame(packet);
    }

    /// <summary>
    /// The writable frame that starts <paramref name="front"/> bytes before <paramref name="packet"/> when the packet is in one
    /// of the layer's buffers with that much room in front (the link layer writes its header there); empty otherwise.
    /// </summary>
    public Span<byte> FrameAround(ReadOnlySpan<byte> packet, int front)
    {
        if (((ReadOnlySpan<byte>)_tx.Array).Overlaps(packet, out int offset) && offset >= front)
            return _tx.Array.AsSpan(offset - front, front + packet.Length);
        if (((ReadOnlySpan<byte>)_fragmentBuffer).Overlaps(packet, out offset) && offset >= front)
            return _fragmentBuffer.AsSpan(offset - front, front + packet.Length);
        return [];
    }

    /// <summary>Hands a frame the link layer built in its own array to the device (borrowed for the call).</summary>
    public bool SendFrame(byte[] array, int offset, int length)
    {
        IPacketDevice? device = _device;
        if (device is null)
        {
            _counters.Drop(DropReason.NoDevice);
            return false;
        }
        _counters.FramesOut++;
        _counters.BytesOut += length;
        return Transmit(device, array.AsMemory(offset, length));
    }

    /// <summary>Hands a frame to the device: an IP packet, or on Ethernet a whole frame in the layer's buffers.</summary>
    public bool SendFrame(ReadOnlySpan<byte> packet)
    {
        IPacketDevice? device = _device;
        if (device is null)
        {
            _counters.Drop(DropReason.NoDevice);
            return false;
        }
        _counters.FramesOut++;
        _counters.BytesOut += packet.Length;
        // The frame is borrowed for the duration of OnNext (see IPacketDevice): the device copies what it keeps — or, a stack
        // at the other end of an in-memory pipe, takes the whole transmit buffer (TransmitBuffer), and we build in another.
        // ReadOnlyMemory cannot wrap a span, so both transmit buffers are arrays and we slice by offset.
        if (((ReadOnlySpan<byte>)_tx.Array).Overlaps(packet, out int offset))
        {
            TransmitBuffer tx = _tx;
            tx.BeginSend();
            try
            {
                return Transmit(device, tx.Frame(offset, packet.Length));
            }
            finally
            {
                if (tx.EndSend()) _tx = TransmitBuffer.Rent();
            }
        }
        if (((ReadOnlySpan<byte>)_fragmentBuffer).Overlaps(packet, out offset))
            return Transmit(device, _fragmentBuffer.AsMemory(offset, packet.Length));
        return Transmit(device, packet.ToArray()); // not one of ours (raw send): copy; off the hot path
    }

    private bool Transmit(IPacketDevice device, ReadOnlyMemory<byte> frame)
    {
        try
        {
            device.Transmit.OnNext(frame);
        }
        catch (Exception)
        {
            _counters.SubscriberFaults++;
            return false;
        }
        return true;
    }

    /// <summary>IPv4 fragmentation (RFC 791 §3.2): every fragment but the last carries a multiple of 8 data bytes.</summary>
    private bool SendFragmentsV4(ReadOnlySpan<byte> packet, int payloadLength)
    {
        Ipv4Header.TryParse(packet, out Ipv4Header header, out int headerLength, out ReadOnlySpan<byte> payload);
        int chunk = (Mtu - headerLength) & ~7;
        for (int offset = 0; offset < payloadLength; offset += chunk)
        {
            int length = Math.Min(chunk, payloadLength - offset);
            bool more = offset + length < payloadLength;
            Span<byte> fragment = _fragmentBuffer.AsSpan(LinkHeaderRoom, headerLength + length);
            payload.Slice(offset, length).CopyTo(fragment[headerLength..]);
            Ipv4Header.Emit(fragment, header with { MoreFragments = more, FragmentOffset = offset }, length);
            _counters.FragmentsOut++;
            if (!SendToDevice(fragment)) return false;
        }
        return true;
    }

    /// <summary>IPv6 fragmentation at the source (RFC 8200 §4.5), with a fragment header in every fragment.</summary>
    private bool SendFragmentsV6(NetAddress source, NetAddress destination, IpProtocol protocol, int payloadLength, int mtu)
    {
        ReadOnlySpan<byte> payload = _tx.Array.AsSpan(HeaderRoom, payloadLength);
        int headerLength = Ipv6Header.HeaderLength + Ipv6Header.FragmentHeaderLength;
        int chunk = (mtu - headerLength) & ~7;
        uint id = ++_nextIpv6FragmentId;
        for (int offset = 0; offset < payloadLength; offset += chunk)
        {
            int length = Math.Min(chunk, payloadLength - offset);
            bool more = offset + length < payloadLength;
            Span<byte> fragment = _fragmentBuffer.AsSpan(LinkHeaderRoom, headerLength + length);
            payload.Slice(offset, length).CopyTo(fragment[headerLength..]);
            var header = new Ipv6Header(source, destination, protocol, _options.DefaultTimeToLive,
                HasFragmentHeader: true, FragmentOffset: offset, MoreFragments: more, FragmentIdentification: id);
            Ipv6Header.Emit(fragment, header, length);
            _counters.FragmentsOut++;
            if (!SendToDevice(fragment)) return false;
        }
        return true;
    }
}
