using Rx.Netstack.Cli;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// How <c>bench loss</c> reads the kernel's counters: /proc/net/snmp and /proc/net/netstat hold pairs of lines, names then
/// values, under one prefix per MIB; the D-SACK counters (TCPDSACKRecv, TCPDSACKOldSent, TCPDSACKOfoSent) are TcpExt's.
/// </summary>
public sealed class BenchLossTests
{
    private const string Netstat =
        "TcpExt: SyncookiesSent TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv\n" +
        "TcpExt: 0 12 5 34\n" +
        "IpExt: InNoRoutes InTruncatedPkts\n" +
        "IpExt: 3 0\n";

    private const string Snmp =
        "Ip: Forwarding DefaultTTL\n" +
        "Ip: 1 64\n" +
        "Tcp: RtoAlgorithm RtoMin OutSegs RetransSegs\n" +
        "Tcp: 1 200 9000 7\n";

    [Fact]
    public void A_counter_is_read_from_the_value_line_under_its_prefix()
    {
        Assert.Equal(34, BenchLoss.ParseMibCounter(Netstat, "TcpExt:", "TCPDSACKRecv"));
        Assert.Equal(12, BenchLoss.ParseMibCounter(Netstat, "TcpExt:", "TCPDSACKOldSent"));
        Assert.Equal(3, BenchLoss.ParseMibCounter(Netstat, "IpExt:", "InNoRoutes"));
        Assert.Equal(7, BenchLoss.ParseMibCounter(Snmp, "Tcp:", "RetransSegs"));
    }

    [Fact]
    public void A_counter_not_under_that_prefix_is_minus_one()
    {
        Assert.Equal(-1, BenchLoss.ParseMibCounter(Netstat, "Tcp:", "TCPDSACKRecv")); // "TcpExt:" is not "Tcp:"
        Assert.Equal(-1, BenchLoss.ParseMibCounter(Netstat, "TcpExt:", "NoSuchCounter"));
        Assert.Equal(-1, BenchLoss.ParseMibCounter(Snmp, "TcpExt:", "TCPDSACKRecv"));
    }
}
