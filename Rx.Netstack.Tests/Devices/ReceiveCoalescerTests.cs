using System.Runtime.InteropServices;
using PacketDotNet;
using Rx.Netstack.Devices;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Devices;

/// <summary>
/// Software GRO of a TUN read burst (<see cref="ReceiveCoalescer"/>): in-order data segments of one flow become one segment
/// with the payloads in order and correct lengths and checksums (PacketDotNet checks them); anything GRO must not merge goes
/// through unchanged and in its place.
/// </summary>
public sealed class ReceiveCoalescerTests
{
    private static readonly NetAddress Kernel = NetAddress.Parse("10.0.0.1"), Stack = NetAddress.Parse("10.0.0.2");
    private static readonly NetAddress Kernel6 = NetAddress.Parse("fd00::1"), Stack6 = NetAddress.Parse("fd00::2");

    private sealed class Collector : IObserver<ReadOnlyMemory<byte>>
    {
        public List<byte[]> Frames { get; } = [];
        public void OnNext(ReadOnlyMemory<byte> value) => Frames.Add(value.ToArray());
        public void OnError(Exception error) => throw error;
        public void OnCompleted() { }
    }

    /// <summary>A TCP segment from the kernel: sequence <paramref name="seq"/>, <paramref name="payload"/>, checksums right.</summary>
    private static byte[] Segment(uint seq, byte[] payload, TcpFlags flags = TcpFlags.Ack, ushort sourcePort = 5000, bool v6 = false,
        uint ack = 777, ushort window = 500, uint? timestamp = 42)
    {
        NetAddress source = v6 ? Kernel6 : Kernel, destination = v6 ? Stack6 : Stack;
        var header = new TcpHeader(sourcePort, 80, flags)
        {
            Sequence = new SeqNumber(seq), Acknowledgment = new SeqNumber(ack), Window = window,
            HasTimestamps = timestamp is not null, TimestampValue = timestamp ?? 0, TimestampEcho = 9,
        };
        int ip = v6 ? Ipv6Header.HeaderLength : Ipv4Header.HeaderLength;
        var packet = new byte[ip + header.Length + payload.Length];
        payload.CopyTo(packet.AsSpan(ip + header.Length));
        int length = TcpHeader.Emit(packet.AsSpan(ip), header, payload.Length, source, destination);
        if (v6) Ipv6Header.Emit(packet, new Ipv6Header(source, destination, IpProtocol.Tcp), length);
        else Ipv4Header.Emit(packet, new Ipv4Header(source, destination, IpProtocol.Tcp, DontFragment: true), length);
        return packet;
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static List<byte[]> Run(ReceiveCoalescer coalescer, params byte[][] packets)
    {
        foreach (byte[] packet in packets)
        {
            packet.CopyTo(coalescer.NextReadBuffer);
            coalescer.Commit(packet.Length);
        }
        var collector = new Collector();
        coalescer.Flush(collector);
        return collector.Frames;
    }

    /// <summary>The packet as PacketDotNet reads it, its IP and TCP checksums checked.</summary>
    private static TcpPacket Oracle(byte[] frame, bool v6 = false)
    {
        Packet parsed = v6 ? new IPv6Packet(new PacketDotNet.Utils.ByteArraySegment(frame)) : new IPv4Packet(new PacketDotNet.Utils.ByteArraySegment(frame));
        var tcp = parsed.Extract<TcpPacket>();
        Assert.NotNull(tcp);
        Assert.True(tcp.ValidTcpChecksum, "TCP checksum");
        if (parsed is IPv4Packet v4) Assert.True(v4.ValidIPChecksum, "IPv4 header checksum");
        return tcp;
    }

    [Theory]
    [InlineData(false, 1448)]
    [InlineData(true, 1428)]
    [InlineData(false, 1447)] // odd: every other payload lands at an odd offset of the merged one
    public void InOrderSegmentsOfOneFlow_BecomeOneSegment(bool v6, int mss)
    {
        byte[][] payloads = [Bytes(mss, 1), Bytes(mss, 2), Bytes(mss, 3), Bytes(700, 4)];
        uint seq = 1000;
        var packets = new List<byte[]>();
        foreach (byte[] p in payloads)
        {
            packets.Add(Segment(seq, p, p.Length == 700 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack, v6: v6));
            seq += (uint)p.Length;
        }
        var coalescer = new ReceiveCoalescer();
        byte[] merged = Assert.Single(Run(coalescer, [.. packets]));
        TcpPacket tcp = Oracle(merged, v6);
        Assert.Equal(payloads.SelectMany(p => p).ToArray(), tcp.PayloadData);
        Assert.Equal(1000u, tcp.SequenceNumber);
        Assert.True(tcp.Push);
        Assert.Equal(4, coalescer.SegmentsCoalesced);
        Assert.Equal(1, coalescer.PacketsMerged);
    }

    [Fact]
    public void WhatGroMustNotMerge_GoesThroughAsItCame_InItsPlace()
    {
        byte[] a = Segment(1000, Bytes(1000, 1));
        byte[] gap = Segment(3000, Bytes(1000, 2));                                     // not where a ended
        byte[] otherFlow = Segment(4000, Bytes(1000, 3), sourcePort: 5001);
        byte[] pureAck = Segment(5000, [], TcpFlags.Ack);
        byte[] fin = Segment(5000, Bytes(10, 4), TcpFlags.Ack | TcpFlags.Fin);
        byte[] otherAck = Segment(6000, Bytes(1000, 5), ack: 1);
        byte[] otherAck2 = Segment(7000, Bytes(1000, 6), ack: 2);                       // a different ACK number
        byte[] ts1 = Segment(8000, Bytes(1000, 7), timestamp: 1);
        byte[] ts2 = Segment(9000, Bytes(1000, 8), timestamp: 2);                       // different options
        byte[] pushed = Segment(10000, Bytes(500, 9), TcpFlags.Ack | TcpFlags.Psh);
        byte[] afterPush = Segment(10500, Bytes(500, 10));                              // PSH ends a run
        byte[][] all = [a, gap, otherFlow, pureAck, fin, otherAck, otherAck2, ts1, ts2, pushed, afterPush];
        var coalescer = new ReceiveCoalescer();
        List<byte[]> delivered = Run(coalescer, all);
        Assert.Equal(all, delivered);
        Assert.Equal(0, coalescer.SegmentsCoalesced);
    }

    [Fact]
    public void AShortSegmentEndsTheRun()
    {
        byte[] full = Segment(1000, Bytes(1000, 1)), short1 = Segment(2000, Bytes(500, 2)), next = Segment(2500, Bytes(1000, 3));
        List<byte[]> delivered = Run(new ReceiveCoalescer(), full, short1, next);
        Assert.Equal(2, delivered.Count);
        Assert.Equal(1500, Oracle(delivered[0]).PayloadData.Length);
        Assert.Equal(next, delivered[1]);
    }

    [Fact]
    public void ARunWithABadChecksum_IsDeliveredSegmentBySegment_ForTheStackToCount()
    {
        byte[] a = Segment(1000, Bytes(1000, 1)), b = Segment(2000, Bytes(1000, 2)), c = Segment(3000, Bytes(1000, 3));
        b[^1] ^= 0xFF; // corrupt b's payload
        var coalescer = new ReceiveCoalescer();
        Assert.Equal([a, b, c], Run(coalescer, a, b, c));
    }

    [Fact]
    public void TwoFlowsInterleavedInRuns_EachRunMerged_OrderWithinAFlowKept()
    {
        byte[] a1 = Segment(1000, Bytes(1000, 1)), a2 = Segment(2000, Bytes(1000, 2));
        byte[] b1 = Segment(50, Bytes(1000, 3), sourcePort: 6000), b2 = Segment(1050, Bytes(1000, 4), sourcePort: 6000);
        byte[] a3 = Segment(3000, Bytes(1000, 5)), a4 = Segment(4000, Bytes(1000, 6));
        List<byte[]> delivered = Run(new ReceiveCoalescer(), a1, a2, b1, b2, a3, a4);
        Assert.Equal(3, delivered.Count);
        Assert.Equal([1000u, 50u, 3000u], delivered.Select(f => Oracle(f).SequenceNumber));
        Assert.All(delivered, f => Assert.Equal(2000, Oracle(f).PayloadData.Length));
    }

    [Fact]
    public void AMergedSegmentStaysWithin64KiB()
    {
        var packets = new List<byte[]>();
        uint seq = 0;
        for (int i = 0; i < 60; i++)
        {
            packets.Add(Segment(seq, Bytes(1448, i)));
            seq += 1448;
        }
        var coalescer = new ReceiveCoalescer();
        List<byte[]> delivered = Run(coalescer, [.. packets]);
        Assert.All(delivered, f => Assert.True(f.Length <= 65535));
        Assert.Equal(packets.Sum(p => p.Length - 52), delivered.Sum(f => Oracle(f).PayloadData.Length));
        Assert.Equal(2, delivered.Count); // 45 segments fill one, the other 15 the next
        Assert.Equal(60, coalescer.SegmentsCoalesced);
        Assert.Equal(45 * 1448, Oracle(delivered[0]).PayloadData.Length);
    }
    /// <summary>Takes the buffer of every frame it can, as a stack does with a large frame (<see cref="DeviceReadBuffer"/>).</summary>
    private sealed class Taker : IObserver<ReadOnlyMemory<byte>>
    {
        public List<(ReadOnlyMemory<byte> Frame, TransmitBuffer Buffer)> Taken { get; } = [];
        public int Borrowed { get; private set; }

        public void OnNext(ReadOnlyMemory<byte> value)
        {
            if (MemoryMarshal.TryGetMemoryManager(value, out TransmitBuffer? buffer) && buffer.TryDetach()) Taken.Add((value, buffer));
            else Borrowed++;
        }

        public void OnError(Exception error) => throw error;
        public void OnCompleted() { }
    }

    [Fact]
    public void AMergedSegment_IsHandedOverInABufferTheStackMayKeep_AndTheNextIsBuiltInAnother()
    {
        // Without this the stack copies every merged segment (up to 64 KiB) into its inbox before TCP sees it.
        var coalescer = new ReceiveCoalescer();
        var taker = new Taker();
        var expected = new List<byte[]>();
        uint seq = 0;
        for (int burst = 0; burst < 2; burst++)
        {
            var payloads = new List<byte[]>();
            for (int i = 0; i < 8; i++)
            {
                byte[] payload = Bytes(1448, burst * 100 + i);
                payloads.Add(payload);
                byte[] packet = Segment(seq, payload);
                seq += 1448;
                packet.CopyTo(coalescer.NextReadBuffer);
                coalescer.Commit(packet.Length);
            }
            expected.Add([.. payloads.SelectMany(p => p)]);
            coalescer.Flush(taker);
        }
        Assert.Equal(0, taker.Borrowed);
        Assert.Equal(2, taker.Taken.Count);
        Assert.NotSame(taker.Taken[0].Buffer, taker.Taken[1].Buffer);
        // The first merged segment is intact although the second was built after it was taken.
        for (int k = 0; k < 2; k++) Assert.Equal(expected[k], Oracle(taker.Taken[k].Frame.ToArray()).PayloadData);
        foreach (var (_, buffer) in taker.Taken) TransmitBuffer.Return(buffer);
    }
}
