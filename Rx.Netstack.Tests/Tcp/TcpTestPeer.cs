using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>A segment the connection under test emitted, with when.</summary>
internal sealed record Emitted(Instant At, TcpHeader Header, byte[] Payload, bool EcnCapable = false)
{
    public double AtMs => At.Ticks / (double)TimeSpan.TicksPerMillisecond;

    public override string ToString() =>
        $"@{AtMs}ms [{Header.Flags}] seq={Header.Sequence} ack={Header.Acknowledgment} win={Header.Window} len={Payload.Length}" +
        (Header.SackBlockCount > 0 ? $" sack={string.Join(",", Enumerable.Range(0, Header.SackBlockCount).Select(i => $"{Header.SackBlocks[i].Left}-{Header.SackBlocks[i].Right}"))}" : "");
}

/// <summary>A named condition on an emitted segment.</summary>
internal sealed record Check(string Description, Func<Emitted, bool> Predicate)
{
    public static Check Flags(TcpFlags flags) => new($"flags == {flags}", e => (e.Header.Flags & ~TcpFlags.Psh) == (flags & ~TcpFlags.Psh));
    public static Check HasFlags(TcpFlags flags) => new($"has {flags}", e => e.Header.Has(flags));
    public static Check Seq(uint seq) => new($"seq == {seq}", e => e.Header.Sequence.Value == seq);
    public static Check Ack(uint ack) => new($"ack == {ack}", e => e.Header.Has(TcpFlags.Ack) && e.Header.Acknowledgment.Value == ack);
    public static Check Window(int window) => new($"window == {window}", e => e.Header.Window == window);
    public static Check PayloadLength(int length) => new($"payload length == {length}", e => e.Payload.Length == length);
    public static Check EcnCapable(bool on) => new($"ECT(0) == {on}", e => e.EcnCapable == on);
    public static Check Payload(byte[] bytes) => new($"payload == [{bytes.Length} bytes]", e => e.Payload.AsSpan().SequenceEqual(bytes));
    public static Check Mss(int mss) => new($"mss == {mss}", e => e.Header.MaxSegmentSize == mss);
    public static Check WindowScale(int shift) => new($"window scale == {shift}", e => e.Header.WindowScale == shift);
    public static Check SackPermitted(bool on) => new($"sack-permitted == {on}", e => e.Header.SackPermitted == on);
    public static Check Timestamps(bool on) => new($"timestamps == {on}", e => e.Header.HasTimestamps == on);
    public static Check TsEcho(uint echo) => new($"TSecr == {echo}", e => e.Header.HasTimestamps && e.Header.TimestampEcho == echo);
    public static Check SackBlocks(params (uint Left, uint Right)[] blocks) => new(
        $"sack == {string.Join(",", blocks.Select(b => $"{b.Left}-{b.Right}"))}",
        e => e.Header.SackBlockCount == blocks.Length
            && blocks.Select((b, i) => e.Header.SackBlocks[i] == new SackBlock(new SeqNumber(b.Left), new SeqNumber(b.Right))).All(x => x));
    public static Check FirstSackBlock(uint left, uint right) => new(
        $"first sack == {left}-{right}",
        e => e.Header.SackBlockCount > 0 && e.Header.SackBlocks[0] == new SackBlock(new SeqNumber(left), new SeqNumber(right)));
}

/// <summary>
/// A transcript harness around one <see cref="TcpControlBlock"/>: the test plays the peer, sending segments at given
/// milliseconds and expecting what the connection emits, at exactly which millisecond. Time only moves forward; between
/// steps the harness runs the connection's timers at their exact deadlines, like the engine does.
/// </summary>
internal sealed class TcpTestPeer
{
    public static readonly NetEndpoint LocalEndpoint = new(NetAddress.V4(10, 0, 0, 1), 80);
    public static readonly NetEndpoint RemoteEndpoint = new(NetAddress.V4(10, 0, 0, 2), 50000);
    public const int Mss = 1460;

    private readonly Queue<Emitted> _output = new();

    public TcpTestPeer(TcpControlBlock tcb, TcpStackContext context)
    {
        Tcb = tcb;
        Context = context;
        StrictTranscriptsAttribute.Track(this);
    }

    /// <summary>Segments emitted and not yet taken by an <c>Expect</c>, <c>TakeAll</c> or <c>ExpectNothing</c>.</summary>
    public IReadOnlyCollection<Emitted> Unconsumed => _output;

    public TcpControlBlock Tcb { get; }
    public TcpStackContext Context { get; }
    public Instant Now { get; private set; }

    /// <summary>Settings for transcripts with exact numbers: no options but MSS unless a test turns them on.</summary>
    public static TcpSettings PlainSettings => new()
    {
        EnableSack = false,
        EnableTimestamps = false,
        EnableWindowScale = false,
        CongestionControl = Rx.Netstack.Tcp.Congestion.CongestionControlAlgorithm.NewReno,
    };

    public static Instant At(double ms) => new((long)(ms * TimeSpan.TicksPerMillisecond));

    public static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    /// <summary>An active opener at 0 ms with ISN <paramref name="isn"/>.</summary>
    public static TcpTestPeer Client(uint isn = 1000, TcpSettings? settings = null, TcpStackContext? context = null)
    {
        context ??= new TcpStackContext();
        var tcb = TcpControlBlock.Connect(context, LocalEndpoint, RemoteEndpoint, settings ?? PlainSettings, Mss, new SeqNumber(isn), At(0));
        var peer = new TcpTestPeer(tcb, context);
        peer.Drain();
        return peer;
    }

    /// <summary>A passive opener that got <paramref name="syn"/> at 0 ms and chose ISN <paramref name="isn"/>.</summary>
    public static TcpTestPeer Server(TcpHeader syn, uint isn = 5000, TcpSettings? settings = null, TcpStackContext? context = null, byte[]? synData = null)
    {
        context ??= new TcpStackContext();
        var tcb = TcpControlBlock.AcceptSyn(context, LocalEndpoint, RemoteEndpoint, syn, settings ?? PlainSettings, Mss, new SeqNumber(isn), At(0), synData);
        var peer = new TcpTestPeer(tcb, context);
        peer.Drain();
        return peer;
    }

    /// <summary>A segment from the peer to the connection (ports filled in).</summary>
    public static TcpHeader Seg(TcpFlags flags, uint seq, uint ack = 0, ushort window = 65535) =>
        new(RemoteEndpoint.Port, LocalEndpoint.Port, flags)
        {
            Sequence = new SeqNumber(seq),
            Acknowledgment = new SeqNumber(ack),
            Window = window,
        };

    /// <summary>Advances to <paramref name="ms"/> (running timers on the way) and gives the connection a segment.</summary>
    public void Send(double ms, TcpHeader segment, byte[]? payload = null, bool congestionExperienced = false)
    {
        AdvanceTo(At(ms));
        Tcb.Process(Now, segment, payload ?? [], congestionExperienced: congestionExperienced);
        Drain();
    }

    /// <summary>Runs a user action at <paramref name="ms"/> and collects what it makes the connection send.</summary>
    public void Do(double ms, Action<TcpControlBlock> action)
    {
        AdvanceTo(At(ms));
        action(Tcb);
        Drain();
    }

    /// <summary>Expects the next emitted segment to come out at exactly <paramref name="ms"/> and pass every check.</summary>
    public Emitted Expect(double ms, params Check[] checks)
    {
        AdvanceTo(At(ms));
        if (_output.Count == 0) Assert.Fail($"Expected a segment at {ms} ms, but nothing was sent (state {Tcb.State}).");
        Emitted e = _output.Dequeue();
        Assert.True(e.At == At(ms), $"Expected a segment at {ms} ms, got {e}");
        foreach (Check c in checks)
            Assert.True(c.Predicate(e), $"Segment {e} fails: {c.Description}");
        return e;
    }

    /// <summary>The connection's whole state now, to compare with later ones (<see cref="TcbState"/>).</summary>
    public TcbState Snapshot() => TcbState.Of(Tcb);

    /// <summary>
    /// Asserts the connection's whole state is <paramref name="expected"/> (smoltcp's <c>sanity!</c>): every field of every
    /// part, with the ones that differ listed by name.
    /// </summary>
    public void Sanity(TcbState expected) => TcbState.AssertEqual(expected, Snapshot());

    /// <summary>Expects nothing emitted up to and including <paramref name="ms"/>.</summary>
    public void ExpectNothing(double ms)
    {
        AdvanceTo(At(ms));
        if (_output.Count > 0) Assert.Fail($"Expected nothing up to {ms} ms, got {_output.Peek()}");
    }

    /// <summary>Takes every segment emitted up to <paramref name="ms"/>.</summary>
    public List<Emitted> TakeAll(double ms)
    {
        AdvanceTo(At(ms));
        var list = _output.ToList();
        _output.Clear();
        return list;
    }

    /// <summary>Moves time to <paramref name="to"/>, firing every timer at its exact deadline.</summary>
    public void AdvanceTo(Instant to)
    {
        Assert.True(to >= Now, $"Time goes forward only ({to} < {Now}).");
        for (int guard = 0; ; guard++)
        {
            Assert.True(guard < 100_000, $"Timers keep firing at {Now} (PollAt {Tcb.PollAt}).");
            Drain();
            Instant next = Tcb.PollAt;
            if (next > to) break;
            if (next > Now) Now = next;
            Tcb.OnTimer(Now);
        }
        Now = to;
        Drain();
    }

    private void Drain()
    {
        for (int guard = 0; guard < 10_000; guard++)
        {
            if (!Tcb.TryGetSegment(Now, out TcpHeader h, out int len)) return;
            var payload = new byte[len];
            Tcb.CopyPayload(payload);
            _output.Enqueue(new Emitted(Now, h, payload, Tcb.SendEcnCapable));
        }
        Assert.Fail("The connection kept emitting segments.");
    }
}
