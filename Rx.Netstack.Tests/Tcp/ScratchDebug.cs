using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Xunit.Abstractions;
namespace Rx.Netstack.Tests.Tcp;
public class ScratchDebug(ITestOutputHelper o)
{
    [Fact]
    public void Debug()
    {
        int seed = 1996402004;
        var settings = new TcpSettings { CongestionControl = CongestionControlAlgorithm.Cubic, EnableSack = true, EnableTimestamps = seed % 3 != 0, NoDelay = seed % 2 == 0 };
        var link = new LinkProfile { LossRate = 0.09, DuplicateRate = 0.01, Jitter = TimeSpan.FromMilliseconds(22) };
        var pair = new TcpPair(settings, settings, link, seed);
        var a = new byte[45417]; var b = new byte[28276];
        var app = new StreamExchange(a, b);
        pair.Application = app.Run;
        var log = new List<string>();
        pair.Trace = (t, toB, h, len) => log.Add($"{t} {(toB ? "A>B" : "B>A")} [{h.Flags}] seq={h.Sequence} ack={h.Acknowledgment} win={h.Window} len={len} sacks={h.SackBlockCount}");
        pair.RunUntil(app.Done, TimeSpan.FromHours(2));
        o.WriteLine($"{pair.Now} A={pair.A.State}/{pair.A.Error} B={pair.B?.State}/{pair.B?.Error} rxA={app.ReceivedByA.Length} rxB={app.ReceivedByB.Length} ts={settings.EnableTimestamps}");
        foreach (var l in log.Skip(Math.Max(0, log.Count - 60))) o.WriteLine(l);
    }
}
