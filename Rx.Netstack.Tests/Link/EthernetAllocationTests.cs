using Rx.Netstack.Link;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;
using Rx.Netstack.Testing;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Link;

/// <summary>
/// The Ethernet path adds no per-packet allocation: a TCP data segment in (header check, strip) and out (next hop,
/// neighbour lookup, header written in place) on an established connection with a resolved neighbour, on the engine alone
/// (inline scheduler, frames injected by hand), as <c>SteadyStateAllocationTests</c> does for the IP medium.
/// </summary>
public sealed class EthernetAllocationTests : IDisposable
{
    private static readonly NetAddress Client = NetAddress.Parse("10.0.0.1"), Server = NetAddress.Parse("10.0.0.2");
    private static readonly MacAddress ClientMac = MacAddress.Parse("02:00:00:00:00:01"), ServerMac = MacAddress.Parse("02:00:00:00:00:02");
    private const int PayloadLength = 1460, Segments = 5000, Frame = EthernetHeader.HeaderLength;

    private readonly InlineScheduler _scheduler = new();
    private readonly SinkDevice _device = new(LinkMedium.Ethernet);
    private readonly Netstack _stack;
    private readonly TcpControlBlock _tcb;
    private readonly SeqNumber _serverIsn;

    public EthernetAllocationTests()
    {
        _stack = new Netstack(new NetstackOptions
        {
            Addresses = [new(Server, 24)],
            Tcp = new TcpSettings { ReceiveBufferSize = 256 * 1024, SendBufferSize = 256 * 1024 },
            RunContinuationsInline = true,
            Ethernet = new EthernetSettings { MacAddress = ServerMac, Ipv6LinkLocal = false, RouterDiscovery = false },
        }, _scheduler);
        _stack.Attach(_device);
        TcpConnectionListener listener = _stack.ListenTcpAsync(80).GetAwaiter().GetResult();
        Task<TcpConnection> accept = listener.AcceptAsync();
        // The client resolves us first, which teaches us its MAC (STALE); our SYN-ACK then goes at once.
        byte[] arp = new byte[Frame + ArpPacket.PacketLength];
        EthernetHeader.Emit(arp, new EthernetHeader(MacAddress.Broadcast, ClientMac, EtherType.Arp));
        ArpPacket.Emit(arp.AsSpan(Frame), new ArpPacket(ArpOperation.Request, ClientMac, Client, default, Server));
        _device.Inject(arp);
        _device.Inject(Build(new TcpHeader(40000, 80, TcpFlags.Syn) { Sequence = new SeqNumber(1000), Window = 65535, MaxSegmentSize = 1460 }, 0));
        Assert.Equal(WireError.None, TcpHeader.TryParse(_device.LastSent[(Frame + Ipv4Header.HeaderLength)..], Server, Client, out TcpHeader synAck, out _));
        _serverIsn = synAck.Sequence;
        _device.Inject(Build(new TcpHeader(40000, 80, TcpFlags.Ack) { Sequence = new SeqNumber(1001), Acknowledgment = _serverIsn + 1, Window = 65535 }, 0));
        Assert.True(accept.IsCompletedSuccessfully);
        _tcb = _stack.Tcp.Connections.Single().Tcb;
    }

    [Fact]
    public void A_data_segment_in_and_out_over_ethernet_allocates_nothing()
    {
        byte[] frame = Build(new TcpHeader(40000, 80, TcpFlags.Ack | TcpFlags.Psh) { Window = 65535 }, PayloadLength);
        byte[] drain = new byte[64 * 1024];
        SeqNumber next = new(1001);
        void In()
        {
            Rewrite(frame, next, _serverIsn + 1);
            _device.Inject(frame);
            if (_tcb.Receive(drain) != PayloadLength) throw new InvalidOperationException("not delivered");
            next += PayloadLength;
        }
        for (int i = 0; i < 1000; i++) In();
        long inbound = Allocated(In);

        byte[] payload = new byte[PayloadLength];
        SeqNumber acknowledged = _serverIsn + 1;
        byte[] ack = Build(new TcpHeader(40000, 80, TcpFlags.Ack) { Window = 65535 }, 0);
        void Out()
        {
            if (_tcb.Send(payload) != PayloadLength) throw new InvalidOperationException("the send buffer is full");
            long before = _device.SentFrames;
            Rewrite(ack, next, acknowledged);
            _device.Inject(ack);
            if (_device.SentFrames != before + 1) throw new InvalidOperationException("the ACK did not clock out one segment");
            ReadOnlySpan<byte> sent = _device.LastSent;
            if (MacAddress.Read(sent) != ClientMac) throw new InvalidOperationException("not to the client's MAC");
            if (TcpHeader.TryParse(sent[(Frame + Ipv4Header.HeaderLength)..], Server, Client, out TcpHeader header, out ReadOnlySpan<byte> data) != WireError.None
                || data.Length != PayloadLength)
                throw new InvalidOperationException("a bad or short segment");
            acknowledged = header.Sequence + data.Length;
        }
        for (int i = 0; i < 1000; i++) Out();
        long outbound = Allocated(Out);

        Assert.True(inbound == 0, $"{inbound} bytes allocated for {Segments} segments in");
        Assert.True(outbound == 0, $"{outbound} bytes allocated for {Segments} segments out");
    }

    /// <summary>The least of three windows of <see cref="Segments"/> calls (the runtime now and then allocates for itself).</summary>
    private static long Allocated(Action one)
    {
        long least = long.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Segments; i++) one();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }

    private static byte[] Build(TcpHeader header, int payloadLength)
    {
        byte[] frame = TcpFrames.Build(Client, Server, header, payloadLength, offset: Frame);
        EthernetHeader.Emit(frame, new EthernetHeader(ServerMac, ClientMac, EtherType.Ipv4));
        return frame;
    }

    private static void Rewrite(byte[] frame, SeqNumber sequence, SeqNumber acknowledgment) =>
        TcpFrames.Rewrite(frame, Client, Server, sequence, acknowledgment, offset: Frame);

    public void Dispose() => _stack.Dispose();
}
