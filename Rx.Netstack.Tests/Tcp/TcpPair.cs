using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Two control blocks back to back over a simulated link, all in memory: headers and payload copies go straight across
/// (no wire encoding), impaired per direction by the same <see cref="ImpairmentOptions"/> an <see cref="ImpairedLink"/>
/// takes and with the same meaning (loss, duplication, reordering, delay, jitter, bandwidth), drawn from a seeded
/// <see cref="Random"/>, with time driven as <see cref="Instant"/> values. Corruption needs bytes on a wire, so it is refused. B is created by <see cref="TcpControlBlock.AcceptSyn"/> when A's first SYN
/// arrives, like a listener would; a segment for a closed block is answered with <see cref="TcpControlBlock.TryMakeResetFor"/>.
/// </summary>
internal sealed class TcpPair
{
    private readonly record struct Packet(bool ToB, TcpHeader Header, byte[] Payload, bool CongestionExperienced = false);

    private static readonly NetEndpoint EndpointA = new(NetAddress.V4(10, 0, 0, 1), 40000);
    private static readonly NetEndpoint EndpointB = new(NetAddress.V4(10, 0, 0, 2), 80);

    private readonly PriorityQueue<Packet, (long, long)> _inFlight = new();
    private readonly Random _random;
    private readonly ImpairmentOptions _impairment;
    private readonly TcpSettings _settingsB;
    private readonly int _mss;
    private readonly uint _isnB;
    private readonly Instant[] _linkFreeAt = [default, default];
    private long _order;
    private SeqNumber? _highestA, _highestB;

    /// <summary>The link most tests use: 10 ms each way, nothing else.</summary>
    public static ImpairmentOptions CleanLink { get; } = new() { Delay = TimeSpan.FromMilliseconds(10) };

    public TcpPair(TcpSettings settingsA, TcpSettings settingsB, ImpairmentOptions link, int seed, int mss = 1460,
        uint isnA = 1_000_000, uint isnB = 2_000_000)
    {
        link.Validate();
        if (link.Corruption > 0) throw new ArgumentException("TcpPair carries headers, not bytes: it cannot corrupt a frame.", nameof(link));
        _random = new Random(seed);
        _impairment = link;
        _settingsB = settingsB;
        _mss = mss;
        _isnB = isnB;
        ContextA = new TcpStackContext();
        ContextB = new TcpStackContext();
        A = TcpControlBlock.Connect(ContextA, EndpointA, EndpointB, settingsA, mss, new SeqNumber(isnA), Now);
    }

    public TcpControlBlock A { get; }
    public TcpControlBlock? B { get; private set; }
    public TcpStackContext ContextA { get; }
    public TcpStackContext ContextB { get; }
    public Instant Now { get; private set; }

    /// <summary>Decides whether a packet is dropped on purpose (besides random loss). Called once per packet sent.</summary>
    public Func<bool, TcpHeader, int, bool>? DropFilter { get; set; }

    /// <summary>Sees every packet put on the link (for debugging a failing run).</summary>
    public Action<Instant, bool, TcpHeader, int>? Trace { get; set; }

    /// <summary>
    /// Runs after every step: the applications on both sides. Returns true while it still has work (unread data, data to
    /// write), so it is run again a millisecond later even if the connections have nothing to do.
    /// </summary>
    public Func<TcpPair, bool>? Application { get; set; }

    private static readonly TimeSpan ApplicationTick = TimeSpan.FromMilliseconds(1);

    /// <summary>Payload bytes A (index 0) and B (index 1) sent below their highest sequence number sent so far.</summary>
    public long[] RetransmittedBytes { get; } = new long[2];

    /// <summary>Packets the link dropped per direction (random loss, not <see cref="DropFilter"/>).</summary>
    public long[] LinkLosses { get; } = new long[2];

    /// <summary>Packets the link marked CE instead of dropping per direction (<see cref="ImpairmentOptions.CongestionMarking"/>).</summary>
    public long[] CongestionMarks { get; } = new long[2];

    /// <summary>Packets put on the link per direction.</summary>
    public long[] PacketsSent { get; } = new long[2];

    /// <summary>Runs the simulation until <paramref name="done"/> holds; false if <paramref name="limit"/> of simulated time passed first.</summary>
    public bool RunUntil(Func<TcpPair, bool> done, TimeSpan limit, int maxSteps = 5_000_000)
    {
        Instant end = Now + limit;
        for (int step = 0; step < maxSteps; step++)
        {
            bool busy = Application?.Invoke(this) ?? false;
            Pump();
            if (done(this)) return true;
            Instant next = Instant.Min(A.PollAt, B?.PollAt ?? Instant.Never);
            if (busy) next = Instant.Min(next, Now + ApplicationTick);
            if (_inFlight.TryPeek(out _, out var due)) next = Instant.Min(next, new Instant(due.Item1));
            if (next.IsNever || next > end) return done(this);
            if (next > Now) Now = next;
            while (_inFlight.TryPeek(out _, out var d) && d.Item1 <= Now.Ticks)
                Deliver(_inFlight.Dequeue());
            if (A.PollAt <= Now) A.OnTimer(Now);
            if (B is not null && B.PollAt <= Now) B.OnTimer(Now);
        }
        return false;
    }

    private void Deliver(Packet p)
    {
        if (p.ToB)
        {
            if (B is null)
            {
                if ((p.Header.Flags & ~(TcpFlags.Ece | TcpFlags.Cwr)) != TcpFlags.Syn) return; // an ECN-setup SYN too
                B = TcpControlBlock.AcceptSyn(ContextB, EndpointB, EndpointA, p.Header, _settingsB, _mss, new SeqNumber(_isnB), Now);
                return;
            }
            Give(B, p, toB: true);
        }
        else
        {
            Give(A, p, toB: false);
        }
    }

    private void Give(TcpControlBlock tcb, Packet p, bool toB)
    {
        if (tcb.State == TcpState.Closed)
        {
            // The engine would find no connection: answer with a reset (RFC 9293 §3.10.7.1).
            if (TcpControlBlock.TryMakeResetFor(p.Header, p.Payload.Length, out var rst)) Enqueue(!toB, rst, []);
            return;
        }
        tcb.Process(Now, p.Header, p.Payload, congestionExperienced: p.CongestionExperienced);
    }

    private void Pump()
    {
        Drain(A, toB: true);
        if (B is not null) Drain(B, toB: false);
    }

    private void Drain(TcpControlBlock tcb, bool toB)
    {
        for (int guard = 0; guard < 100_000; guard++)
        {
            if (!tcb.TryGetSegment(Now, out TcpHeader h, out int len)) return;
            var payload = new byte[len];
            tcb.CopyPayload(payload);
            CountRetransmission(toB, h, len);
            Trace?.Invoke(Now, toB, h, len);
            if (DropFilter?.Invoke(toB, h, len) == true) continue;
            Enqueue(toB, h, payload, tcb.SendEcnCapable);
        }
        throw new InvalidOperationException("A connection kept emitting segments.");
    }

    private void CountRetransmission(bool fromA, TcpHeader h, int len)
    {
        if (len == 0) return;
        ref SeqNumber? highest = ref fromA ? ref _highestA : ref _highestB;
        SeqNumber end = h.Sequence + len;
        if (highest is { } hi)
        {
            if (h.Sequence < hi) RetransmittedBytes[fromA ? 0 : 1] += Math.Min(len, hi - h.Sequence);
            if (end > hi) highest = end;
        }
        else
        {
            highest = end;
        }
    }

    /// <summary>
    /// Puts a packet on the link, deciding its fate as <c>LinkImpairer</c> does: lost? duplicated? held back? Then it is
    /// delivered when the link is free, plus its serialisation time at the bandwidth (an IPv4 packet: 20 bytes of IP header,
    /// the TCP header the wire layer would write, the payload), plus the delay, a jitter and the reorder delay if held back.
    /// </summary>
    private void Enqueue(bool toB, TcpHeader h, byte[] payload, bool ecnCapable = false)
    {
        int dir = toB ? 0 : 1;
        PacketsSent[dir]++;
        ImpairmentOptions o = _impairment;
        bool marked = false;
        if (o.Loss > 0 && _random.NextDouble() < o.Loss)
        {
            if (!o.CongestionMarking || !ecnCapable)
            {
                LinkLosses[dir]++;
                return;
            }
            marked = true; // CE instead of a drop (RFC 3168 §5), as ImpairedLink does
            CongestionMarks[dir]++;
        }
        int copies = o.Duplication > 0 && _random.NextDouble() < o.Duplication ? 2 : 1;
        bool holdBack = o.Reordering > 0 && _random.NextDouble() < o.Reordering;
        Instant start = _linkFreeAt[dir] > Now ? _linkFreeAt[dir] : Now;
        if (o.BandwidthBytesPerSecond > 0)
        {
            long bytes = Ipv4Header.HeaderLength + h.Length + payload.Length;
            start += TimeSpan.FromTicks((bytes * TimeSpan.TicksPerSecond + o.BandwidthBytesPerSecond - 1) / o.BandwidthBytesPerSecond);
        }
        _linkFreeAt[dir] = start;
        Instant at = start + o.Delay;
        if (o.Jitter > TimeSpan.Zero) at += TimeSpan.FromTicks((long)(_random.NextDouble() * (o.Jitter.Ticks + 1)));
        if (holdBack) at += o.ReorderDelay;
        for (int i = 0; i < copies; i++)
            _inFlight.Enqueue(new Packet(toB, h, payload, marked), (at.Ticks, _order++));
    }
}

/// <summary>Applications on both ends of a <see cref="TcpPair"/>: each writes its stream, half-closes, and reads to EOF.</summary>
internal sealed class StreamExchange : IDisposable
{
    public void Dispose()
    {
        _receivedByA.Dispose();
        _receivedByB.Dispose();
    }

    private readonly byte[] _fromA, _fromB;
    private readonly MemoryStream _receivedByA = new(), _receivedByB = new();
    private int _writtenA, _writtenB;
    private readonly byte[] _scratch = new byte[64 * 1024];

    public StreamExchange(byte[] fromA, byte[] fromB, int readChunk = 64 * 1024)
    {
        _fromA = fromA;
        _fromB = fromB;
        _readChunk = Math.Clamp(readChunk, 1, _scratch.Length);
    }

    private readonly int _readChunk;

    public byte[] ReceivedByA => _receivedByA.ToArray();
    public byte[] ReceivedByB => _receivedByB.ToArray();

    public bool Run(TcpPair pair)
    {
        bool busy = Step(pair.A, _fromA, ref _writtenA, _receivedByA);
        if (pair.B is not null) busy |= Step(pair.B, _fromB, ref _writtenB, _receivedByB);
        return busy;
    }

    private bool Step(TcpControlBlock tcb, byte[] source, ref int written, MemoryStream sink)
    {
        if (tcb.State is TcpState.SynSent or TcpState.SynReceived) return false;
        if (written < source.Length)
        {
            int n = tcb.Send(source.AsSpan(written));
            if (n > 0) written += n;
            if (written == source.Length) tcb.ShutdownWrite();
        }
        else if (source.Length == 0 && tcb.State is TcpState.Established or TcpState.CloseWait)
        {
            tcb.ShutdownWrite();
        }
        // A slow reader takes at most one chunk a step; a fast one drains everything.
        for (int guard = 0; guard < 1000; guard++)
        {
            int r = tcb.Receive(_scratch.AsSpan(0, _readChunk));
            if (r <= 0) break;
            sink.Write(_scratch, 0, r);
            if (_readChunk < _scratch.Length) break;
        }
        return tcb.ReceiveAvailable > 0 || (written < source.Length && tcb.State != TcpState.Closed);
    }

    public bool Done(TcpPair pair) =>
        _receivedByA.Length == _fromB.Length && _receivedByB.Length == _fromA.Length
        && pair.A.ReceiveFinished && pair.B is { ReceiveFinished: true }
        && pair.A.State is TcpState.TimeWait or TcpState.Closed && pair.B.State is TcpState.TimeWait or TcpState.Closed;
}
