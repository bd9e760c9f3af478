using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Link;

/// <summary>
/// A DHCPv4 client (RFC 2131 §4.4): INIT → SELECTING (discover) → REQUESTING (request the first offer) → BOUND, then at T1
/// RENEWING (unicast to the server), at T2 REBINDING (broadcast), and at the end of the lease back to INIT without the
/// address. With a previous address (a lease lost with the device, or <see cref="EthernetSettings.DhcpPreviousAddress"/>) it
/// starts in INIT-REBOOT: REBOOTING asks for that address again (§4.4.2), and discovers if refused or unanswered.
/// A timer owner; sending and applying go through the link layer.
/// </summary>
internal sealed class DhcpClient(EthernetLayer link, NetstackCounters counters, int seed, NetAddress previous) : TimerOwner
{
    private enum State { Init, Selecting, Requesting, Checking, Bound, Renewing, Rebinding, InitReboot, Rebooting }

    /// <summary>How long an acknowledged new address is probed with ARP before use (RFC 2131 §4.4.1 asks for a check; RFC 5227
    /// §2.1.1's three probes and 2 s ANNOUNCE_WAIT are shortened to one probe and PROBE_MIN, 1 s).</summary>
    private static readonly TimeSpan ProbeWait = TimeSpan.FromSeconds(1);

    /// <summary>The wait after a DECLINE before discovering again (RFC 2131 §3.1.5: at least ten seconds).</summary>
    private static readonly TimeSpan DeclineBackoff = TimeSpan.FromSeconds(10);

    /// <summary>Requests in REBOOTING before discovering instead (RFC 2131 §3.2 leaves the count to the client).</summary>
    private const int RebootRequests = 2;

    /// <summary>The first retransmission delay, doubled up to <see cref="MaxRetransmit"/> (RFC 2131 §4.1: 4 s, 8 s … 64 s).</summary>
    private static readonly TimeSpan FirstRetransmit = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan MaxRetransmit = TimeSpan.FromSeconds(64);

    /// <summary>The shortest wait between requests while renewing or rebinding (RFC 2131 §4.4.5: 60 s; shorter for short leases).</summary>
    private static readonly TimeSpan MinRenewRetransmit = TimeSpan.FromSeconds(60);

    // ---------------------------------------------------------------- state

    /// <summary>Where the client is.</summary>
    private State _state;

    /// <summary>Pairs replies with the current exchange (a new one per DISCOVER and per renewal).</summary>
    private uint _xid;

    /// <summary>The source of transaction ids (seeded per stack: repeatable under a RandomSeed).</summary>
    private readonly Random _random = new(seed);

    /// <summary>When the current exchange began (for the secs field).</summary>
    private Instant _exchangeStart;

    /// <summary>The next retransmission or state timer (Never: none).</summary>
    private Instant _next = Instant.Never;

    /// <summary>The current retransmission delay while selecting or requesting.</summary>
    private TimeSpan _retransmit;

    /// <summary>The offer being requested: its address and server.</summary>
    private NetAddress _offered, _offerServer;

    /// <summary>The lease in force (null: none).</summary>
    private DhcpLease? _lease;

    /// <summary>T1, T2 and the lease's end, while bound.</summary>
    private Instant _renewAt, _rebindAt, _expiresAt;

    /// <summary>The address to ask for again in INIT-REBOOT (unspecified: none known).</summary>
    private NetAddress _previous = previous;

    /// <summary>Requests sent in the current REBOOTING.</summary>
    private int _rebootRequests;

    /// <summary>The ACK of the address being probed (CHECKING), applied when no one answers for it.</summary>
    private DhcpMessage _pendingAck;

    public override Instant PollAt => _next;

    /// <summary>The lease in force, if any.</summary>
    public DhcpLease? Lease => _lease;

    /// <summary>Starts (or restarts) with a DISCOVER now.</summary>
    public void Start(Instant now)
    {
        _state = _previous.IsUnspecified ? State.Init : State.InitReboot;
        _next = now;
    }

    /// <summary>
    /// Gives the lease up (the stack is disposed): a DHCPRELEASE to its server from the leased address, with the server
    /// identifier (RFC 2131 §4.4.6, §4.4.1 table 5); the lease is returned for the caller to remove. Null without a lease.
    /// </summary>
    public DhcpLease? Release(Instant now)
    {
        if (_lease is not { } lease) return null;
        _xid = (uint)_random.Next();
        _exchangeStart = now;
        link.SendDhcp(new DhcpMessage(DhcpMessageType.Release, _xid, link.Mac, ClientAddress: lease.Address.Address,
            ServerIdentifier: lease.Server), lease.Server, now, unresolvedToBroadcast: true);
        Stop();
        _previous = default; // given back: not ours to ask for again
        return lease;
    }

    /// <summary>Stops without a release (the device is gone); a lease in force is dropped by the caller.</summary>
    public void Stop()
    {
        if (_lease is { } lease) _previous = lease.Address.Address; // asked for again when a device comes back (INIT-REBOOT)
        _state = State.Init;
        _next = Instant.Never;
        _lease = null;
    }

    public override void OnTimer(Instant now)
    {
        switch (_state)
        {
            case State.Init:
                _xid = (uint)_random.Next();
                _exchangeStart = now;
                _retransmit = FirstRetransmit;
                _state = State.Selecting;
                SendDiscover(now);
                break;
            case State.Selecting:
                SendDiscover(now);
                break;
            case State.InitReboot:
                // RFC 2131 §4.4.2, table 5: broadcast, the previous address as requested address, no server identifier, no ciaddr.
                _xid = (uint)_random.Next();
                _exchangeStart = now;
                _retransmit = FirstRetransmit;
                _rebootRequests = 0;
                _offered = _previous;
                _offerServer = default;
                _state = State.Rebooting;
                goto case State.Rebooting;
            case State.Rebooting:
                if (_rebootRequests++ == RebootRequests)
                {
                    _previous = default; // no answer: discover (RFC 2131 §3.2 step 4 lets the client give up)
                    Start(now);
                    goto case State.Init;
                }
                SendRequest(now, _previous, default, ciaddr: default, broadcast: true);
                Backoff(now);
                break;
            case State.Requesting:
                if (_retransmit > MaxRetransmit) { Start(now); break; } // no answer: start over (RFC 2131 §4.4.1)
                SendRequest(now, _offered, _offerServer, ciaddr: default, broadcast: true);
                Backoff(now);
                break;
            case State.Checking:
                Bind(_pendingAck, now); // nobody claimed the address
                break;
            case State.Bound when now >= _renewAt:
                _state = State.Renewing;
                _xid = (uint)_random.Next();
                _exchangeStart = now;
                goto case State.Renewing;
            case State.Renewing when now >= _rebindAt:
                _state = State.Rebinding;
                goto case State.Rebinding;
            case State.Renewing:
                link.SendDhcp(Request(now, default, default, _lease!.Address.Address, broadcast: false), _lease.Server, now);
                _next = Instant.Min(_rebindAt, now + RenewRetransmit(_rebindAt - now));
                break;
            case State.Rebinding when now >= _expiresAt:
                Lost(now);
                break;
            case State.Rebinding:
                link.SendDhcp(Request(now, default, default, _lease!.Address.Address, broadcast: true), NetAddress.V4(0xFFFF_FFFF), now);
                _next = Instant.Min(_expiresAt, now + RenewRetransmit(_expiresAt - now));
                break;
        }
    }

    /// <summary>RFC 2131 §4.4.5: half the time left, but not under a minimum (60 s, or a quarter of what is left for a short lease).</summary>
    private static TimeSpan RenewRetransmit(TimeSpan left) =>
        TimeSpan.FromTicks(Math.Max(left.Ticks / 2, Math.Min(MinRenewRetransmit.Ticks, left.Ticks / 4 + 1)));

    private void Backoff(Instant now)
    {
        _next = now + _retransmit;
        _retransmit += _retransmit;
    }

    private void SendDiscover(Instant now)
    {
        var discover = new DhcpMessage(DhcpMessageType.Discover, _xid, link.Mac, Broadcast: true, Seconds: Seconds(now));
        link.SendDhcp(discover, NetAddress.V4(0xFFFF_FFFF), now);
        _next = now + _retransmit;
        if (_retransmit < MaxRetransmit) _retransmit += _retransmit;
    }

    private void SendRequest(Instant now, NetAddress requested, NetAddress server, NetAddress ciaddr, bool broadcast) =>
        link.SendDhcp(Request(now, requested, server, ciaddr, broadcast), NetAddress.V4(0xFFFF_FFFF), now);

    private DhcpMessage Request(Instant now, NetAddress requested, NetAddress server, NetAddress ciaddr, bool broadcast) =>
        new(DhcpMessageType.Request, _xid, link.Mac, Broadcast: broadcast, Seconds: Seconds(now), ClientAddress: ciaddr,
            RequestedAddress: requested, ServerIdentifier: server);

    private ushort Seconds(Instant now) => (ushort)Math.Min(ushort.MaxValue, (now - _exchangeStart).TotalSeconds);

    /// <summary>A server's message for us (UDP 67 → 68, checked by the link layer).</summary>
    public void Receive(in DhcpMessage message, Instant now)
    {
        if (!message.Reply || message.TransactionId != _xid || message.ClientMac != link.Mac)
        {
            counters.Drop(DropReason.DhcpIgnored);
            return;
        }
        switch (message.Type)
        {
            case DhcpMessageType.Offer when _state == State.Selecting && !message.YourAddress.IsUnspecified && !message.ServerIdentifier.IsUnspecified:
                // RFC 2131 §4.4.1: the first acceptable offer; request it from its server, by broadcast (others learn it was declined).
                _offered = message.YourAddress;
                _offerServer = message.ServerIdentifier;
                _state = State.Requesting;
                _retransmit = FirstRetransmit;
                SendRequest(now, _offered, _offerServer, default, broadcast: true);
                Backoff(now);
                break;
            case DhcpMessageType.Ack when _state == State.Requesting && message.LeaseTime > 0:
                // RFC 2131 §4.4.1 / RFC 5227 §2.1: probe a new address before using it.
                _pendingAck = message;
                _state = State.Checking;
                link.SendArpProbe(message.YourAddress.IsUnspecified ? _offered : message.YourAddress);
                _next = now + ProbeWait;
                break;
            case DhcpMessageType.Ack when _state is State.Renewing or State.Rebinding or State.Rebooting && message.LeaseTime > 0:
                Bind(message, now);
                break;
            case DhcpMessageType.Nak when _state is State.Requesting or State.Renewing or State.Rebinding or State.Rebooting:
                _previous = default; // refused (RFC 2131 §3.2 step 3: the client restarts the configuration process)
                if (_lease is not null) Lost(now);
                else Start(now);
                break;
            default:
                counters.Drop(DropReason.DhcpIgnored);
                break;
        }
    }

    /// <summary>BOUND: T1 and T2 from the server or RFC 2131 §4.4.5's defaults (half and seven eighths of the lease).</summary>
    private void Bind(in DhcpMessage ack, Instant now)
    {
        NetAddress address = ack.YourAddress.IsUnspecified ? _lease?.Address.Address ?? _offered : ack.YourAddress;
        NetAddress server = ack.ServerIdentifier.IsUnspecified ? _lease?.Server ?? _offerServer : ack.ServerIdentifier;
        var leaseTime = TimeSpan.FromSeconds(ack.LeaseTime);
        bool renewed = _lease is not null && _lease.Address.Address == address;
        var lease = new DhcpLease(new InterfaceAddress(address, ack.SubnetMaskLength is >= 0 and <= 32 ? ack.SubnetMaskLength : 24),
            ack.Router.IsUnspecified ? (NetAddress?)null : ack.Router, ack.DnsServers ?? [], server, leaseTime, now.ToDateTimeOffset());
        DhcpLease? previous = _lease;
        _lease = lease;
        _state = State.Bound;
        _expiresAt = ack.LeaseTime == uint.MaxValue ? Instant.Never : now + leaseTime;
        _renewAt = now + (ack.RenewalTime != 0 ? TimeSpan.FromSeconds(ack.RenewalTime) : leaseTime / 2);
        _rebindAt = now + (ack.RebindingTime != 0 ? TimeSpan.FromSeconds(ack.RebindingTime) : leaseTime * 7 / 8);
        if (_rebindAt < _renewAt) _rebindAt = _renewAt;
        _next = _expiresAt.IsNever ? Instant.Never : _renewAt;
        link.ApplyLease(previous, lease, _expiresAt, renewed ? DhcpLeaseChange.Renewed : DhcpLeaseChange.Bound);
    }

    /// <summary>
    /// An ARP packet, seen while an acknowledged address is probed: another host using it (as sender) or probing for it too
    /// (RFC 5227 §2.1.1) makes the client decline it — a broadcast DHCPDECLINE naming the address and the server (RFC 2131
    /// §4.4.1) — and discover again after <see cref="DeclineBackoff"/>. True when it was such a conflict.
    /// </summary>
    public bool ReceiveArp(in ArpPacket arp, Instant now)
    {
        if (_state != State.Checking) return false;
        NetAddress address = _pendingAck.YourAddress.IsUnspecified ? _offered : _pendingAck.YourAddress;
        if (arp.SenderProtocol != address && !(arp.SenderProtocol.IsUnspecified && arp.TargetProtocol == address)) return false;
        counters.AddressConflicts++;
        link.SendDhcp(new DhcpMessage(DhcpMessageType.Decline, _xid, link.Mac, RequestedAddress: address,
            ServerIdentifier: _pendingAck.ServerIdentifier.IsUnspecified ? _offerServer : _pendingAck.ServerIdentifier), NetAddress.V4(0xFFFF_FFFF), now);
        _previous = default;
        _state = State.Init;
        _next = now + DeclineBackoff;
        return true;
    }

    private void Lost(Instant now)
    {
        _previous = default;
        DhcpLease? lost = _lease;
        _lease = null;
        if (lost is not null) link.RemoveLease(lost);
        Start(now);
    }
}
