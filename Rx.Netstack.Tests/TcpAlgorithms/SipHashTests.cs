using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.TcpAlgorithms;

public class SipHashTests
{
    private static readonly byte[] ReferenceKey = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();

    // The reference test vectors of the SipHash paper (key 00..0f, message 00..len-1).
    [Theory]
    [InlineData(0, 0x726fdb47dd0e0e31UL)]
    [InlineData(15, 0xa129ca6149be45e5UL)]
    public void Matches_the_reference_vectors(int length, ulong expected)
    {
        var message = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();
        Assert.Equal(expected, new SipHash(ReferenceKey).Hash(message));
    }

    [Fact]
    public void Rejects_a_key_of_the_wrong_length() =>
        Assert.Throws<ArgumentException>(() => new SipHash(new byte[15]));

    [Fact]
    public void Random_keys_differ()
    {
        byte[] message = [1, 2, 3];
        Assert.NotEqual(SipHash.WithRandomKey().Hash(message), SipHash.WithRandomKey().Hash(message));
    }
}
