using System.Collections.Immutable;
using System.Reactive.Disposables;
using System.Runtime.InteropServices;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>Where upper layers write what they send: after room for the largest IP header (IPv6 + fragment header).</summary>
    internal const int IpHeaderRoom = Ipv6Header.HeaderLength + Ipv6Header.FragmentHeaderLength;

    private ImmutableArray<InterfaceAddress> _addresses = [];
    /// <summary>Where packets are built; a stack on the other end of an in-memory pipe may take it (then we rent another).</summary>
    private TransmitBuffer _tx = TransmitBuffer.Rent();
    private readonly byte[] _fragmentBuffer = new byte[65535 + IpHeaderRoom];
    private Reassembler _reassembler = null!;
    private TokenBucket _icmpErrorLimiter = null!;
    private IPacketDevice? _device;
    private IDisposable? _deviceSubscription;
    private int _deviceMtu;
    /// <summary>The device does not need TCP/UDP checksums (<see cref="ChecksumOffload.Transmit"/>): emission leaves them zero.</summary>
    private bool _txChecksumOffload;
    /// <summary>The device cuts TCP super-segments itself (<see cref="IPacketDevice.TcpSegmentationOffload"/>, only with transmit
    /// checksum offload): a TCP packet longer than the MTU goes to it whole instead of being fragmented or dropped.</summary>
    private bool _txSegmentationOffload;
    /// <summary>The frame being processed needs no TCP/UDP checksum check (offloaded by its device, or our own looped-back frame
    /// emitted without one).</summary>
    private bool _frameChecksumTrusted;
    private ushort _nextIpv4Id;
    private uint _nextIpv6FragmentId;

    /// <summary>The stack's interface addresses now.</summary>
    public IReadOnlyList<InterfaceAddress> Addresses => _addresses;

    /// <summary>The MTU in force: the attached device's, or <see cref="NetstackOptions.Mtu"/>.</summary>
    public int Mtu => _deviceMtu > 0 ? _deviceMtu : Options.Mtu;

    private void InitializeIp()
    {
        _addresses = [.. Options.Addresses];
        _reassembler = new Reassembler(Options.ReassemblyTimeout, Options.ReassemblyMemoryLimit, _counters, OnReassemblyTimeout);
        _icmpErrorLimiter = new TokenBucket(Options.IcmpErrorRatePerSecond, Math.Max(1, Options.IcmpErrorRatePerSecond / 10));
    }

    private void TearDownIp()
    {
        _reassembler.Clear();
        _deviceSubscription?.Dispose();
        _deviceSubscription = null;
        try { _device?.Transmit.OnCompleted(); } catch (Exception) { _counters.SubscriberFaults++; }
        _device = null;
    }

    /// <summary>
    /// Attaches a device: its received frames feed the stack and the stack sends through it; its MTU becomes the stack's.
    /// One device at a time: attaching another replaces the first. Dispose the result to detach.
    /// </summary>
    public IDisposable Attach(IPacketDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(_passes.IsDisposed, this);
        if (device.Mtu < 576 && device.Mtu != 0)
            throw new ArgumentException($"Device MTU {device.Mtu} is below the IPv4 minimum of 576.", nameof(device));
        lock (_passes.EngineLock)
        {
            DetachLocked();
            _device = device;
            _deviceMtu = Math.Min(device.Mtu, 65535);
            _txChecksumOffload = device.ChecksumOffload.HasFlag(ChecksumOffload.Transmit);
            // The device finishes each segment's checksum after cutting, so TSO is used only with transmit checksum offload.
            _txSegmentationOffload = _txChecksumOffload && device.TcpSegmentationOffload;
            _tcp.SegmentationOffloadMtu = _txSegmentationOffload ? _deviceMtu : 0;
            _deviceSubscription = device.Received.Subscribe(new DeviceObserver(this, device));
        }
        return Disposable.Create(() =>
        {
            lock (_passes.EngineLock) if (_device == device) DetachLocked();
        });
    }

    private void DetachLocked()
    {
        _deviceSubscription?.Dispose();
        _deviceSubscription = null;
        _device = null;
        _deviceMtu = 0;
        _txChecksumOffload = false;
        _txSegmentationOffload = false;
        _tcp.SegmentationOffloadMtu = 0;
    }

    /// <summary>
    /// Feeds a device's frames into the inbox. A failed or finished device is detached and its loss is noted, so the next
    /// pass ends the open connections with a clear error; the stack stays usable and takes a new device with <see cref="Attach"/>.
    /// </summary>
    private sealed class DeviceObserver(Netstack stack, IPacketDevice device) : IObserver<ReadOnlyMemory<byte>>
    {
        private readonly bool _checksumTrusted = device.ChecksumOffload.HasFlag(ChecksumOffload.Receive);

        public void OnNext(ReadOnlyMemory<byte> frame)
        {
            Interlocked.Increment(ref stack._counters.FramesIn);
            Interlocked.Add(ref stack._counters.BytesIn, frame.Length);
            // A large frame another stack is handing over from its transmit buffer: take the buffer instead of copying it.
            if (frame.Length >= TransmitBuffer.DetachThreshold
                && MemoryMarshal.TryGetMemoryManager(frame, out TransmitBuffer? buffer, out int start, out int length)
                && buffer.TryDetach())
            {
                stack._passes.EnqueueFrame(new InboxFrame(buffer.Array, start, length, FromLoopback: false, _checksumTrusted, buffer));
                return;
            }
            stack.EnqueueFrame(frame.Span, fromLoopback: false, _checksumTrusted);
        }

        public void OnError(Exception error) => OnCompleted();

        public void OnCompleted()
        {
            lock (stack._passes.EngineLock)
            {
                if (stack._device != device) return;
                stack.DetachLocked();
                stack._passes.NoteDeviceLost();
            }
            stack._passes.SchedulePass();
        }
    }

    private void SetAddresses(IReadOnlyList<InterfaceAddress> addresses) => _addresses = [.. addresses];

    /// <summary>True when <paramref name="address"/> is one of the stack's (or loopback, when enabled).</summary>
    internal bool IsLocalAddress(NetAddress address)
    {
        if (Options.EnableLoopback && address.IsLoopback) return true;
        foreach (InterfaceAddress a in _addresses.AsSpan())
            if (a.Address == address) return true;
        return false;
    }

    /// <summary>True when a packet to <paramref name="destination"/> is for this stack (local or IPv4 broadcast).</summary>
    private bool AcceptsDestination(NetAddress destination)
    {
        if (IsLocalAddress(destination)) return true;
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
    internal bool TrySelectSource(NetAddress bound, NetAddress destination, out NetAddress source)
    {
        source = bound;
        if (!bound.IsUnspecified) return bound.IsV6 == destination.IsV6;
        if (destination.IsLoopback && Options.EnableLoopback)
        {
            source = destination.IsV6 ? NetAddress.LoopbackV6 : NetAddress.LoopbackV4;
            return true;
        }
        bool found = false;
        foreach (InterfaceAddress a in _addresses.AsSpan())
        {
            if (a.Address.IsV6 != destination.IsV6) continue;
            if (a.Address.IsInPrefix(destination, a.PrefixLength)) { source = a.Address; return true; }
            if (!found) { source = a.Address; found = true; }
        }
        return found;
    }

    /// <summary>The transmit buffer where an upper layer writes its packet, starting at <see cref="IpHeaderRoom"/>.</summary>
    internal Span<byte> TransmitPayload => _tx.Array.AsSpan(IpHeaderRoom);

    /// <summary>
    /// Sends the upper-layer packet of <paramref name="payloadLength"/> bytes already written at <see cref="TransmitPayload"/>:
    /// adds the IP header, fragments it if it is larger than the MTU (unless <paramref name="dontFragment"/>), and hands it to
    /// the device, or back to the inbox when the destination is the stack itself.
    /// </summary>
    internal bool TransmitIp(NetAddress source, NetAddress destination, IpProtocol protocol, int payloadLength, bool dontFragment = false)
    {
        bool v6 = destination.IsV6;
        int headerLength = v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        int start = IpHeaderRoom - headerLength;
        Span<byte> packet = _tx.Array.AsSpan(start, headerLength + payloadLength);
        _counters.CountBytesOut(protocol, payloadLength);
        if (v6)
            Ipv6Header.Emit(packet, new Ipv6Header(source, destination, protocol, Options.DefaultTimeToLive), payloadLength);
        else
            Ipv4Header.Emit(packet, new Ipv4Header(source, destination, protocol, Options.DefaultTimeToLive, _nextIpv4Id++, DontFragment: dontFragment), payloadLength);

        if (IsLocalAddress(destination))
        {
            // Delivered inside the stack; processed later in this pass or the next, never re-entrantly.
            EnqueueFrame(packet, fromLoopback: true, checksumTrusted: _txChecksumOffload);
            return true;
        }
        if (packet.Length <= Mtu) return SendToDevice(packet);
        if (protocol == IpProtocol.Tcp && _txSegmentationOffload) return SendToDevice(packet); // a super-segment: the device cuts it
        if (dontFragment || v6 && protocol == IpProtocol.Tcp)
        {
            _counters.Drop(DropReason.TooBigToSend);
            return false;
        }
        return v6 ? SendFragmentsV6(source, destination, protocol, payloadLength) : SendFragmentsV4(packet, payloadLength);
    }

    /// <summary>Sends a whole IP packet that is already built (raw sockets, ICMP errors).</summary>
    internal bool TransmitRawPacket(ReadOnlySpan<byte> packet, NetAddress destination)
    {
        if (IsLocalAddress(destination))
        {
            EnqueueFrame(packet, fromLoopback: true, checksumTrusted: _txChecksumOffload);
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
        return Transmit(device, packet.ToArray()); // not one of ours (ICMP quote scratch, raw send): copy; off the hot path
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
            Span<byte> fragment = _fragmentBuffer.AsSpan(0, headerLength + length);
            payload.Slice(offset, length).CopyTo(fragment[headerLength..]);
            Ipv4Header.Emit(fragment, header with { MoreFragments = more, FragmentOffset = offset }, length);
            _counters.FragmentsOut++;
            if (!SendToDevice(fragment)) return false;
        }
        return true;
    }

    /// <summary>IPv6 fragmentation at the source (RFC 8200 §4.5), with a fragment header in every fragment.</summary>
    private bool SendFragmentsV6(NetAddress source, NetAddress destination, IpProtocol protocol, int payloadLength)
    {
        ReadOnlySpan<byte> payload = _tx.Array.AsSpan(IpHeaderRoom, payloadLength);
        int headerLength = Ipv6Header.HeaderLength + Ipv6Header.FragmentHeaderLength;
        int chunk = (Mtu - headerLength) & ~7;
        uint id = ++_nextIpv6FragmentId;
        for (int offset = 0; offset < payloadLength; offset += chunk)
        {
            int length = Math.Min(chunk, payloadLength - offset);
            bool more = offset + length < payloadLength;
            Span<byte> fragment = _fragmentBuffer.AsSpan(0, headerLength + length);
            payload.Slice(offset, length).CopyTo(fragment[headerLength..]);
            var header = new Ipv6Header(source, destination, protocol, Options.DefaultTimeToLive,
                HasFragmentHeader: true, FragmentOffset: offset, MoreFragments: more, FragmentIdentification: id);
            Ipv6Header.Emit(fragment, header, length);
            _counters.FragmentsOut++;
            if (!SendToDevice(fragment)) return false;
        }
        return true;
    }
}
