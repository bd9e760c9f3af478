using System.Buffers.Binary;
using CsCheck;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Tests.Wire;

public class ChecksumTests
{
    /// <summary>The plainest RFC 1071 sum: big-endian words one by one, odd byte padded, carries folded at the end.</summary>
    private static ushort ReferenceFold(ReadOnlySpan<byte> data, ulong initial = 0)
    {
        ulong sum = initial;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if ((data.Length & 1) != 0) sum += (uint)data[^1] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static ushort Fold(uint partial) => (ushort)~Checksum.Finish(partial);

    [Fact]
    public void EveryLoopMatchesTheScalarReferenceForAnyLengthAlignmentAndInitialSum()
    {
        var gen = Gen.Select(Gen.Int[0, 3000], Gen.Int[0, 31], Gen.UInt, Gen.Int);
        gen.Sample((length, misalign, initial, seed) =>
        {
            var buffer = new byte[length + misalign];
            new Random(seed).NextBytes(buffer);
            var data = buffer.AsSpan(misalign, length);
            ushort expected = ReferenceFold(data, initial);
            Assert.Equal(expected, Fold(Checksum.Accumulate(data, initial)));
            Assert.Equal(expected, Fold(Checksum.Accumulate(data, initial, Checksum.SumLoop.Scalar)));
            Assert.Equal(expected, Fold(Checksum.Accumulate(data, initial, Checksum.SumLoop.Vector128)));
            Assert.Equal(expected, Fold(Checksum.Accumulate(data, initial, Checksum.SumLoop.Vector256)));
        }, iter: 1000);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0xFF)]
    public void LongBuffersDoNotOverflowTheVectorLanes(byte fill)
    {
        // 1 MiB is more than 16384 vector steps of 32 bytes: the lanes must be flushed before they overflow.
        var data = new byte[(1 << 20) + 7];
        Array.Fill(data, fill);
        ushort expected = ReferenceFold(data);
        Assert.Equal(expected, Fold(Checksum.Accumulate(data, 0, Checksum.SumLoop.Vector256)));
        Assert.Equal(expected, Fold(Checksum.Accumulate(data, 0, Checksum.SumLoop.Vector128)));
        Assert.Equal(expected, Fold(Checksum.Accumulate(data, 0, Checksum.SumLoop.Scalar)));
    }

    [Fact]
    public void MatchesTheRfc1071Example()
    {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded), so the checksum is 220d.
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(0xddf2, Fold(Checksum.Accumulate(data)));
        Assert.Equal(0x220d, Checksum.Compute(data));
    }

    [Fact]
    public void PartialSumsCompose()
    {
        Gen.Select(Gen.Byte.Array[0, 400], Gen.Byte.Array[0, 400]).Sample((a, b) =>
        {
            if ((a.Length & 1) != 0) a = a[..^1]; // a split point on a word boundary
            byte[] whole = [.. a, .. b];
            Assert.Equal(Checksum.Compute(whole), Checksum.Finish(Checksum.Accumulate(b, Checksum.Accumulate(a))));
        });
    }

    [Fact]
    public void VerifyAcceptsABufferCarryingItsOwnChecksumAndRejectsAnyFlippedBit()
    {
        Gen.Select(Gen.Byte.Array[4, 300], Gen.Int, Gen.Int[0, 7]).Sample((data, position, bit) =>
        {
            data[0] = data[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(data, Checksum.Compute(data));
            Assert.True(Checksum.Verify(data));
            data[(int)((uint)position % data.Length)] ^= (byte)(1 << bit);
            Assert.False(Checksum.Verify(data));
        });
    }

    [Fact]
    public void PseudoHeadersSumTheRfcLayouts()
    {
        Gen.Select(WireGen.AddressPair, Gen.Byte, Gen.Int[0, 100_000]).Sample((pair, protocol, length) =>
        {
            var (source, destination) = pair;
            byte[] pseudo;
            if (!source.IsV6)
            {
                // RFC 9293 §3.1 / RFC 768: source, destination, zero, protocol, 16-bit length.
                pseudo = new byte[12];
                source.WriteTo(pseudo);
                destination.WriteTo(pseudo.AsSpan(4));
                pseudo[9] = protocol;
                BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(10), (ushort)length);
            }
            else
            {
                // RFC 8200 §8.1: source, destination, 32-bit length, three zero bytes, next header.
                pseudo = new byte[40];
                source.WriteTo(pseudo);
                destination.WriteTo(pseudo.AsSpan(16));
                BinaryPrimitives.WriteUInt32BigEndian(pseudo.AsSpan(32), (uint)length);
                pseudo[39] = protocol;
            }
            Assert.Equal(ReferenceFold(pseudo), Fold(Checksum.PseudoHeader(source, destination, (IpProtocol)protocol, length)));
        });
    }
}
