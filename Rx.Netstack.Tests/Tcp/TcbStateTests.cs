using System.Reflection;
using Rx.Netstack.Tcp;
using Rx.Netstack.Tcp.Congestion;
using Rx.Netstack.Wire;
using static Rx.Netstack.Tests.Tcp.TcpHandshakeTests;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>The sanity helper itself: it must see every change and name it.</summary>
public class TcbStateTests
{
    [Fact]
    public void A_state_equals_itself_and_every_change_is_listed_by_name()
    {
        var c = EstablishedClient();
        TcbState established = c.Snapshot();
        c.Sanity(established);
        c.Do(20, t => t.Send(new byte[10]));
        var failure = Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => c.Sanity(established));
        Assert.Contains("Sender.Nxt: expected 1001, actual 1011", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Timers.Retransmit: expected never, actual @220 ms", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Receiver.", failure.Message, StringComparison.Ordinal);
        c.Expect(20, Check.Seq(1001), Check.PayloadLength(10));
    }

    [Fact]
    public void With_refuses_a_name_that_is_no_field_and_a_value_of_another_type()
    {
        TcbState s = EstablishedClient().Snapshot();
        var unknown = Assert.Throws<ArgumentException>(() => s.With(new { Sender = new { Unaa = 1u } }));
        Assert.Contains("Sender.Unaa", unknown.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => s.With(new { Sender = new { Una = "1101" } }));
        Assert.Equal(new SeqNumber(1101), s.With(new { Sender = new { Una = 1101u } })["Sender.Una"]);
        Assert.Equal(new SeqNumber(1001), s["Sender.Una"]); // With makes a new state
    }

    [Fact]
    public void Every_field_of_every_part_is_in_the_state()
    {
        TcbState s = EstablishedClient().Snapshot();
        foreach ((Type type, string part) in new[]
        {
            (typeof(TcpSender), "Sender"), (typeof(TcpReceiver), "Receiver"), (typeof(TcpAgreedOptions), "Options"),
            (typeof(TcpTimers), "Timers"), (typeof(DupAckRecovery), "Recovery"), (typeof(PendingReset), "Reset"),
        })
        {
            foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                if (field.FieldType == typeof(ICongestionControl)) continue; // shown once, as Congestion
                string name = field.Name.StartsWith('<') ? field.Name[1..field.Name.IndexOf('>', StringComparison.Ordinal)] : field.Name.TrimStart('_');
                Assert.Contains(s.Names, n => n.StartsWith($"{part}.{char.ToUpperInvariant(name[0])}{name[1..]}", StringComparison.Ordinal));
            }
        }
        Assert.Contains("State", s.Names);
        Assert.Contains("Pending", s.Names);
        Assert.Contains("Congestion.CongestionWindow", s.Names);
        Assert.Contains("Rtt.Rto", s.Names);
    }
}
