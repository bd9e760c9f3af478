using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Engine;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Robustness;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A sharded stack and TCP the link's steering cannot place: a segment in IP fragments, or with its TCP header behind IPv6
/// extension headers, is steered to the home engine by rule (fixed offsets find no ports). The home engine reassembles (or
/// walks the chain) and moves the whole packet on to the engine that owns the flow — before, it answered for a connection it
/// did not hold with a reset. The client is forged (an address no stack owns), so every byte on the wire is the test's.
/// </summary>
public sealed class ShardedReassemblyTests : IDisposable
{
    private static readonly NetAddress Us4 = NetAddress.Parse("10.0.0.1"), Us6 = NetAddress.Parse("fd00::1");
    private static readonly NetAddress Client4 = NetAddress.Parse("10.0.0.9"), Client6 = NetAddress.Parse("fd00::9");

    private readonly TestScheduler _s = new();
    private readonly Netstack _stack;
    private readonly MultiQueuePipe _pipe;

    /// <summary>Every TCP segment the stack sent to the forged client.</summary>
    private readonly List<TcpHeader> _sent = [];
    private readonly IDisposable _capture;

    public ShardedReassemblyTests()
    {
        _stack = new Netstack(new NetstackOptions
        {
            Addresses = [new(Us4, 24), new(Us6, 64)], Engines = 2, RandomSeed = 11, RunContinuationsInline = true,
        }, _s);
        _pipe = MultiQueuePipe.Create(2);
        _stack.AttachQueues(_pipe);
        _capture = _pipe.Peer.Received.Subscribe(frame =>
        {
            if (Forge.TryReadTcp(frame.ToArray(), out _, out _, out TcpHeader header, out _)) _sent.Add(header);
        });
    }

    public void Dispose()
    {
        _capture.Dispose();
        _stack.Dispose();
        _pipe.Dispose();
    }

    private void Inject(byte[] packet)
    {
        _pipe.Peer.Transmit.OnNext(packet);
        _s.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
    }

    /// <summary>A client port whose flow to port 80 belongs to engine 1 (not the home engine).</summary>
    private ushort PortOnEngine1(NetAddress client)
    {
        FlowSharding sharding = _stack.Shards!.Sharding;
        for (ushort port = 40000; ; port++)
            if (sharding.ShardOf(new NetEndpoint(client, port), 80) == 1) return port;
    }

    /// <summary>An IPv6 packet client → us with one destination-options header (eight bytes of PadN) before TCP.</summary>
    private static byte[] WithDestinationOptions(NetAddress source, NetAddress destination, byte[] segment)
    {
        byte[] packet = new byte[Ipv6Header.HeaderLength + 8 + segment.Length];
        Ipv6Header.Emit(packet, new Ipv6Header(source, destination, (IpProtocol)60), packet.Length - Ipv6Header.HeaderLength);
        packet[40] = (byte)IpProtocol.Tcp; // next header
        packet[41] = 0; // length: 8 bytes
        packet[42] = 1; // PadN, 4 bytes of padding
        packet[43] = 4;
        segment.CopyTo(packet.AsSpan(48));
        return packet;
    }

    public static TheoryData<string> Shapes => ["IPv4 fragments", "IPv6 fragments", "IPv6 destination options"];

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Tcp_the_steering_sent_home_reaches_the_engine_that_owns_its_flow(string shape)
    {
        bool v6 = shape.StartsWith("IPv6", StringComparison.Ordinal);
        NetAddress client = v6 ? Client6 : Client4, us = v6 ? Us6 : Us4;
        ushort port = PortOnEngine1(client);
        TcpConnectionListener listener = _s.Await(_stack.ListenTcpAsync(80, ipv6: v6));
        Task<TcpConnection> accept = listener.AcceptAsync();

        // The handshake in plain packets: the steering places them on engine 1, which holds the connection.
        Inject(Forge.Tcp(client, us, new TcpHeader(port, 80, TcpFlags.Syn) { Sequence = new SeqNumber(1), Window = 65535, MaxSegmentSize = 1400 }));
        TcpHeader synAck = Assert.Single(_sent);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        var ack = new TcpHeader(port, 80, TcpFlags.Ack) { Sequence = new SeqNumber(2), Acknowledgment = synAck.Sequence + 1, Window = 65535 };
        Inject(Forge.Tcp(client, us, ack));
        TcpConnection connection = _s.Await(accept);
        Assert.Equal(_stack.Shards!.Engines[1].Id, connection.Handle.StackId);

        // Data in one segment that the steering cannot read the ports of: 3,000 bytes in fragments, 1,200 (within the
        // link's MTU) behind the options header.
        bool fragmented = shape != "IPv6 destination options";
        byte[] data = new byte[fragmented ? 3000 : 1200];
        new Random(5).NextBytes(data);
        byte[] segment = Forge.TcpSegment(client, us, ack with { Flags = TcpFlags.Ack | TcpFlags.Psh }, data);
        if (!fragmented) Inject(WithDestinationOptions(client, us, segment));
        else
        {
            for (int offset = 0; offset < segment.Length; offset += 1200)
            {
                int length = Math.Min(1200, segment.Length - offset);
                Inject(Forge.Fragment(client, us, IpProtocol.Tcp, 99, offset, more: offset + length < segment.Length, segment.AsSpan(offset, length)));
            }
        }

        var buffer = new byte[data.Length];
        int got = 0;
        while (got < data.Length)
        {
            int n = _s.Await(connection.ReadAsync(buffer.AsMemory(got)).AsTask());
            Assert.True(n > 0, "end of stream before the data arrived");
            got += n;
        }
        Assert.Equal(data, buffer);
        _s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks); // past a delayed ACK
        Assert.Equal(1, _stack.Shards.PacketsMovedOn);
        Assert.DoesNotContain(_sent, h => (h.Flags & TcpFlags.Rst) != 0);
        // The connection acknowledged all of it, from engine 1.
        Assert.Equal(synAck.Sequence + 1, _sent[^1].Sequence);
        Assert.Equal(new SeqNumber(2) + data.Length, _sent[^1].Acknowledgment);
    }
}
