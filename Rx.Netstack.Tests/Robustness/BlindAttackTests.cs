using System.Reactive.Disposables;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>
/// RFC 5961 blind in-window attacks at a live connection (server side on stack B): an attacker who knows the 4-tuple but
/// not the sequence numbers forges RST, SYN and data. B must answer in-window forgeries with (rate-limited) challenge ACKs
/// and never tear the connection down, except for a RST at exactly RCV.NXT (§3.2).
/// </summary>
public sealed class BlindAttackTests : IDisposable
{
    private readonly StackPair _pair = new();
    private readonly List<byte[]> _fromB = [];
    private readonly List<byte[]> _toB = [];
    private readonly TcpConnection _client, _server;
    private readonly CompositeDisposable _taps;

    public BlindAttackTests()
    {
        var s = _pair.Scheduler;
        var a = _pair.DeviceA.Received.Subscribe(f => _fromB.Add(f.ToArray()));
        var b = _pair.DeviceB.Received.Subscribe(f => _toB.Add(f.ToArray()));
        _taps = new System.Reactive.Disposables.CompositeDisposable(a, b);
        var listener = s.Await(TcpConnectionListener.ListenAsync(_pair.B, new NetEndpoint(NetAddress.AnyV4, 80)));
        var accept = listener.AcceptAsync();
        _client = s.Await(TcpConnection.ConnectAsync(_pair.A, new NetEndpoint(StackPair.B4, 80)));
        _server = s.Await(accept);
        Exchange("hello");
    }

    public void Dispose()
    {
        _taps.Dispose();
        _pair.Dispose();
    }

    /// <summary>A → B and back, then idle long enough for every delayed ACK: both sides agree on every number.</summary>
    private void Exchange(string text)
    {
        var s = _pair.Scheduler;
        s.Await(_client.SendAsync(System.Text.Encoding.ASCII.GetBytes(text)));
        var buffer = new byte[100];
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(buffer, 0, s.Await(_server.ReadAsync(buffer).AsTask())));
        s.Await(_server.SendAsync(System.Text.Encoding.ASCII.GetBytes(text)));
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(buffer, 0, s.Await(_client.ReadAsync(buffer).AsTask())));
        s.AdvanceBy(TimeSpan.FromMilliseconds(500).Ticks);
    }

    /// <summary>B's RCV.NXT and SND.NXT, read off the last segment A sent on the connection.</summary>
    private (SeqNumber RcvNxt, SeqNumber SndNxt, TcpHeader Last) Numbers() => Numbers(_client.Local.Port);

    /// <summary>B's RCV.NXT and SND.NXT on the connection from A's <paramref name="clientPort"/>.</summary>
    private (SeqNumber RcvNxt, SeqNumber SndNxt, TcpHeader Last) Numbers(ushort clientPort)
    {
        for (int i = _toB.Count - 1; i >= 0; i--)
        {
            if (!Forge.TryReadTcp(_toB[i], out _, out _, out TcpHeader h, out int length) || h.SourcePort != clientPort) continue;
            return (h.Sequence + length + (h.Has(TcpFlags.Fin) ? 1 : 0), h.Acknowledgment, h);
        }
        throw new InvalidOperationException("no segment from A seen");
    }

    private void Inject(TcpFlags flags, SeqNumber seq, SeqNumber ack, byte[]? payload = null)
    {
        var h = new TcpHeader(_client.Local.Port, 80, flags) { Sequence = seq, Acknowledgment = ack, Window = 65535 };
        _pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, StackPair.B4, h, payload));
        _pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
    }

    /// <summary>Segments B sent after <paramref name="mark"/> on the connection.</summary>
    private List<TcpHeader> SentByBSince(int mark) => SentByBSince(mark, _client.Local.Port);

    /// <summary>Segments B sent after <paramref name="mark"/> to A's <paramref name="clientPort"/>.</summary>
    private List<TcpHeader> SentByBSince(int mark, ushort clientPort)
    {
        var list = new List<TcpHeader>();
        for (int i = mark; i < _fromB.Count; i++)
            if (Forge.TryReadTcp(_fromB[i], out _, out _, out TcpHeader h, out _) && h.DestinationPort == clientPort) list.Add(h);
        return list;
    }

    private TcpState ServerState() => _pair.Scheduler.Await(_server.GetInfoAsync()).State;

    [Fact]
    public void In_window_rst_gets_a_challenge_ack_and_the_connection_lives_on()
    {
        var (rcvNxt, sndNxt, _) = Numbers();
        int mark = _fromB.Count;
        long challenges = _pair.B.TcpCounters.ChallengeAcksSent;
        Inject(TcpFlags.Rst, rcvNxt + 100, default);
        Inject(TcpFlags.Rst | TcpFlags.Ack, rcvNxt + 1, sndNxt);
        var sent = SentByBSince(mark);
        Assert.Equal(2, sent.Count);
        Assert.All(sent, h => Assert.Equal(TcpFlags.Ack, h.Flags & (TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Syn)));
        Assert.All(sent, h => Assert.Equal(rcvNxt, h.Acknowledgment)); // the challenge ACK names the real RCV.NXT
        Assert.Equal(challenges + 2, _pair.B.TcpCounters.ChallengeAcksSent);
        Assert.Equal(TcpState.Established, ServerState());
        Exchange("still alive");
    }

    [Fact]
    public void Out_of_window_rst_is_dropped_silently()
    {
        var (rcvNxt, _, _) = Numbers();
        int mark = _fromB.Count;
        Inject(TcpFlags.Rst, rcvNxt + 1_000_000, default);
        Inject(TcpFlags.Rst, rcvNxt - 1, default);
        Assert.Empty(SentByBSince(mark));
        Assert.Equal(TcpState.Established, ServerState());
        Exchange("still alive");
    }

    [Fact]
    public void Rst_at_exactly_rcv_nxt_resets_the_connection()
    {
        var (rcvNxt, _, _) = Numbers();
        var read = _server.ReadAsync(new byte[10]).AsTask();
        Inject(TcpFlags.Rst, rcvNxt, default);
        var error = Assert.Throws<NetstackException>(() => _pair.Scheduler.Await(read));
        Assert.Equal(NetstackErrorKind.ConnectionReset, error.Kind);
    }

    [Theory]
    [InlineData(0)]          // RFC 5961 §4.2: any SYN in a synchronized state, in window or not
    [InlineData(1000)]
    [InlineData(-5_000_000)]
    public void Syn_gets_a_challenge_ack_and_the_connection_lives_on(int offset)
    {
        var (rcvNxt, _, _) = Numbers();
        int mark = _fromB.Count;
        Inject(TcpFlags.Syn, rcvNxt + offset, default);
        var sent = SentByBSince(mark);
        Assert.Single(sent);
        Assert.Equal(TcpFlags.Ack, sent[0].Flags & (TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Syn));
        Assert.Equal(rcvNxt, sent[0].Acknowledgment);
        Assert.Equal(TcpState.Established, ServerState());
        Exchange("still alive");
    }

    [Fact]
    public void In_window_data_with_an_unacceptable_ack_is_not_delivered_and_gets_a_challenge_ack()
    {
        var (rcvNxt, sndNxt, _) = Numbers();
        int mark = _fromB.Count;
        long challenges = _pair.B.TcpCounters.ChallengeAcksSent;
        Inject(TcpFlags.Ack | TcpFlags.Psh, rcvNxt, sndNxt + 1_000_000, "EVIL"u8.ToArray()); // acknowledges data never sent
        Inject(TcpFlags.Ack | TcpFlags.Psh, rcvNxt, sndNxt - 2_000_000_000, "EVIL"u8.ToArray()); // far too old (§5.2)
        Assert.Equal(challenges + 2, _pair.B.TcpCounters.ChallengeAcksSent);
        Assert.Equal(2, SentByBSince(mark).Count);
        Assert.Equal(0, _pair.Scheduler.Await(_server.GetInfoAsync()).ReceiveQueued);
        Exchange("still alive"); // the real byte stream is not polluted by EVIL
    }

    [Fact]
    public void Out_of_window_data_gets_a_duplicate_ack_and_is_not_delivered()
    {
        var (rcvNxt, sndNxt, _) = Numbers();
        int mark = _fromB.Count;
        Inject(TcpFlags.Ack, rcvNxt + 5_000_000, sndNxt, "EVIL"u8.ToArray());
        var sent = SentByBSince(mark);
        Assert.Single(sent);
        Assert.Equal(rcvNxt, sent[0].Acknowledgment);
        Assert.Equal(0, _pair.Scheduler.Await(_server.GetInfoAsync()).ReceiveQueued);
        Exchange("still alive");
    }

    [Fact]
    public void Challenge_acks_are_rate_limited_stack_wide()
    {
        var (rcvNxt, _, _) = Numbers();
        long sentBefore = _pair.B.TcpCounters.ChallengeAcksSent;
        for (int i = 0; i < 5000; i++)
        {
            var h = new TcpHeader(_client.Local.Port, 80, TcpFlags.Rst) { Sequence = rcvNxt + 1 + i };
            _pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, StackPair.B4, h));
        }
        _pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        long sent = _pair.B.TcpCounters.ChallengeAcksSent - sentBefore;
        Assert.InRange(sent, 500, 1499); // RFC 5961 §7: 1,000 a second on average, each second's budget drawn at random
        Assert.True(_pair.B.TcpCounters.ChallengeAcksSuppressed >= 5000 - sent);
        Assert.Equal(TcpState.Established, ServerState());
        Exchange("still alive");
    }

    /// <summary>
    /// Several connections forged at in turn, pass after pass over three seconds: the limit is one budget for the whole
    /// stack per one-second window, drawn from [500, 1,500) (CVE-2016-5696), shared by every connection under attack, and
    /// every connection lives on.
    /// </summary>
    [Fact]
    public void Challenge_acks_share_one_randomized_budget_per_second_across_connections_and_passes()
    {
        var s = _pair.Scheduler;
        var listener = s.Await(TcpConnectionListener.ListenAsync(_pair.B, new NetEndpoint(NetAddress.AnyV4, 81)));
        var clients = new List<(TcpConnection Client, TcpConnection Server)> { (_client, _server) };
        for (int i = 0; i < 2; i++)
        {
            var accept = listener.AcceptAsync();
            var client = s.Await(TcpConnection.ConnectAsync(_pair.A, new NetEndpoint(StackPair.B4, 81)));
            clients.Add((client, s.Await(accept)));
        }
        foreach (var (client, server) in clients) RoundTrip(client, server, "ready");
        s.AdvanceBy(TimeSpan.FromMilliseconds(500).Ticks);

        const int PerConnectionPerPass = 150, PassesPerWindow = 10, Windows = 3;
        var numbers = clients.Select(c => (Port: c.Client.Local.Port, ServerPort: c.Client.Remote.Port, RcvNxt: Numbers(c.Client.Local.Port).RcvNxt)).ToList();
        long sentBefore = _pair.B.TcpCounters.ChallengeAcksSent, suppressedBefore = _pair.B.TcpCounters.ChallengeAcksSuppressed;
        var perWindow = new List<long>();
        var perConnection = new long[clients.Count];
        for (int window = 0; window < Windows; window++)
        {
            long windowStart = _pair.B.TcpCounters.ChallengeAcksSent;
            for (int pass = 0; pass < PassesPerWindow; pass++)
            {
                int mark = _fromB.Count;
                for (int i = 0; i < PerConnectionPerPass; i++)
                    foreach (var (port, serverPort, rcvNxt) in numbers) // in turn, so every connection meets the shared budget
                    {
                        var h = new TcpHeader(port, serverPort, TcpFlags.Rst) { Sequence = rcvNxt + 1 + i };
                        _pair.DeviceA.Transmit.OnNext(Forge.Tcp(StackPair.A4, StackPair.B4, h));
                    }
                s.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks); // passes 100 ms apart: ten to a window
                for (int c = 0; c < clients.Count; c++) perConnection[c] += SentByBSince(mark, numbers[c].Port).Count;
            }
            perWindow.Add(_pair.B.TcpCounters.ChallengeAcksSent - windowStart);
        }

        long sent = _pair.B.TcpCounters.ChallengeAcksSent - sentBefore;
        long forged = (long)Windows * PassesPerWindow * PerConnectionPerPass * clients.Count;
        Assert.All(perWindow, n => Assert.InRange(n, 500, 1499)); // 4,500 forgeries a window: the budget is what limits
        Assert.Equal(forged, sent + _pair.B.TcpCounters.ChallengeAcksSuppressed - suppressedBefore);
        Assert.Equal(sent, perConnection.Sum()); // every challenge ACK went out, to the connection it answers
        Assert.All(perConnection, n => Assert.True(n > 0, "a connection under attack got no challenge ACK"));
        foreach (var (client, server) in clients)
        {
            Assert.Equal(TcpState.Established, s.Await(server.GetInfoAsync()).State);
            RoundTrip(client, server, "still alive");
        }
    }

    private void RoundTrip(TcpConnection client, TcpConnection server, string text)
    {
        var s = _pair.Scheduler;
        var buffer = new byte[100];
        s.Await(client.SendAsync(System.Text.Encoding.ASCII.GetBytes(text)));
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(buffer, 0, s.Await(server.ReadAsync(buffer).AsTask())));
        s.Await(server.SendAsync(System.Text.Encoding.ASCII.GetBytes(text)));
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(buffer, 0, s.Await(client.ReadAsync(buffer).AsTask())));
    }

    [Fact]
    public void Icmp_fragmentation_needed_quoting_a_sequence_number_outside_the_window_is_ignored()
    {
        // RFC 5927 §4.1: an ICMP error quoting a sequence number we never sent (SND.UNA ≤ SEG.SEQ < SND.NXT fails) is forged.
        var (_, sndNxt, _) = Numbers();
        int mssBefore = _pair.Scheduler.Await(_server.GetInfoAsync()).MaxSegmentSize;
        var quoted = new TcpHeader(80, _client.Local.Port, TcpFlags.Ack) { Sequence = sndNxt + 3_000_000 };
        byte[] quote = Forge.Tcp(StackPair.B4, StackPair.A4, quoted)[..28];
        _pair.DeviceA.Transmit.OnNext(Forge.Icmp(NetAddress.Parse("10.0.0.254"), StackPair.B4, new IcmpHeader(3, 4, Mtu: 576), quote));
        _pair.Scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        Assert.Equal(mssBefore, _pair.Scheduler.Await(_server.GetInfoAsync()).MaxSegmentSize);
        Exchange("still alive");
    }
}
