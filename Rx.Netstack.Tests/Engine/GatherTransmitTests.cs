using System.Buffers.Binary;
using System.Reactive.Subjects;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// Gather transmit (<see cref="IGatherPacketDevice"/>): to a device that takes a packet in pieces, a TCP segment's payload goes
/// straight from the send ring. The frames must be byte for byte those the single-buffer path sends on the same virtual clock
/// (ring wrap-around and retransmissions of a wrapped range included), and devices without the capability, or without the
/// checksum offload it needs, must get whole frames as before.
/// </summary>
public sealed class GatherTransmitTests
{
    private static readonly NetAddress Us = NetAddress.Parse("10.0.0.1"), Peer = NetAddress.Parse("10.0.0.2");
    private const ushort PeerPort = 80;
    private const uint PeerIss = 5000;

    /// <summary>A device that records every frame sent, and how: whole, or (<see cref="GatheringDevice"/>) in pieces.</summary>
    private class RecordingDevice : IPacketDevice, IDisposable
    {
        private readonly Subject<ReadOnlyMemory<byte>> _received = new();

        public RecordingDevice(ChecksumOffload offload, bool tso)
        {
            ChecksumOffload = offload;
            TcpSegmentationOffload = tso;
            Transmit = System.Reactive.Observer.Create<ReadOnlyMemory<byte>>(frame =>
            {
                Sent.Add(frame.ToArray());
                Pieces.Add(null);
            });
        }

        public void Dispose() => _received.Dispose();

        public List<byte[]> Sent { get; } = [];

        /// <summary>Per frame in <see cref="Sent"/>: null when it came whole, else the lengths of its two payload pieces.</summary>
        public List<(int First, int Second)?> Pieces { get; } = [];

        public IObservable<ReadOnlyMemory<byte>> Received => _received;
        public IObserver<ReadOnlyMemory<byte>> Transmit { get; }
        public int Mtu => 1500;
        public ChecksumOffload ChecksumOffload { get; }
        public bool TcpSegmentationOffload { get; }

        public void Inject(byte[] frame) => _received.OnNext(frame);
    }

    /// <summary>The same, offering the gather path: a frame given in pieces is recorded joined, with its pieces' lengths.</summary>
    private sealed class GatheringDevice(ChecksumOffload offload, bool tso) : RecordingDevice(offload, tso), IGatherPacketDevice
    {
        public void TransmitGathered(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadContinued)
        {
            Sent.Add([.. headers, .. payload, .. payloadContinued]);
            Pieces.Add((payload.Length, payloadContinued.Length));
        }
    }

    /// <summary>A TCP segment from the peer to us, built with the stack's own emitters (checksums complete).</summary>
    private static byte[] FromPeer(ushort ourPort, TcpHeader header)
    {
        var packet = new byte[20 + 60];
        int length = Rx.Netstack.Wire.TcpHeader.Emit(packet.AsSpan(20), header with { SourcePort = PeerPort, DestinationPort = ourPort }, 0, Peer, Us);
        Ipv4Header.Emit(packet, new Ipv4Header(Peer, Us, IpProtocol.Tcp), length);
        return packet[..(20 + length)];
    }

    private static (uint Sequence, int PayloadStart, int PayloadLength) Parse(byte[] frame)
    {
        int ip = (frame[0] & 0x0f) * 4;
        int tcpHeader = (frame[ip + 12] >> 4) * 4;
        return (BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(ip + 4)), ip + tcpHeader,
            BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)) - ip - tcpHeader);
    }

    /// <summary>
    /// Connects to a hand-played peer (MSS 1460, a 65535-byte window) with a 10,000-byte send ring (not a multiple of the MSS,
    /// so the ring wraps inside segments), sends <paramref name="data"/> and acknowledges, one pass at a time, what was sent
    /// but the newest segment; once, half-way, it acknowledges nothing until the retransmission timer resends from SND.UNA.
    /// Returns the device with every frame sent after the handshake, and our ISS.
    /// </summary>
    private static (RecordingDevice Device, uint Iss) Run(bool gather, bool tso, byte[] data, ChecksumOffload offload = ChecksumOffload.Transmit)
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { Addresses = [new(Us, 24)], RunContinuationsInline = true, RandomSeed = 42 }, s);
        RecordingDevice device = gather ? new GatheringDevice(offload, tso) : new RecordingDevice(offload, tso);
        stack.Attach(device);
        Task<TcpConnection> connecting = TcpConnection.ConnectAsync(stack, new NetEndpoint(Peer, PeerPort),
            settings: new TcpSettings { SendBufferSize = 10_000 });
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        byte[] syn = Assert.Single(device.Sent);
        ushort ourPort = BinaryPrimitives.ReadUInt16BigEndian(syn.AsSpan(20));
        uint iss = Parse(syn).Sequence;
        device.Inject(FromPeer(ourPort, new TcpHeader(PeerPort, ourPort, TcpFlags.Syn | TcpFlags.Ack)
        {
            Sequence = new SeqNumber(PeerIss), Acknowledgment = new SeqNumber(iss + 1), Window = 65535, MaxSegmentSize = 1460,
        }));
        TcpConnection connection = s.Await(connecting);
        device.Sent.Clear();
        device.Pieces.Clear();

        Task sending = connection.SendAsync(data);
        s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        uint acked = 0;
        bool timedOut = false;
        for (int round = 0; round < 1000 && acked < data.Length; round++)
        {
            // The highest sequence sent so far, and where its last segment starts: acknowledge up to that segment.
            uint high = 0, lastStart = 0;
            foreach (byte[] frame in device.Sent)
            {
                var (seq, _, length) = Parse(frame);
                uint end = seq - iss - 1 + (uint)length;
                if (length > 0 && end > high) (high, lastStart) = (end, seq - iss - 1);
            }
            if (!timedOut && acked > data.Length / 2)
            {
                timedOut = true;
                s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks); // no ACK: the RTO resends from SND.UNA
                continue;
            }
            uint next = lastStart > acked ? lastStart : high;
            if (next <= acked)
            {
                s.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks);
                continue;
            }
            acked = next;
            device.Inject(FromPeer(ourPort, new TcpHeader(PeerPort, ourPort, TcpFlags.Ack)
            {
                Sequence = new SeqNumber(PeerIss + 1), Acknowledgment = new SeqNumber(iss + 1 + acked), Window = 65535,
            }));
            s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
        }
        Assert.True(acked >= data.Length, $"only {acked} of {data.Length} bytes acknowledged; {device.Sent.Count} frames");
        Assert.True(sending.IsCompletedSuccessfully);
        return (device, iss);
    }

    private static byte[] Data(int length)
    {
        byte[] data = new byte[length];
        new Random(length).NextBytes(data);
        return data;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gathered_frames_are_byte_for_byte_the_single_buffer_frames_through_wraps_and_a_retransmission(bool tso)
    {
        byte[] data = Data(120_000);
        var (gathered, iss) = Run(gather: true, tso, data);
        var (whole, _) = Run(gather: false, tso, data);

        Assert.Equal(whole.Sent.Count, gathered.Sent.Count);
        for (int i = 0; i < whole.Sent.Count; i++) Assert.Equal(whole.Sent[i], gathered.Sent[i]);

        // Every payload-carrying frame went out gathered, each payload is the data at its sequence number, some wrapped around
        // the end of the ring, and a retransmission (a sequence number seen before) of a wrapped range is among them.
        var seen = new HashSet<uint>();
        bool wrapped = false, wrappedRetransmission = false;
        for (int i = 0; i < gathered.Sent.Count; i++)
        {
            var (seq, start, length) = Parse(gathered.Sent[i]);
            if (length == 0)
            {
                Assert.Null(gathered.Pieces[i]);
                continue;
            }
            var pieces = gathered.Pieces[i];
            Assert.NotNull(pieces);
            Assert.Equal(length, pieces.Value.First + pieces.Value.Second);
            int offset = (int)(seq - iss - 1);
            Assert.Equal(data.AsSpan(offset, length), gathered.Sent[i].AsSpan(start, length));
            bool again = !seen.Add(seq);
            wrapped |= pieces.Value.Second > 0;
            wrappedRetransmission |= again && pieces.Value.Second > 0;
        }
        Assert.True(wrapped, "no segment's payload wrapped around the ring");
        Assert.True(wrappedRetransmission, "no retransmitted segment's payload wrapped around the ring");
        if (tso) Assert.Contains(gathered.Sent, frame => frame.Length > 1500);
    }

    [Fact]
    public void A_device_that_computes_no_checksums_for_the_stack_gets_whole_frames_with_checksums()
    {
        // Without transmit checksum offload the checksum reads the payload anyway: the single-buffer path is used.
        byte[] data = Data(30_000);
        var (device, _) = Run(gather: true, tso: false, data, ChecksumOffload.None);
        Assert.All(device.Pieces, Assert.Null);
        Assert.Contains(device.Sent, frame => Parse(frame).PayloadLength > 0 && BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(36)) != 0);
    }

    /// <summary>A gathering device that keeps only the last packet's headers and counts payload bytes (no copy allocated).</summary>
    private sealed class GatherSink : IGatherPacketDevice, IObserver<ReadOnlyMemory<byte>>, IDisposable
    {
        private readonly Subject<ReadOnlyMemory<byte>> _received = new();
        private readonly byte[] _headers = new byte[128];
        private int _headersLength;

        public void Dispose() => _received.Dispose();

        public IObservable<ReadOnlyMemory<byte>> Received => _received;
        public IObserver<ReadOnlyMemory<byte>> Transmit => this;
        public int Mtu => 1500;
        public ChecksumOffload ChecksumOffload => ChecksumOffload.Both;
        public long Gathered { get; private set; }
        public int LastPayload { get; private set; }
        public ReadOnlySpan<byte> LastHeaders => _headers.AsSpan(0, _headersLength);

        public void Inject(byte[] frame) => _received.OnNext(frame);

        public void TransmitGathered(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadContinued)
        {
            Gathered++;
            headers.CopyTo(_headers);
            _headersLength = headers.Length;
            LastPayload = payload.Length + payloadContinued.Length;
        }

        public void OnNext(ReadOnlyMemory<byte> value)
        {
            value.Span[..Math.Min(value.Length, _headers.Length)].CopyTo(_headers);
            _headersLength = Math.Min(value.Length, _headers.Length);
            LastPayload = -1;
        }

        public void OnError(Exception error) { }
        public void OnCompleted() { }
    }

    /// <summary>A listener on port 80 (complete at once on the inline scheduler).</summary>
    private static TcpConnectionListener Listen(Netstack stack) => stack.ListenTcpAsync(80).GetAwaiter().GetResult();

    [Fact]
    public void A_data_segment_out_through_the_gather_path_allocates_nothing()
    {
        // As SteadyStateAllocationTests' outbound case: an accepted connection, each hand-made ACK clocks out one segment.
        const int payloadLength = 1460, segments = 5000;
        var scheduler = new InlineScheduler();
        using var device = new GatherSink();
        using var stack = new Netstack(new NetstackOptions
        {
            Addresses = [new(Us, 24)],
            Tcp = new TcpSettings { SendBufferSize = 100_000 }, // not a multiple of the payload: sends wrap around the ring
            RunContinuationsInline = true,
        }, scheduler);
        stack.Attach(device);
        Task<TcpConnection> accept = Listen(stack).AcceptAsync();
        device.Inject(FromPeer(80, new TcpHeader(0, 0, TcpFlags.Syn) { Sequence = new SeqNumber(1000), Window = 65535, MaxSegmentSize = 1460 }));
        Assert.Equal(WireError.None, TcpHeader.TryParse(device.LastHeaders[20..], Us, Peer, out TcpHeader synAck, out _, verifyChecksum: false));
        device.Inject(FromPeer(80, new TcpHeader(0, 0, TcpFlags.Ack) { Sequence = new SeqNumber(1001), Acknowledgment = synAck.Sequence + 1, Window = 65535 }));
        Assert.True(accept.IsCompletedSuccessfully);
        TcpControlBlock tcb = stack.Tcp.Connections.Single().Tcb;

        byte[] payload = new byte[payloadLength];
        byte[] ack = FromPeer(80, new TcpHeader(0, 0, TcpFlags.Ack) { Sequence = new SeqNumber(1001), Window = 65535 });
        SeqNumber acknowledged = synAck.Sequence + 1;
        void OneSegment()
        {
            // Plain checks, not Assert: xunit's assertions allocate, and this loop is what is measured.
            if (tcb.Send(payload) != payloadLength) throw new InvalidOperationException("the send buffer is full");
            long before = device.Gathered;
            BinaryPrimitives.WriteUInt32BigEndian(ack.AsSpan(28), acknowledged.Value);
            BinaryPrimitives.WriteUInt16BigEndian(ack.AsSpan(36), 0);
            BinaryPrimitives.WriteUInt16BigEndian(ack.AsSpan(36), Checksum.Finish(Checksum.Accumulate(ack.AsSpan(20), Checksum.PseudoHeader(Peer, Us, IpProtocol.Tcp, ack.Length - 20))));
            device.Inject(ack); // the peer's ACK of the previous segment clocks out the new one
            if (device.Gathered != before + 1 || device.LastPayload != payloadLength)
                throw new InvalidOperationException("the ACK did not clock out one gathered segment");
            acknowledged = new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(device.LastHeaders[24..])) + payloadLength;
        }

        for (int i = 0; i < 1000; i++) OneSegment(); // warm-up: JIT, pools, queues at their steady size
        long least = long.MaxValue;
        for (int window = 0; window < 3; window++) // the least of three windows, as SteadyStateAllocationTests does
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < segments; i++) OneSegment();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(least == 0, $"{least} bytes allocated for {segments} gathered segments out");
    }
}
