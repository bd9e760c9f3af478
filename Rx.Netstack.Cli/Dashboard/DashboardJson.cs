using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Rx.Netstack.Diagnostics;

namespace Rx.Netstack.Cli.Dashboard;

/// <summary>
/// The JSON data of the dashboard's events, written with <see cref="Utf8JsonWriter"/> (no reflection, no intermediate
/// objects). Times are Unix milliseconds of the stack's clock; rates are per second; sizes in bytes. docs/dashboard.md
/// lists every field.
/// </summary>
internal static class DashboardJson
{
    /// <summary>The counters the page shows as rates: JSON name and value. Totals only ever grow, so a rate is never negative.</summary>
    private static readonly (string Name, Func<NetstackStats, long> Value)[] Counters =
    [
        ("framesIn", s => s.FramesIn), ("framesOut", s => s.FramesOut),
        ("bytesIn", s => s.BytesIn), ("bytesOut", s => s.BytesOut),
        ("tcpIn", s => s.TcpIn), ("tcpOut", s => s.TcpOut), ("tcpRetransmissions", s => s.TcpRetransmissions),
        ("udpIn", s => s.UdpIn), ("udpOut", s => s.UdpOut),
        ("icmpIn", s => s.IcmpIn), ("icmpOut", s => s.IcmpOut),
        ("drops", s => s.TotalDrops), ("commands", s => s.CommandsProcessed), ("passes", s => s.Passes),
        ("tcpFastRetransmits", s => s.TcpFastRetransmits), ("tcpTimeouts", s => s.TcpTimeouts),
        ("tcpTailLossProbes", s => s.TcpTailLossProbes), ("tcpDsacksReceived", s => s.TcpDuplicateSacksReceived),
        ("tcpUndos", s => s.TcpSpuriousRetransmissionsUndone), ("tcpEcnReductions", s => s.TcpCongestionEchoResponses),
        ("tcpPathMtuReductions", s => s.TcpPathMtuReductions),
    ];

    /// <summary>The first event of a stream: which stack it is, the others, and the period of the updates.</summary>
    public static byte[] Hello(DashboardSource source, IReadOnlyList<DashboardSource> all, TimeSpan period) => Write(json =>
    {
        json.WriteString("stack", source.Name);
        json.WriteStartArray("stacks");
        foreach (DashboardSource s in all)
        {
            json.WriteStartObject();
            json.WriteString("name", s.Name);
            json.WriteStartArray("addresses");
            foreach (InterfaceAddress address in s.Stack.Addresses) json.WriteStringValue(address.ToString());
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteNumber("mtu", source.Stack.Mtu);
        json.WriteNumber("periodMs", period.TotalMilliseconds);
        json.WriteBoolean("pings", source.Pings is not null);
    });

    /// <summary>Totals and per-second rates since <paramref name="from"/> (none: the first sample, rates 0), gauges, drops by reason.</summary>
    public static byte[] Stats(NetstackStats? from, NetstackStats to, int clients, long coalesced) => Write(json =>
    {
        double seconds = from is null ? 0 : (to.Timestamp - from.Timestamp).TotalSeconds;
        double Rate(long now, long before) => seconds > 0 ? Math.Max(0, now - before) / seconds : 0;
        json.WriteNumber("t", to.Timestamp.ToUnixTimeMilliseconds());
        json.WriteNumber("seconds", seconds);
        json.WriteStartObject("counters");
        foreach (var (name, value) in Counters)
        {
            long total = value(to);
            WriteCounter(json, name, total, Rate(total, from is null ? total : value(from)));
        }
        json.WriteEndObject();
        json.WriteStartObject("drops");
        foreach (var (reason, total) in to.Drops.OrderBy(d => d.Key))
            WriteCounter(json, reason.ToString(), total, Rate(total, from?.Drops.GetValueOrDefault(reason) ?? total));
        json.WriteEndObject();
        WriteGauges(json, "sockets", to.SocketsByKind);
        WriteGauges(json, "connections", to.ConnectionsByState);
        json.WriteNumber("commandQueue", to.CommandQueueDepth);
        json.WriteNumber("clients", clients);
        json.WriteNumber("coalesced", coalesced);
    });

    /// <summary>Socket-table changes; with <paramref name="reset"/> the rows replace what the browser shows.</summary>
    public static byte[] Sockets(bool reset, IReadOnlyList<SocketTableChange> changes) => Write(json =>
    {
        json.WriteBoolean("reset", reset);
        json.WriteStartArray("changes");
        foreach (SocketTableChange change in changes)
        {
            SocketInfo row = change.Socket;
            json.WriteStartObject();
            json.WriteString("op", change.Kind switch
            {
                SocketTableChangeKind.Add => "add",
                SocketTableChangeKind.Update => "update",
                _ => "remove",
            });
            WriteRow(json, row);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    });

    /// <summary>One sample of each charted connection.</summary>
    public static byte[] Connections(DateTimeOffset at, IReadOnlyList<ConnectionSample> samples) => Write(json =>
    {
        json.WriteNumber("t", at.ToUnixTimeMilliseconds());
        json.WriteStartArray("items");
        foreach (var (row, info, sendRate, receiveRate) in samples)
        {
            json.WriteStartObject();
            WriteRow(json, row);
            json.WriteString("tcpState", info.State.ToString());
            json.WriteNumber("cwnd", info.CongestionWindow);
            json.WriteNumber("ssthresh", info.SlowStartThreshold);
            if (info.SmoothedRtt is { } srtt) json.WriteNumber("srttMs", Math.Round(srtt.TotalMilliseconds, 3));
            else json.WriteNull("srttMs");
            json.WriteNumber("rtoMs", Math.Round(info.Rto.TotalMilliseconds, 3));
            json.WriteNumber("inFlight", info.BytesInFlight);
            json.WriteNumber("sendWindow", info.SendWindow);
            json.WriteNumber("sendRate", Math.Round(sendRate));
            json.WriteNumber("receiveRate", Math.Round(receiveRate));
            json.WriteNumber("bytesSent", info.BytesSent);
            json.WriteNumber("bytesReceived", info.BytesReceived);
            json.WriteNumber("retransmitted", info.SegmentsRetransmitted);
            json.WriteBoolean("recovery", info.InRecovery);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    });

    /// <summary>Pings since the last event: round-trip time in milliseconds, or null and why.</summary>
    public static byte[] Pings(IReadOnlyList<PingSample> pings) => Write(json =>
    {
        json.WriteStartArray("items");
        foreach (PingSample ping in pings)
        {
            json.WriteStartObject();
            json.WriteNumber("t", ping.At.ToUnixTimeMilliseconds());
            json.WriteString("target", ping.Target);
            json.WriteNumber("seq", ping.Sequence);
            if (ping.RoundTrip is { } rtt) json.WriteNumber("rttMs", Math.Round(rtt.TotalMilliseconds, 3));
            else json.WriteNull("rttMs");
            if (ping.Error is not null) json.WriteString("error", ping.Error);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    });

    private static void WriteRow(Utf8JsonWriter json, SocketInfo row)
    {
        json.WriteString("id", row.Handle.ToString());
        json.WriteString("kind", row.Kind.ToString());
        json.WriteString("protocol", row.Kind == Commands.SocketKind.Raw ? $"raw {row.Protocol}" : row.Protocol.ToString().ToUpperInvariant());
        json.WriteNumber("ip", row.IpVersion);
        json.WriteString("local", row.Kind == Commands.SocketKind.Raw ? "*" : row.Local.ToString());
        if (row.Remote is { } remote) json.WriteString("remote", remote.ToString());
        else json.WriteNull("remote");
        if (row.State is { } state) json.WriteString("state", state.ToString());
        else json.WriteNull("state");
    }

    private static void WriteCounter(Utf8JsonWriter json, string name, long total, double rate)
    {
        json.WriteStartObject(name);
        json.WriteNumber("total", total);
        json.WriteNumber("rate", Math.Round(rate, 2));
        json.WriteEndObject();
    }

    private static void WriteGauges<TKey>(Utf8JsonWriter json, string name, IReadOnlyDictionary<TKey, int> gauges) where TKey : notnull
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in gauges.OrderBy(g => g.Key.ToString(), StringComparer.Ordinal))
            json.WriteNumber(Convert.ToString(key, CultureInfo.InvariantCulture)!, value);
        json.WriteEndObject();
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
