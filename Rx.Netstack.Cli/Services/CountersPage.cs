using System.Globalization;
using System.Net;
using System.Text;

namespace Rx.Netstack.Cli.Services;

/// <summary>A stack's live counters as HTML or text, for the HTTP service and the demo.</summary>
public static class CountersPage
{
    /// <summary>The counters as (name, value) rows, in display order.</summary>
    public static IEnumerable<(string Name, string Value)> Rows(Netstack stack, long httpRequests)
    {
        var s = stack.GetStats();
        string F(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        yield return ("addresses", string.Join(", ", stack.Addresses));
        yield return ("mtu", stack.Mtu.ToString(CultureInfo.InvariantCulture));
        yield return ("frames in / out", $"{F(s.FramesIn)} / {F(s.FramesOut)}");
        yield return ("bytes in / out", $"{F(s.BytesIn)} / {F(s.BytesOut)}");
        yield return ("IPv4 / IPv6 packets in", $"{F(s.Ipv4In)} / {F(s.Ipv6In)}");
        yield return ("TCP segments in / out", $"{F(s.TcpIn)} / {F(s.TcpOut)}");
        yield return ("TCP retransmissions", F(s.TcpRetransmissions));
        yield return ("TCP fast retransmits / timeouts / tail loss probes", $"{F(s.TcpFastRetransmits)} / {F(s.TcpTimeouts)} / {F(s.TcpTailLossProbes)}");
        yield return ("TCP D-SACKs in / out, undone", $"{F(s.TcpDuplicateSacksReceived)} / {F(s.TcpDuplicateSacksSent)}, {F(s.TcpSpuriousRetransmissionsUndone)}");
        yield return ("ECN CE received / reductions", $"{F(s.TcpCongestionMarksReceived)} / {F(s.TcpCongestionEchoResponses)}");
        yield return ("path MTU reductions / black holes / raises", $"{F(s.TcpPathMtuReductions)} / {F(s.TcpPathMtuBlackHoles)} / {F(s.TcpPathMtuRaises)}");
        yield return ("UDP datagrams in / out", $"{F(s.UdpIn)} / {F(s.UdpOut)}");
        yield return ("ICMP messages in / out", $"{F(s.IcmpIn)} / {F(s.IcmpOut)}");
        yield return ("fragments in / out", $"{F(s.FragmentsIn)} / {F(s.FragmentsOut)}");
        yield return ("datagrams reassembled", F(s.DatagramsReassembled));
        yield return ("sockets", string.Join(", ", s.SocketsByKind.Select(kv => $"{kv.Key} {kv.Value}")));
        yield return ("connections", string.Join(", ", s.ConnectionsByState.Select(kv => $"{kv.Key} {kv.Value}")));
        yield return ("drops", s.TotalDrops == 0 ? "0" : string.Join(", ", s.Drops.Select(kv => $"{kv.Key} {F(kv.Value)}")));
        // What a load test needs to tell an overloaded listener or command queue from a lost request.
        yield return ("SYN cookies sent / accepted", $"{F(s.SynCookiesSent)} / {F(s.SynCookiesAccepted)}");
        yield return ("commands processed / waited / refused", $"{F(s.CommandsProcessed)} / {F(s.CommandsWaited)} / {F(s.CommandsRefused)}");
        yield return ("engine faults", F(s.EngineFaults));
        // How the engine's work was cut up: passes, those run on the thread that brought the work, timer wake-ups armed.
        yield return ("passes / on the caller / wake-ups armed", $"{F(s.Passes)} / {F(s.PassesOnCaller)} / {F(s.WakeupsArmed)}");
        yield return ("HTTP requests", F(httpRequests));
    }

    public static string Html(Netstack stack, long httpRequests)
    {
        var html = new StringBuilder("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>rx-netstack</title></head><body>\n");
        html.Append("<h1>rx-netstack</h1>\n<p>Served by a userspace TCP/IP stack in .NET.</p>\n<table>\n");
        foreach (var (name, value) in Rows(stack, httpRequests))
            html.Append(CultureInfo.InvariantCulture, $"<tr><th align=\"left\">{WebUtility.HtmlEncode(name)}</th><td>{WebUtility.HtmlEncode(value)}</td></tr>\n");
        html.Append("</table>\n</body></html>\n");
        return html.ToString();
    }

    public static string Text(Netstack stack, long httpRequests) =>
        string.Concat(Rows(stack, httpRequests).Select(row => $"{row.Name}: {row.Value}\n"));
}
