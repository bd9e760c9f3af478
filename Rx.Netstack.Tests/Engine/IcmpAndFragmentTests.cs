using System.Buffers.Binary;
using System.Reactive.Linq;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Sockets;
using Rx.Netstack.Testing;
using Rx.Netstack.Tests.Support;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Engine;

public sealed class IcmpAndFragmentTests
{
    [Theory]
    [InlineData(false, 56)]
    [InlineData(true, 56)]
    [InlineData(false, 4000)] // the request and the reply both need fragmentation at MTU 1500
    [InlineData(true, 4000)]
    public void Ping_gets_a_reply_with_the_round_trip_time_of_the_link(bool v6, int size)
    {
        using var pair = new StackPair();
        var reply = pair.Scheduler.Await(pair.A.Ping(v6 ? StackPair.B6 : StackPair.B4, size));
        Assert.Equal(v6 ? StackPair.B6 : StackPair.B4, reply.From);
        Assert.Equal(size, reply.PayloadSize);
        Assert.True(reply.RoundTripTime < TimeSpan.FromMicroseconds(1), $"RTT {reply.RoundTripTime}"); // the pipe has no delay
        if (size > 1500) Assert.True(pair.B.GetStats().DatagramsReassembled >= 1 && pair.A.GetStats().DatagramsReassembled >= 1);
    }

    [Fact]
    public void Ping_to_nobody_times_out_exactly_at_its_timeout()
    {
        using var pair = new StackPair();
        var s = pair.Scheduler;
        long start = s.Clock;
        var error = Assert.Throws<NetstackException>(() => s.Await(pair.A.Ping(NetAddress.Parse("10.0.0.99"), 8, TimeSpan.FromMilliseconds(1500))));
        Assert.Equal(NetstackErrorKind.TimedOut, error.Kind);
        Assert.InRange(TimeSpan.FromTicks(s.Clock - start), TimeSpan.FromMilliseconds(1500), TimeSpan.FromMilliseconds(1501));
    }

    [Fact]
    public void Ping_series_reports_each_reply()
    {
        using var pair = new StackPair();
        var m = new Marbles(pair.Scheduler, frame: TimeSpan.FromMilliseconds(500));
        // One request a second, each answered at once (the pipe has no delay): its sequence number, or '.' for none.
        m.Expect(
            pair.A.PingSeries(StackPair.B4, 3, TimeSpan.FromSeconds(1)).Select(r => r.Reply is null ? '.' : (char)('0' + r.SequenceNumber)),
            "1-2-(3|)--");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Large_udp_datagram_is_fragmented_and_reassembled(bool v6)
    {
        using var pair = new StackPair(mtu: 1280, configure: o => o with { UdpSendBufferSize = 9000, UdpReceiveBufferSize = 16384 });
        var s = pair.Scheduler;
        var a = s.Await(UdpSocket.BindAsync(pair.A, new NetEndpoint(v6 ? StackPair.A6 : StackPair.A4, 1)));
        var b = s.Await(UdpSocket.BindAsync(pair.B, new NetEndpoint(v6 ? StackPair.B6 : StackPair.B4, 2)));
        byte[] data = Enumerable.Range(0, 9000).Select(i => (byte)(i * 7)).ToArray();
        s.Await(a.SendAsync(data, b.Local));
        Datagram d = s.Await(b.ReceiveAsync());
        Assert.Equal(data, d.Data.ToArray());
        Assert.True(pair.A.GetStats().FragmentsOut >= 8);
        Assert.Equal(1, pair.B.GetStats().DatagramsReassembled);
        Assert.Equal(0, pair.B.ReassemblyMemoryInUse);
    }

    /// <summary>Builds the IPv4 fragments of one UDP datagram by hand (our emitter for the datagram, then split).</summary>
    private static List<byte[]> Fragments(byte[] payload, int chunk, ushort id)
    {
        NetAddress src = StackPair.A4, dst = StackPair.B4;
        byte[] udp = new byte[8 + payload.Length];
        payload.CopyTo(udp, 8);
        Rx.Netstack.Wire.UdpHeader.Emit(udp, new UdpHeader(1000, 53), payload.Length, src, dst);
        var fragments = new List<byte[]>();
        for (int offset = 0; offset < udp.Length; offset += chunk)
        {
            int length = Math.Min(chunk, udp.Length - offset);
            byte[] f = new byte[20 + length];
            udp.AsSpan(offset, length).CopyTo(f.AsSpan(20));
            Ipv4Header.Emit(f, new Ipv4Header(src, dst, IpProtocol.Udp, 64, id, false, offset + length < udp.Length, offset), length);
            fragments.Add(f);
        }
        return fragments;
    }

    private static (TestScheduler, Netstack, ManualDevice, UdpSocket) Receiver()
    {
        var s = new TestScheduler();
        var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [new(StackPair.B4, 24)], UdpReceiveBufferSize = 8192 }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        var socket = s.Await(UdpSocket.BindAsync(stack, new NetEndpoint(StackPair.B4, 53)));
        return (s, stack, device, socket);
    }

    [Theory]
    [InlineData("in-order")]
    [InlineData("reversed")]
    [InlineData("duplicated")]
    public void Fragments_reassemble_in_any_order_and_with_duplicates(string order)
    {
        var (s, stack, device, socket) = Receiver();
        using var _ = stack;
        byte[] payload = Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray();
        var fragments = Fragments(payload, 800, 77);
        IEnumerable<byte[]> sequence = order switch
        {
            "reversed" => Enumerable.Reverse(fragments),
            "duplicated" => fragments.SelectMany(f => new[] { f, f }),
            _ => fragments,
        };
        foreach (byte[] f in sequence) device.Inject(f);
        Assert.Equal(payload, s.Await(socket.ReceiveAsync()).Data.ToArray());
        // A duplicate of the last fragment arriving after completion starts a new datagram that can only time out.
        s.AdvanceBy(TimeSpan.FromSeconds(31).Ticks);
        Assert.Equal(0, stack.ReassemblyMemoryInUse);
    }

    [Fact]
    public void Missing_fragment_times_out_frees_the_memory_and_sends_time_exceeded()
    {
        var (s, stack, device, socket) = Receiver();
        using var _ = stack;
        var fragments = Fragments(new byte[3000], 800, 78);
        device.Inject(fragments[0]);
        device.Inject(fragments[2]);
        s.AdvanceBy(TimeSpan.FromMilliseconds(10).Ticks);
        Assert.True(stack.ReassemblyMemoryInUse > 0);
        s.AdvanceBy(TimeSpan.FromSeconds(29).Ticks);
        Assert.True(stack.ReassemblyMemoryInUse > 0);
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(0, stack.ReassemblyMemoryInUse);
        Assert.Equal(1, stack.GetStats().Drops[DropReason.ReassemblyTimeout]);
        byte[] icmp = Assert.Single(device.Sent);
        Assert.Equal((byte)IcmpV4Type.TimeExceeded, icmp[20]);
        Assert.Equal(1, icmp[21]);
    }

    [Fact]
    public void Overlapping_fragments_discard_the_datagram()
    {
        var (s, stack, device, socket) = Receiver();
        using var _ = stack;
        var fragments = Fragments(new byte[3000], 800, 79);
        byte[] overlap = (byte[])fragments[1].Clone();
        BinaryPrimitives.WriteUInt16BigEndian(overlap.AsSpan(6), (ushort)(0x2000 | (792 / 8))); // MF, offset 792 overlaps the first
        overlap[10] = overlap[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(overlap.AsSpan(10), Checksum.Compute(overlap.AsSpan(0, 20)));
        device.Inject(fragments[0]);
        device.Inject(overlap);
        s.AdvanceBy(10);
        Assert.Equal(1, stack.GetStats().Drops[DropReason.FragmentRejected]);
        Assert.Equal(0, stack.ReassemblyMemoryInUse);
    }

    [Fact]
    public void Reassembly_memory_limit_is_enforced_and_counted()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [new(StackPair.B4, 24)], ReassemblyMemoryLimit = 8192 }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        for (ushort id = 1; id <= 20; id++) device.Inject(Fragments(new byte[3000], 800, id)[0]);
        s.AdvanceBy(10);
        Assert.True(stack.ReassemblyMemoryInUse <= 8192);
        Assert.True(stack.GetStats().Drops[DropReason.ReassemblyMemoryFull] > 0);
    }

    [Fact]
    public void Ipv6_unknown_next_header_is_answered_with_parameter_problem()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [new(StackPair.B6, 64)] }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        byte[] packet = new byte[48];
        Ipv6Header.Emit(packet, new Ipv6Header(StackPair.A6, StackPair.B6, (IpProtocol)253), 8);
        device.Inject(packet);
        s.AdvanceBy(10);
        byte[] reply = Assert.Single(device.Sent);
        Assert.Equal((byte)IcmpV6Type.ParameterProblem, reply[40]);
        Assert.Equal(1, reply[41]);
        Assert.Equal(6u, BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(44)));
    }

    [Fact]
    public void Garbage_frames_are_counted_drops_never_exceptions()
    {
        var s = new TestScheduler();
        using var stack = new Netstack(new NetstackOptions { RunContinuationsInline = true, Addresses = [new(StackPair.B4, 24), new(StackPair.B6, 64)] }, s);
        var device = new ManualDevice();
        stack.Attach(device);
        var random = new Random(1);
        for (int i = 0; i < 2000; i++)
        {
            byte[] frame = new byte[random.Next(1, 200)];
            random.NextBytes(frame);
            frame[0] = (byte)((i % 3 == 0 ? 0x40 : i % 3 == 1 ? 0x60 : frame[0]) | (frame[0] & 0x0F));
            device.Inject(frame);
        }
        s.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        var stats = stack.GetStats();
        Assert.Equal(2000, stats.FramesIn);
        Assert.True(stats.TotalDrops >= 1900, $"only {stats.TotalDrops} drops");
        Assert.Equal(0, stats.SubscriberFaults);
    }
}
