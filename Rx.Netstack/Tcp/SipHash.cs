using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace Rx.Netstack.Tcp;

/// <summary>
/// SipHash-2-4 (Aumasson and Bernstein, 2012): a fast keyed 64-bit PRF for short inputs, used for ISNs (RFC 6528) and SYN
/// cookies (RFC 4987). Works on spans, so a call allocates nothing.
/// </summary>
internal readonly struct SipHash
{
    private readonly ulong _k0;
    private readonly ulong _k1;

    /// <summary>The key length in bytes.</summary>
    public const int KeyLength = 16;

    /// <summary>Makes a hasher from a 16-byte key (read as two little-endian words, as the reference does).</summary>
    public SipHash(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyLength) throw new ArgumentException($"The key must be {KeyLength} bytes.", nameof(key));
        _k0 = BinaryPrimitives.ReadUInt64LittleEndian(key);
        _k1 = BinaryPrimitives.ReadUInt64LittleEndian(key[8..]);
    }

    /// <summary>
    /// A hasher under a fresh random 128-bit key (RFC 6528 §3 and RFC 4987 §3.6 ask for a secret of at least 128 bits), for
    /// the stack's ISNs and SYN cookies. The key bytes are wiped from the stack once read.
    /// </summary>
    public static SipHash WithRandomKey()
    {
        Span<byte> key = stackalloc byte[KeyLength];
        RandomNumberGenerator.Fill(key);
        var hash = new SipHash(key);
        CryptographicOperations.ZeroMemory(key);
        return hash;
    }

    /// <summary>SipHash-2-4 of <paramref name="data"/>.</summary>
    public ulong Hash(ReadOnlySpan<byte> data)
    {
        // The initial state is the key xored with the ASCII of "somepseudorandomlygeneratedbytes".
        ulong v0 = _k0 ^ 0x736f6d6570736575UL;
        ulong v1 = _k1 ^ 0x646f72616e646f6dUL;
        ulong v2 = _k0 ^ 0x6c7967656e657261UL;
        ulong v3 = _k1 ^ 0x7465646279746573UL;

        int whole = data.Length & ~7;
        for (int i = 0; i < whole; i += 8)
        {
            ulong m = BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
            v3 ^= m;
            Round(ref v0, ref v1, ref v2, ref v3);
            Round(ref v0, ref v1, ref v2, ref v3);
            v0 ^= m;
        }

        // The last word holds the leftover bytes and the message length in its top byte.
        ulong last = (ulong)data.Length << 56;
        for (int i = whole; i < data.Length; i++)
            last |= (ulong)data[i] << (8 * (i - whole));
        v3 ^= last;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= last;

        v2 ^= 0xff;
        for (int i = 0; i < 4; i++) Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    private static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1; v1 = BitOperations.RotateLeft(v1, 13); v1 ^= v0; v0 = BitOperations.RotateLeft(v0, 32);
        v2 += v3; v3 = BitOperations.RotateLeft(v3, 16); v3 ^= v2;
        v0 += v3; v3 = BitOperations.RotateLeft(v3, 21); v3 ^= v0;
        v2 += v1; v1 = BitOperations.RotateLeft(v1, 17); v1 ^= v2; v2 = BitOperations.RotateLeft(v2, 32);
    }
}
