using CsCheck;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Performance;

/// <summary>
/// The checksum sums words in machine order and swaps once (RFC 1071 §2(B)); every loop must agree with the textbook
/// definition — big-endian 16-bit words, end-around carry, odd byte padded with zero — for any length, offset and initial sum.
/// </summary>
public sealed class ChecksumEquivalenceTests
{
    private static ushort Reference(ReadOnlySpan<byte> data, uint initial)
    {
        ulong sum = initial;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if (data.Length % 2 == 1) sum += (uint)data[^1] << 8;
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static ushort Fold(uint sum)
    {
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    [Fact]
    public void Every_loop_agrees_with_the_definition()
    {
        Gen.Select(Gen.Byte.Array[0, 3000], Gen.Int[0, 7], Gen.UInt).Sample((bytes, offset, initial) =>
        {
            ReadOnlySpan<byte> data = bytes.AsSpan(Math.Min(offset, bytes.Length)); // unaligned starts too
            ushort expected = Reference(data, initial);
            foreach (var path in new[] { Checksum.SumLoop.Scalar, Checksum.SumLoop.Vector128, Checksum.SumLoop.Vector256 })
                Assert.Equal(expected, Fold(Checksum.Accumulate(data, initial, path)));
        }, iter: 2000);
    }

    [Fact]
    public void Long_runs_of_0xFF_do_not_overflow_the_lanes()
    {
        byte[] data = new byte[65535 * 2 + 1];
        Array.Fill(data, (byte)0xFF);
        foreach (var path in new[] { Checksum.SumLoop.Scalar, Checksum.SumLoop.Vector128, Checksum.SumLoop.Vector256 })
            Assert.Equal(Reference(data, 0xFFFF_FFFF), Fold(Checksum.Accumulate(data, 0xFFFF_FFFF, path)));
    }

    [Fact]
    public void A_packet_with_its_checksum_verifies_and_a_flipped_bit_does_not()
    {
        byte[] packet = new byte[1499];
        new Random(9).NextBytes(packet);
        packet[10] = packet[11] = 0;
        ushort checksum = Checksum.Compute(packet);
        packet[10] = (byte)(checksum >> 8);
        packet[11] = (byte)checksum;
        Assert.True(Checksum.Verify(packet));
        packet[700] ^= 0x10;
        Assert.False(Checksum.Verify(packet));
    }
}
