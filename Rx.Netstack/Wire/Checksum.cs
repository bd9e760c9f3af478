using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rx.Netstack.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): a 16-bit ones' complement sum, computed over wide vectors.
/// Partial sums are carried as <see cref="uint"/> (unfolded) so pieces can be added in any order.
/// </summary>
public static class Checksum
{
    // A 32-bit lane gains at most 2 × 0xFFFF per vector step (its two 16-bit halves), so it cannot
    // overflow within 2^32 / 2^17 = 32768 steps; flush to the 64-bit total well before that.
    private const int StepsBeforeFlush = 16384;

    /// <summary>Adds the bytes of <paramref name="data"/> (as big-endian 16-bit words; an odd last byte is padded with zero)
    /// to <paramref name="initial"/> and returns the unfolded partial sum.</summary>
    public static uint Accumulate(ReadOnlySpan<byte> data, uint initial = 0) =>
        Accumulate(data, initial, data.Length < ShortestVectorSum ? SumLoop.Scalar : PreferredPath);

    /// <summary>Below this many bytes (an IP header, a pseudo-header, a pure ACK) the scalar loop is quicker: the vector
    /// loops' setup and lane reduction cost more than the few words they would sum.</summary>
    private const int ShortestVectorSum = 64;

    /// <summary>Which loop sums the bulk of a buffer; tests force each one to compare them.</summary>
    internal enum SumLoop { Scalar, Vector128, Vector256 }

    private static readonly SumLoop PreferredPath =
        Vector256.IsHardwareAccelerated ? SumLoop.Vector256 : Vector128.IsHardwareAccelerated ? SumLoop.Vector128 : SumLoop.Scalar;

    /// <summary><see cref="Accumulate(ReadOnlySpan{byte}, uint)"/> through a chosen loop (vector loops also run in software).</summary>
    internal static uint Accumulate(ReadOnlySpan<byte> data, uint initial, SumLoop path)
    {
        // RFC 1071 §2(B): the ones' complement sum does not depend on byte order. So the words are summed as the machine
        // reads them (no byte swap per word or per vector) and the folded 16-bit result is swapped once at the end.
        ulong sum = 0;
        int i = 0;
        ref byte start = ref MemoryMarshal.GetReference(data);

        if (path == SumLoop.Vector256 && data.Length >= Vector256<byte>.Count)
            i = AccumulateVector256(ref start, data.Length, ref sum);
        else if (path != SumLoop.Scalar && data.Length >= Vector128<byte>.Count)
            i = AccumulateVector128(ref start, data.Length, ref sum);

        // Scalar tail. A 32-bit word is the same as its two 16-bit halves, modulo 0xFFFF, because 2^16 ≡ 1 (deferred carries).
        for (; i + 4 <= data.Length; i += 4)
            sum += Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, i));
        if (i + 2 <= data.Length)
        {
            sum += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref start, i));
            i += 2;
        }
        if (i < data.Length)
            sum += BitConverter.IsLittleEndian ? data[i] : (uint)data[i] << 8; // odd byte: the high byte of a zero-padded word

        ushort folded = FoldTo16(FoldTo32(sum));
        if (BitConverter.IsLittleEndian) folded = BinaryPrimitives.ReverseEndianness(folded);
        return FoldTo32((ulong)initial + folded);
    }

    /// <summary>Folds a partial sum to 16 bits and complements it: the value to put in a checksum field.</summary>
    public static ushort Finish(uint partialSum) => (ushort)~FoldTo16(partialSum);

    /// <summary>The checksum of <paramref name="data"/> alone: <c>Finish(Accumulate(data))</c>.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Accumulate(data));

    /// <summary>The partial sum of the IPv4 (RFC 768/9293) or IPv6 (RFC 8200 §8.1) pseudo-header.</summary>
    /// <param name="source">Source address; its version selects the pseudo-header form.</param>
    /// <param name="destination">Destination address (same version as <paramref name="source"/>).</param>
    /// <param name="protocol">The upper-layer protocol.</param>
    /// <param name="upperLayerLength">The upper-layer packet length (header + payload) in bytes.</param>
    public static uint PseudoHeader(NetAddress source, NetAddress destination, IpProtocol protocol, int upperLayerLength)
    {
        uint length = (uint)upperLayerLength;
        if (!source.IsV6)
        {
            // RFC 9293 §3.1: source, destination, zero, protocol, TCP/UDP length (16 bits).
            uint s = source.V4Value, d = destination.V4Value;
            ulong v4 = (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF) + (uint)protocol + (length & 0xFFFF);
            return FoldTo32(v4);
        }

        // RFC 8200 §8.1: source, destination, 32-bit upper-layer length, 3 zero bytes, next header.
        Span<byte> addresses = stackalloc byte[32];
        source.WriteTo(addresses);
        destination.WriteTo(addresses[16..]);
        ulong v6 = (ulong)Accumulate(addresses) + (length >> 16) + (length & 0xFFFF) + (uint)protocol;
        return FoldTo32(v6);
    }

    /// <summary>True when a buffer that includes its own checksum field sums to 0xFFFF (verifies), with an optional pseudo-header sum.</summary>
    public static bool Verify(ReadOnlySpan<byte> data, uint pseudoHeaderSum = 0) => FoldTo16(Accumulate(data, pseudoHeaderSum)) == 0xFFFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint FoldTo32(ulong sum)
    {
        // 2^32 ≡ 1 (mod 0xFFFF): adding the high half back keeps the ones' complement sum.
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        return (uint)sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort FoldTo16(uint sum)
    {
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>Sums whole 32-byte blocks into <paramref name="sum"/>; returns the number of bytes consumed.</summary>
    private static int AccumulateVector256(ref byte start, int length, ref ulong sum)
    {
        // Two accumulators, 64 bytes a step: each add waits only for its own lane's previous add, so the two chains overlap
        // (one chain is bound by the add latency, not by loads). Per chain the flush rule above holds unchanged.
        var lanes = Vector256<uint>.Zero;
        var lanes2 = Vector256<uint>.Zero;
        var lowWords = Vector256.Create(0xFFFFu);
        int steps = 0, i = 0;
        for (; i <= length - 2 * Vector256<byte>.Count; i += 2 * Vector256<byte>.Count)
        {
            // Each 32-bit lane gains its two 16-bit words (machine order; see Accumulate).
            var pairs = Vector256.LoadUnsafe(ref start, (nuint)i).AsUInt32();
            var pairs2 = Vector256.LoadUnsafe(ref start, (nuint)(i + Vector256<byte>.Count)).AsUInt32();
            lanes += (pairs & lowWords) + Vector256.ShiftRightLogical(pairs, 16);
            lanes2 += (pairs2 & lowWords) + Vector256.ShiftRightLogical(pairs2, 16);
            if (++steps == StepsBeforeFlush)
            {
                sum += SumLanes(lanes) + SumLanes(lanes2);
                lanes = lanes2 = Vector256<uint>.Zero;
                steps = 0;
            }
        }
        if (i <= length - Vector256<byte>.Count)
        {
            var pairs = Vector256.LoadUnsafe(ref start, (nuint)i).AsUInt32();
            lanes2 += (pairs & lowWords) + Vector256.ShiftRightLogical(pairs, 16); // steps < StepsBeforeFlush: room for one more
            i += Vector256<byte>.Count;
        }
        sum += SumLanes(lanes) + SumLanes(lanes2);
        return i;
    }

    /// <summary>Sums whole 16-byte blocks into <paramref name="sum"/>; returns the number of bytes consumed.</summary>
    private static int AccumulateVector128(ref byte start, int length, ref ulong sum)
    {
        var lanes = Vector128<uint>.Zero;
        int steps = 0, i = 0;
        for (; i <= length - Vector128<byte>.Count; i += Vector128<byte>.Count)
        {
            var pairs = Vector128.LoadUnsafe(ref start, (nuint)i).AsUInt32();
            lanes += (pairs & Vector128.Create(0xFFFFu)) + Vector128.ShiftRightLogical(pairs, 16);
            if (++steps == StepsBeforeFlush)
            {
                sum += SumLanes(lanes);
                lanes = Vector128<uint>.Zero;
                steps = 0;
            }
        }
        sum += SumLanes(lanes);
        return i;
    }

    private static ulong SumLanes(Vector256<uint> lanes)
    {
        var (low, high) = Vector256.Widen(lanes);
        return Vector256.Sum(low + high);
    }

    private static ulong SumLanes(Vector128<uint> lanes)
    {
        var (low, high) = Vector128.Widen(lanes);
        return Vector128.Sum(low + high);
    }
}
