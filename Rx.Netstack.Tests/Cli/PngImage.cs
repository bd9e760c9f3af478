using System.Buffers.Binary;
using System.IO.Compression;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// Just enough of PNG (RFC 2083) to look at a browser's screenshot: 8-bit RGB or RGBA, not interlaced — what Chromium writes.
/// The chunks are read, the zlib stream inflated and each scanline's filter undone; pixels come out as 0xRRGGBB.
/// </summary>
internal sealed class PngImage
{
    private PngImage(int width, int height, int[] pixels) => (Width, Height, Pixels) = (width, height, pixels);

    public int Width { get; }
    public int Height { get; }

    /// <summary>Row by row, 0xRRGGBB (alpha dropped).</summary>
    public int[] Pixels { get; }

    public static PngImage Decode(byte[] png)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if (!png.AsSpan(0, 8).SequenceEqual(signature)) throw new InvalidDataException("not a PNG");
        int width = 0, height = 0, channels = 0;
        using var idat = new MemoryStream();
        for (int at = 8; at + 8 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            var data = png.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                (byte depth, byte colour, byte interlace) = (data[8], data[9], data[12]);
                channels = colour switch { 2 => 3, 6 => 4, _ => 0 };
                if (depth != 8 || channels == 0 || interlace != 0) throw new InvalidDataException($"PNG depth {depth}, colour type {colour}, interlace {interlace}: not handled");
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
            at += 12 + length;
        }
        idat.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionMode.Decompress)) zlib.CopyTo(inflated);
        byte[] raw = inflated.ToArray();

        int stride = width * channels;
        var previous = new byte[stride];
        var line = new byte[stride];
        int[] pixels = new int[width * height];
        for (int y = 0; y < height; y++)
        {
            int offset = y * (stride + 1);
            byte filter = raw[offset];
            raw.AsSpan(offset + 1, stride).CopyTo(line);
            for (int i = 0; i < stride; i++)
            {
                int left = i >= channels ? line[i - channels] : 0, up = previous[i], upLeft = i >= channels ? previous[i - channels] : 0;
                line[i] += filter switch
                {
                    0 => 0,
                    1 => (byte)left,
                    2 => (byte)up,
                    3 => (byte)((left + up) / 2),
                    4 => Paeth(left, up, upLeft),
                    _ => throw new InvalidDataException($"PNG filter {filter}"),
                };
            }
            for (int x = 0; x < width; x++)
                pixels[y * width + x] = line[x * channels] << 16 | line[x * channels + 1] << 8 | line[x * channels + 2];
            (previous, line) = (line, previous);
        }
        return new PngImage(width, height, pixels);
    }

    private static byte Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
    }
}
