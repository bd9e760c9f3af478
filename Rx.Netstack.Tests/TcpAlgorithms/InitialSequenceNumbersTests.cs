using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class InitialSequenceNumbersTests
{
    private static readonly byte[] Secret = Enumerable.Range(1, 16).Select(i => (byte)(i * 7)).ToArray();
    private static readonly NetEndpoint Local = NetEndpoint.Parse("10.0.0.1:80");
    private static readonly NetEndpoint Remote = NetEndpoint.Parse("10.0.0.2:40000");
    private static readonly Instant T0 = new(TimeSpan.FromSeconds(1000).Ticks);

    [Fact]
    public void Is_deterministic_for_a_fixed_secret()
    {
        var a = new InitialSequenceNumbers(Secret);
        var b = new InitialSequenceNumbers(Secret);
        Assert.Equal(a.Next(Local, Remote, T0), b.Next(Local, Remote, T0));
    }

    [Fact]
    public void Differs_per_secret()
    {
        var other = (byte[])Secret.Clone();
        other[0] ^= 1;
        Assert.NotEqual(new InitialSequenceNumbers(Secret).Next(Local, Remote, T0), new InitialSequenceNumbers(other).Next(Local, Remote, T0));
    }

    [Fact]
    public void Differs_per_tuple()
    {
        var isn = new InitialSequenceNumbers(Secret);
        var seen = new HashSet<uint>
        {
            isn.Next(Local, Remote, T0).Value,
            isn.Next(Local, Remote with { Port = 40001 }, T0).Value,
            isn.Next(Local with { Port = 81 }, Remote, T0).Value,
            isn.Next(Local, NetEndpoint.Parse("10.0.0.3:40000"), T0).Value,
            isn.Next(NetEndpoint.Parse("10.0.0.9:80"), Remote, T0).Value,
            isn.Next(Remote, Local, T0).Value,
            isn.Next(NetEndpoint.Parse("[fe80::1]:80"), NetEndpoint.Parse("[fe80::2]:40000"), T0).Value,
        };
        Assert.Equal(7, seen.Count);
    }

    [Fact]
    public void Advances_with_time_at_one_step_per_4_microseconds()
    {
        var isn = new InitialSequenceNumbers(Secret);
        var first = isn.Next(Local, Remote, T0);
        Assert.Equal(first + 1, isn.Next(Local, Remote, T0 + TimeSpan.FromMicroseconds(4)));
        Assert.Equal(first + 250_000, isn.Next(Local, Remote, T0 + TimeSpan.FromSeconds(1)));
        var previous = first;
        for (int i = 1; i <= 100; i++)
        {
            var next = isn.Next(Local, Remote, T0 + TimeSpan.FromMilliseconds(37 * i));
            Assert.True(next > previous);
            previous = next;
        }
    }

    [Fact]
    public void Random_secrets_differ()
    {
        Assert.NotEqual(new InitialSequenceNumbers().Next(Local, Remote, T0), new InitialSequenceNumbers().Next(Local, Remote, T0));
    }

    [Fact]
    public void Allocates_nothing()
    {
        var isn = new InitialSequenceNumbers(Secret);
        _ = isn.Next(Local, Remote, T0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) _ = isn.Next(Local, Remote, T0 + TimeSpan.FromMilliseconds(i));
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
