using System.Buffers.Binary;

namespace Rx.Netstack.Tests.Devices;

/// <summary>A minimal classic-pcap reader for tests: header fields and records, either byte order.</summary>
internal sealed record PcapTestFile(uint Magic, ushort VersionMajor, ushort VersionMinor, uint SnapLength, uint LinkType,
    IReadOnlyList<PcapTestRecord> Records)
{
    public static PcapTestFile Parse(ReadOnlySpan<byte> file)
    {
        if (file.Length < 24) throw new InvalidDataException("shorter than a pcap header");
        uint magicLe = BinaryPrimitives.ReadUInt32LittleEndian(file);
        bool little = magicLe is 0xa1b2c3d4 or 0xa1b23c4d;
        uint U32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);
        ushort U16(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s);
        uint magic = U32(file);
        if (magic is not (0xa1b2c3d4 or 0xa1b23c4d)) throw new InvalidDataException($"bad magic {magic:x8}");

        var records = new List<PcapTestRecord>();
        int at = 24;
        while (at < file.Length)
        {
            if (file.Length - at < 16) throw new InvalidDataException("truncated record header");
            uint seconds = U32(file[at..]);
            uint fraction = U32(file[(at + 4)..]);
            int included = (int)U32(file[(at + 8)..]);
            int original = (int)U32(file[(at + 12)..]);
            at += 16;
            if (file.Length - at < included) throw new InvalidDataException("truncated record data");
            records.Add(new PcapTestRecord(seconds, fraction, original, file.Slice(at, included).ToArray()));
            at += included;
        }
        return new PcapTestFile(magic, U16(file[4..]), U16(file[6..]), U32(file[16..]), U32(file[20..]), records);
    }
}

internal sealed record PcapTestRecord(uint Seconds, uint Fraction, int OriginalLength, byte[] Data);
