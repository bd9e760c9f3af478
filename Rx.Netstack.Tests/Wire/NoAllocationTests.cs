using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;


/// <summary>Parse and emit allocate nothing on the managed heap (the engine's hot path depends on it).</summary>
public class NoAllocationTests
{
    private static readonly NetAddress V4Source = NetAddress.Parse("192.0.2.1");
    private static readonly NetAddress V4Destination = NetAddress.Parse("192.0.2.2");
    private static readonly NetAddress V6Source = NetAddress.Parse("2001:db8::1");
    private static readonly NetAddress V6Destination = NetAddress.Parse("2001:db8::2");

    private static TcpHeader Header()
    {
        var header = new TcpHeader(1000, 80, TcpFlags.Ack) { Window = 100, HasTimestamps = true, TimestampValue = 1, MaxSegmentSize = 1460, WindowScale = 7 };
        header.AddSackBlock(new SackBlock(new SeqNumber(5), new SeqNumber(9)));
        return header;
    }

    /// <summary>One emit and parse of every type into <paramref name="buffer"/>; returns how many parses failed.</summary>
    private static int EmitAndParseAll(byte[] buffer)
    {
        int failures = 0;
        var span = buffer.AsSpan();
        var tcpHeader = Header();

        int tcpLength = TcpHeader.Emit(span[20..], tcpHeader, 100, V4Source, V4Destination);
        Ipv4Header.Emit(span, new Ipv4Header(V4Source, V4Destination, IpProtocol.Tcp), tcpLength);
        if (Ipv4Header.TryParse(span[..(20 + tcpLength)], out _, out _, out var ipPayload) != WireError.None) failures++;
        if (TcpHeader.TryParse(ipPayload, V4Source, V4Destination, out _, out _) != WireError.None) failures++;

        int udpLength = UdpHeader.Emit(span[48..], new UdpHeader(53, 53), 1200, V6Source, V6Destination);
        Ipv6Header.Emit(span, new Ipv6Header(V6Source, V6Destination, IpProtocol.Udp, HasFragmentHeader: true, FragmentIdentification: 3), udpLength);
        if (Ipv6Header.TryParse(span[..(48 + udpLength)], out _, out _, out var v6Payload, out _) != WireError.None) failures++;
        if (UdpHeader.TryParse(v6Payload, V6Source, V6Destination, out _, out _) != WireError.None) failures++;

        int icmpLength = IcmpHeader.EmitV4(span, new IcmpHeader(8, 0, 1, 2), 56);
        if (IcmpHeader.TryParseV4(span[..icmpLength], out _, out _) != WireError.None) failures++;
        icmpLength = IcmpHeader.EmitV6(span, new IcmpHeader(128, 0, 1, 2), 56, V6Source, V6Destination);
        if (IcmpHeader.TryParseV6(span[..icmpLength], V6Source, V6Destination, out _, out _) != WireError.None) failures++;
        if (tcpHeader.Length != 48) failures++; // 20 + MSS 4 + WS 3 + TS 10 + one SACK block 10, padded
        return failures;
    }

    [Fact]
    public void ParseAndEmitAllocateNothing()
    {
        var buffer = new byte[2048];
        new Random(1).NextBytes(buffer);
        for (int i = 0; i < 100; i++) Assert.Equal(0, EmitAndParseAll(buffer)); // warm up (tiering, statics)

        long before = GC.GetAllocatedBytesForCurrentThread();
        int failures = 0;
        for (int i = 0; i < 1000; i++) failures += EmitAndParseAll(buffer);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, failures);
        Assert.Equal(0, allocated);
    }
}
