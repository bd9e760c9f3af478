using System.Buffers.Binary;
using System.Reactive.Subjects;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// TCP segmentation offload on transmit: with a device that cuts TCP super-segments (and finishes checksums), new data leaves
/// in packets larger than the MTU made of whole MSS-sized segments, never more than the window and cwnd allow; without it,
/// or when the connection's MSS is not the device MTU's, nothing exceeds the MTU.
/// </summary>
public sealed class TcpSegmentationOffloadTests
{
    private static readonly NetAddress Us = NetAddress.Parse("10.0.0.1"), Peer = NetAddress.Parse("10.0.0.2");
    private const ushort PeerPort = 80;

    /// <summary>A TCP segment from the peer to us, built with the stack's own emitters (checksums complete).</summary>
    private static byte[] FromPeer(ushort ourPort, TcpHeader header)
    {
        var packet = new byte[20 + 60];
        int length = Rx.Netstack.Wire.TcpHeader.Emit(packet.AsSpan(20), header with { SourcePort = PeerPort, DestinationPort = ourPort }, 0, Peer, Us);
        Ipv4Header.Emit(packet, new Ipv4Header(Peer, Us, IpProtocol.Tcp), length);
        return packet[..(20 + length)];
    }

    private readonly record struct Sent(uint Sequence, uint Acknowledgment, TcpFlags Flags, int TcpHeaderLength, int PayloadLength, int FrameLength);

    private static Sent Parse(byte[] frame)
    {
        int ip = (frame[0] & 0x0f) * 4;
        int tcpHeader = (frame[ip + 12] >> 4) * 4;
        return new Sent(
            BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(ip + 4)),
            BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(ip + 8)),
            (TcpFlags)frame[ip + 13], tcpHeader,
            BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)) - ip - tcpHeader, frame.Length);
    }

    /// <summary>
    /// Connects to the hand-played peer (which answers with <paramref name="peerMss"/> and <paramref name="peerWindow"/>, no other
    /// options), queues <paramref name="bytes"/> and lets the engine send what it may before any ACK: the data segments sent.
    /// </summary>
    private static (List<Sent> Data, ManualDevice Device, Action<uint, ushort> Ack, TestScheduler Scheduler) FirstFlight(bool tso, ChecksumOffload offload, ushort peerMss, ushort peerWindow, int bytes)
    {
        var s = new TestScheduler();
        var stack = new Netstack(new NetstackOptions { Addresses = [new(Us, 24)], RunContinuationsInline = true }, s);
        var device = new ManualDevice { ChecksumOffload = offload, TcpSegmentationOffload = tso };
        stack.Attach(device);
        Task<TcpConnection> connecting = TcpConnection.ConnectAsync(stack, new NetEndpoint(Peer, PeerPort), settings: new TcpSettings { SendBufferSize = 1 << 20 });
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        byte[] syn = Assert.Single(device.Sent);
        int ip = (syn[0] & 0x0f) * 4;
        ushort ourPort = BinaryPrimitives.ReadUInt16BigEndian(syn.AsSpan(ip));
        uint iss = Parse(syn).Sequence;
        const uint peerIss = 5000;
        device.Inject(FromPeer(ourPort, new TcpHeader(PeerPort, ourPort, TcpFlags.Syn | TcpFlags.Ack)
        {
            Sequence = new SeqNumber(peerIss), Acknowledgment = new SeqNumber(iss + 1), Window = peerWindow, MaxSegmentSize = peerMss,
        }));
        TcpConnection connection = s.Await(connecting);
        device.Sent.Clear();

        byte[] data = new byte[bytes];
        new Random(1).NextBytes(data);
        _ = connection.SendAsync(data); // completes as the send buffer takes it all; the test only needs it queued
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        List<Sent> sent = [.. device.Sent.Select(Parse).Where(x => x.PayloadLength > 0)];
        void Ack(uint acked, ushort window)
        {
            device.Sent.Clear();
            device.Inject(FromPeer(ourPort, new TcpHeader(PeerPort, ourPort, TcpFlags.Ack)
            {
                Sequence = new SeqNumber(peerIss + 1), Acknowledgment = new SeqNumber(iss + 1 + acked), Window = window,
            }));
            s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        }
        return (sent, device, Ack, s);
    }

    [Fact]
    public void With_offload_the_first_flight_leaves_in_one_super_segment_of_whole_segments_and_as_many_bytes_as_without()
    {
        var (withTso, _, _, _) = FirstFlight(tso: true, ChecksumOffload.Transmit, peerMss: 1460, peerWindow: 65535, bytes: 200_000);
        var (without, _, _, _) = FirstFlight(tso: false, ChecksumOffload.Transmit, peerMss: 1460, peerWindow: 65535, bytes: 200_000);

        // The initial window (RFC 6928: 10 segments) is the limit either way: the offload only changes the packaging.
        Assert.Equal(14600, without.Sum(x => x.PayloadLength));
        Assert.Equal(14600, withTso.Sum(x => x.PayloadLength));
        Assert.All(without, x => Assert.True(x.FrameLength <= 1500));
        Sent super = Assert.Single(withTso);
        Assert.Equal(14600 + 40, super.FrameLength);
        Assert.Equal(0, super.PayloadLength % 1460);
    }

    [Fact]
    public void A_super_segment_never_exceeds_the_peers_window_and_leaves_a_short_tail_to_nagle()
    {
        // A 5000-byte window: three whole segments (4380 bytes) go; the 620 left would be a short segment with data in flight,
        // which Nagle holds back, with or without the offload.
        var (withTso, _, _, _) = FirstFlight(tso: true, ChecksumOffload.Transmit, peerMss: 1460, peerWindow: 5000, bytes: 200_000);
        var (without, _, _, _) = FirstFlight(tso: false, ChecksumOffload.Transmit, peerMss: 1460, peerWindow: 5000, bytes: 200_000);
        Assert.Equal(4380, without.Sum(x => x.PayloadLength));
        Assert.Equal(3, without.Count);
        Sent super = Assert.Single(withTso);
        Assert.Equal(4380, super.PayloadLength);
    }

    [Fact]
    public void Later_flights_carry_exactly_the_bytes_ordinary_segments_would_in_whole_segments_up_to_a_64_KiB_packet()
    {
        // The same connection with and without the offload, the peer acknowledging every second segment: cwnd and the
        // window must release the same bytes at each ACK; only the packaging differs.
        var (tsoFirst, tsoDevice, tsoAck, _) = FirstFlight(tso: true, ChecksumOffload.Transmit, peerMss: 1460, peerWindow: 65535, bytes: 600_000);
        var (plainFirst, plainDevice, plainAck, _) = FirstFlight(tso: false, ChecksumOffload.Transmit, peerMss: 1460, peerWindow: 65535, bytes: 600_000);
        uint sent = (uint)tsoFirst.Sum(x => x.PayloadLength), acked = 0;
        Assert.Equal(plainFirst.Sum(x => x.PayloadLength), (int)sent);
        bool sawSuper = false;
        for (int ack = 0; ack < 400 && acked < 500_000; ack++)
        {
            acked = Math.Min(acked + 2920, sent);
            tsoAck(acked, 65535);
            plainAck(acked, 65535);
            List<Sent> tso = [.. tsoDevice.Sent.Select(Parse).Where(x => x.PayloadLength > 0)];
            List<Sent> plain = [.. plainDevice.Sent.Select(Parse).Where(x => x.PayloadLength > 0)];
            Assert.Equal(plain.Sum(x => x.PayloadLength), tso.Sum(x => x.PayloadLength));
            Assert.All(plain, x => Assert.True(x.FrameLength <= 1500));
            Assert.All(tso, x =>
            {
                Assert.True(x.FrameLength <= 65535, $"{x.FrameLength}");
                Assert.Equal(0, x.PayloadLength % 1460);
            });
            sawSuper |= tso.Any(x => x.FrameLength > 1500);
            sent += (uint)tso.Sum(x => x.PayloadLength);
            Assert.True(sent - acked <= 65535, $"{sent - acked} bytes in flight beyond the peer's window");
        }
        Assert.True(acked >= 500_000, $"only {acked} bytes acknowledged");
        Assert.True(sawSuper);
    }

    [Fact]
    public void After_a_timeout_the_lost_super_segment_is_resent_in_mss_sized_segments_then_new_data_is_glued_again()
    {
        var (first, device, ack, s) = FirstFlight(tso: true, ChecksumOffload.Transmit, peerMss: 1460, peerWindow: 65535, bytes: 200_000);
        Assert.Equal(14600, Assert.Single(first).PayloadLength);
        uint iss = first[0].Sequence - 1;

        // No ACK: the retransmission timer (RFC 6298; 200 ms after the handshake's sample, then 400 ms) fires and go-back-N
        // resends from SND.UNA. A third timeout would suspect a path MTU black hole (RFC 4821) and resend smaller.
        device.Sent.Clear();
        s.AdvanceBy(TimeSpan.FromSeconds(1.2).Ticks);
        List<Sent> resent = [.. device.Sent.Select(Parse).Where(x => x.PayloadLength > 0)];
        Assert.NotEmpty(resent);
        Assert.Equal(iss + 1, resent[0].Sequence);
        Assert.All(resent, x => Assert.True(x.PayloadLength <= 1460 && x.FrameLength <= 1500, $"{x.PayloadLength} bytes resent"));

        // The peer acknowledges the whole first flight: what follows is new data, and it leaves in super-segments again.
        ack(14600, 65535);
        List<Sent> next = [.. device.Sent.Select(Parse).Where(x => x.PayloadLength > 0)];
        Assert.All(next, x => Assert.True(x.Sequence - iss - 1 >= 14600, "old data sent again after the ACK"));
        Assert.Contains(next, x => x.FrameLength > 1500);
    }

    [Theory]
    [InlineData(true, ChecksumOffload.None, 1460)]        // TSO needs the device to finish checksums too
    [InlineData(true, ChecksumOffload.Transmit, 1200)]    // the peer's MSS is below the MTU's: the device would cut too large
    [InlineData(false, ChecksumOffload.Transmit, 1460)]   // no offload
    public void Without_usable_offload_nothing_exceeds_the_mtu(bool tso, ChecksumOffload offload, ushort peerMss)
    {
        var (sent, _, _, _) = FirstFlight(tso, offload, peerMss, peerWindow: 65535, bytes: 200_000);
        Assert.NotEmpty(sent);
        Assert.All(sent, x => Assert.True(x.PayloadLength <= peerMss && x.FrameLength <= 1500, $"{x.PayloadLength} bytes"));
    }

    /// <summary>Two devices joined back to back that carry frames of any size and report TSO with both checksum offloads.</summary>
    private sealed class SegmentingPipe : IPacketDevice, IDisposable
    {
        public void Dispose() => _received.Dispose();

        private readonly Subject<ReadOnlyMemory<byte>> _received = new();

        private SegmentingPipe() => Transmit = System.Reactive.Observer.Create<ReadOnlyMemory<byte>>(frame =>
        {
            Sent.Add(frame.Length);
            Other._received.OnNext(frame.ToArray());
        });

        public static (SegmentingPipe A, SegmentingPipe B) CreatePair()
        {
            var a = new SegmentingPipe();
            var b = new SegmentingPipe();
            a.Other = b;
            b.Other = a;
            return (a, b);
        }

        private SegmentingPipe Other { get; set; } = null!;
        public List<int> Sent { get; } = [];
        public IObservable<ReadOnlyMemory<byte>> Received => _received;
        public IObserver<ReadOnlyMemory<byte>> Transmit { get; }
        public int Mtu => 1500;
        public ChecksumOffload ChecksumOffload => ChecksumOffload.Both;
        public bool TcpSegmentationOffload => true;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Our_own_stack_takes_super_segments_whole_and_the_data_arrives_intact_both_ways(bool v6)
    {
        var s = new TestScheduler();
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24), new(StackPair.A6, 64)], RunContinuationsInline = true }, s);
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24), new(StackPair.B6, 64)], RunContinuationsInline = true }, s);
        var (deviceA, deviceB) = SegmentingPipe.CreatePair();
        a.Attach(deviceA);
        b.Attach(deviceB);
        var listener = s.Await(TcpConnectionListener.ListenAsync(b, new NetEndpoint(v6 ? NetAddress.AnyV6 : NetAddress.AnyV4, 80)));
        var accept = listener.AcceptAsync();
        TcpConnection client = s.Await(TcpConnection.ConnectAsync(a, new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, 80)));
        TcpConnection server = s.Await(accept);

        byte[] up = new byte[1_000_000], down = new byte[300_000];
        new Random(7).NextBytes(up);
        new Random(8).NextBytes(down);
        // Started without xunit's context: ReadAll's awaits resume in virtual time, not on xunit's threads.
        Task<byte[]> serverReads = s.StartInVirtualTime(() => ReadAll(server, up.Length));
        Task<byte[]> clientReads = s.StartInVirtualTime(() => ReadAll(client, down.Length));
        Task sends = Task.WhenAll(client.SendAsync(up), server.SendAsync(down));
        s.Await(sends, TimeSpan.FromMinutes(1));
        Assert.Equal(up, s.Await(serverReads, TimeSpan.FromMinutes(1)));
        Assert.Equal(down, s.Await(clientReads, TimeSpan.FromMinutes(1)));

        Assert.All(deviceA.Sent.Concat(deviceB.Sent), length => Assert.True(length <= 65535));
        // The receiver took them whole: far fewer frames than MSS-sized segments would need for the data alone.
        Assert.True(b.GetStats().FramesIn < up.Length / 1448 / 4, $"{b.GetStats().FramesIn} frames in");
        // Tail loss probes may fire while virtual time runs ahead of the readers (as without the offload); timeouts must not.
        Assert.Equal(0, a.TcpCounters.Timeouts + b.TcpCounters.Timeouts);
        Assert.Contains(deviceA.Sent, length => length > 1500);
        Assert.Contains(deviceB.Sent, length => length > 1500);
    }

    private static async Task<byte[]> ReadAll(TcpConnection connection, int length)
    {
        byte[] buffer = new byte[length];
        int got = 0;
        while (got < length)
        {
            int n = await connection.ReadAsync(buffer.AsMemory(got));
            if (n == 0) break;
            got += n;
        }
        return buffer[..got];
    }
}
