using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class SynCookiesTests
{
    private static readonly byte[] Secret = Enumerable.Range(0, 16).Select(i => (byte)(0xA0 + i)).ToArray();
    private static readonly NetEndpoint Local = NetEndpoint.Parse("192.168.1.1:443");
    private static readonly NetEndpoint Remote = NetEndpoint.Parse("192.168.1.50:51515");
    private static readonly SeqNumber ClientIsn = new(0xDEADBEEF);
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(64 * 1000 + 10).Ticks);

    [Theory]
    [InlineData(1460, 1460)]
    [InlineData(1220, 1220)]
    [InlineData(9000, 8960)]
    [InlineData(65495, 8960)]
    [InlineData(1459, 1452)]
    [InlineData(1400, 1300)]
    [InlineData(536, 536)]
    [InlineData(400, 536)]
    public void Round_trips_with_the_mss_rounded_down_to_the_table(int clientMss, int expectedMss)
    {
        var cookies = new SynCookies(Secret);
        var cookie = cookies.Encode(Local, Remote, ClientIsn, clientMss, T0);
        Assert.True(cookies.TryDecode(Local, Remote, cookie, ClientIsn, T0 + TimeSpan.FromSeconds(1), out int mss));
        Assert.Equal(expectedMss, mss);
    }

    [Fact]
    public void The_layout_is_counter_then_mss_index_then_hash()
    {
        var cookie = new SynCookies(Secret).Encode(Local, Remote, ClientIsn, 1460, T0);
        Assert.Equal(1000u % 32, cookie.Value >> 27);
        Assert.Equal(5u, (cookie.Value >> 24) & 7);
    }

    [Fact]
    public void A_different_tuple_fails()
    {
        var cookies = new SynCookies(Secret);
        var cookie = cookies.Encode(Local, Remote, ClientIsn, 1460, T0);
        Assert.False(cookies.TryDecode(Local, Remote with { Port = 51516 }, cookie, ClientIsn, T0, out _));
        Assert.False(cookies.TryDecode(Local with { Port = 444 }, Remote, cookie, ClientIsn, T0, out _));
        Assert.False(cookies.TryDecode(Local, NetEndpoint.Parse("192.168.1.51:51515"), cookie, ClientIsn, T0, out _));
        Assert.False(cookies.TryDecode(Remote, Local, cookie, ClientIsn, T0, out _));
    }

    [Fact]
    public void A_different_client_isn_fails()
    {
        var cookies = new SynCookies(Secret);
        var cookie = cookies.Encode(Local, Remote, ClientIsn, 1460, T0);
        Assert.False(cookies.TryDecode(Local, Remote, cookie, ClientIsn + 1, T0, out _));
    }

    [Fact]
    public void A_different_secret_fails()
    {
        var cookie = new SynCookies(Secret).Encode(Local, Remote, ClientIsn, 1460, T0);
        Assert.False(new SynCookies().TryDecode(Local, Remote, cookie, ClientIsn, T0, out _));
    }

    [Fact]
    public void Tampered_mss_or_counter_bits_fail()
    {
        var cookies = new SynCookies(Secret);
        var cookie = cookies.Encode(Local, Remote, ClientIsn, 1460, T0);
        var biggerMss = new SeqNumber(cookie.Value ^ (2u << 24)); // index 5 → 7 (8960)
        Assert.False(cookies.TryDecode(Local, Remote, biggerMss, ClientIsn, T0, out _));
        var olderCounter = new SeqNumber(cookie.Value - (1u << 27));
        Assert.False(cookies.TryDecode(Local, Remote, olderCounter, ClientIsn, T0, out _));
        var flippedHash = new SeqNumber(cookie.Value ^ 1);
        Assert.False(cookies.TryDecode(Local, Remote, flippedHash, ClientIsn, T0, out _));
    }

    [Fact]
    public void Valid_in_the_current_and_next_period_and_expired_after_two()
    {
        var cookies = new SynCookies(Secret);
        var periodStart = new Instant(TimeSpan.FromSeconds(64 * 1000).Ticks);
        var cookie = cookies.Encode(Local, Remote, ClientIsn, 1460, periodStart + TimeSpan.FromSeconds(63));
        Assert.True(cookies.TryDecode(Local, Remote, cookie, ClientIsn, periodStart + TimeSpan.FromSeconds(63), out _));
        Assert.True(cookies.TryDecode(Local, Remote, cookie, ClientIsn, periodStart + TimeSpan.FromSeconds(64), out _));
        Assert.True(cookies.TryDecode(Local, Remote, cookie, ClientIsn, periodStart + TimeSpan.FromSeconds(127.9), out _));
        Assert.False(cookies.TryDecode(Local, Remote, cookie, ClientIsn, periodStart + TimeSpan.FromSeconds(128), out _));
        Assert.False(cookies.TryDecode(Local, Remote, cookie, ClientIsn, periodStart + TimeSpan.FromSeconds(64 * 32 + 1), out _));
        // A cookie is not valid before it was made either (the counter would be one ahead).
        Assert.False(cookies.TryDecode(Local, Remote, cookie, ClientIsn, new Instant(periodStart.Ticks - TimeSpan.TicksPerSecond), out _));
    }

    [Fact]
    public void Works_for_ipv6()
    {
        var cookies = new SynCookies(Secret);
        var local = NetEndpoint.Parse("[2001:db8::1]:80");
        var remote = NetEndpoint.Parse("[2001:db8::2]:1234");
        var cookie = cookies.Encode(local, remote, ClientIsn, 1440, T0);
        Assert.True(cookies.TryDecode(local, remote, cookie, ClientIsn, T0, out int mss));
        Assert.Equal(1440, mss);
    }

    [Fact]
    public void Cookies_for_many_tuples_are_spread_out()
    {
        var cookies = new SynCookies(Secret);
        var values = new HashSet<uint>();
        for (ushort port = 1000; port < 2000; port++)
            values.Add(cookies.Encode(Local, Remote with { Port = port }, ClientIsn, 1460, T0).Value);
        Assert.True(values.Count > 990);
    }

    [Fact]
    public void Allocates_nothing()
    {
        var cookies = new SynCookies(Secret);
        var cookie = cookies.Encode(Local, Remote, ClientIsn, 1460, T0);
        _ = cookies.TryDecode(Local, Remote, cookie, ClientIsn, T0, out _);
        int valid = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            var c = cookies.Encode(Local, Remote, ClientIsn + i, 1460, T0);
            if (cookies.TryDecode(Local, Remote, c, ClientIsn + i, T0, out _)) valid++;
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
        Assert.Equal(1000, valid);
    }
}
