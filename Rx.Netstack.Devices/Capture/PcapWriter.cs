using System.Buffers.Binary;
using System.Reactive.Concurrency;

namespace Rx.Netstack.Devices;

/// <summary>
/// Writes frames to a classic libpcap capture file (readable by Wireshark and tshark) with link type
/// <c>LINKTYPE_RAW</c>: each record is a bare IPv4 or IPv6 packet.
/// </summary>
/// <remarks>
/// <para>Timestamps come from the scheduler's <see cref="IScheduler.Now"/>, never the wall clock, so a capture
/// made under a virtual-time scheduler shows virtual time. A time before the Unix epoch (a virtual clock that
/// starts at year 1, like <c>TestScheduler</c>) is written as the time elapsed since year 1, so it appears as
/// 1970-01-01 plus the virtual time.</para>
/// <para>Fields are written little-endian; readers detect byte order from the magic number. Writes are
/// serialised by a lock, so both directions of a device may write from different threads. No allocation
/// per record.</para>
/// </remarks>
public sealed class PcapWriter : IDisposable
{
    /// <summary>Magic number of a microsecond-resolution file.</summary>
    public const uint MagicMicroseconds = 0xa1b2c3d4;

    /// <summary>Magic number of a nanosecond-resolution file.</summary>
    public const uint MagicNanoseconds = 0xa1b23c4d;

    /// <summary>LINKTYPE_RAW: the packet begins with an IPv4 or IPv6 header.</summary>
    public const uint LinkTypeRaw = 101;

    /// <summary>LINKTYPE_ETHERNET: Ethernet II frames (an Ethernet device's capture).</summary>
    public const uint LinkTypeEthernet = 1;

    /// <summary>The default snapshot length: the largest IPv4 packet.</summary>
    public const int DefaultSnapLength = 65535;

    /// <summary>Length of the file header.</summary>
    public const int FileHeaderLength = 24;

    /// <summary>Length of each record header.</summary>
    public const int RecordHeaderLength = 16;

    private static readonly long UnixEpochTicks = DateTimeOffset.UnixEpoch.UtcTicks;

    private readonly Stream _stream;
    private readonly IScheduler _clock;
    private readonly bool _leaveOpen;
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>Starts a capture: writes the file header to <paramref name="stream"/> at once.</summary>
    /// <param name="stream">Where the capture goes (a file, a memory stream).</param>
    /// <param name="clock">The scheduler whose <see cref="IScheduler.Now"/> stamps each record.</param>
    /// <param name="resolution">Microsecond (default, most compatible) or nanosecond timestamps.</param>
    /// <param name="snapLength">Longest part of a frame recorded; the original length is kept in the record.</param>
    /// <param name="leaveOpen">True to leave <paramref name="stream"/> open on <see cref="Dispose"/>.</param>
    /// <param name="medium">What the frames carry: raw IP (<see cref="LinkTypeRaw"/>, the default) or Ethernet
    /// (<see cref="LinkTypeEthernet"/>): use the captured device's <see cref="IPacketDevice.Medium"/>.</param>
    public PcapWriter(Stream stream, IScheduler clock, PcapTimestampResolution resolution = PcapTimestampResolution.Microseconds,
        int snapLength = DefaultSnapLength, bool leaveOpen = false, LinkMedium medium = LinkMedium.Ip)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentOutOfRangeException.ThrowIfLessThan(snapLength, 1);
        if (!stream.CanWrite) throw new ArgumentException("The capture stream must be writable.", nameof(stream));
        _stream = stream;
        _clock = clock;
        Resolution = resolution;
        SnapLength = snapLength;
        _leaveOpen = leaveOpen;

        Span<byte> header = stackalloc byte[FileHeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(header, resolution == PcapTimestampResolution.Nanoseconds ? MagicNanoseconds : MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2); // version 2.4
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], 0); // thiszone: timestamps are UTC
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0); // sigfigs
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], (uint)snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], medium == LinkMedium.Ethernet ? LinkTypeEthernet : LinkTypeRaw);
        _stream.Write(header);
    }

    /// <summary>The timestamp resolution of this file.</summary>
    public PcapTimestampResolution Resolution { get; }

    /// <summary>The longest part of a frame recorded.</summary>
    public int SnapLength { get; }

    /// <summary>Records written so far.</summary>
    public long RecordCount { get; private set; }

    /// <summary>Records <paramref name="frame"/> stamped with the clock's current time.</summary>
    public void Write(ReadOnlySpan<byte> frame) => Write(frame, _clock.Now);

    /// <summary>Records <paramref name="frame"/> with an explicit timestamp.</summary>
    public void Write(ReadOnlySpan<byte> frame, DateTimeOffset timestamp)
    {
        long ticks = timestamp.UtcTicks - UnixEpochTicks;
        if (ticks < 0) ticks = timestamp.UtcTicks; // a virtual clock starting at year 1: show elapsed time
        long seconds = ticks / TimeSpan.TicksPerSecond;
        long fraction = ticks % TimeSpan.TicksPerSecond;
        uint subSecond = Resolution == PcapTimestampResolution.Nanoseconds
            ? (uint)(fraction * 100)
            : (uint)(fraction / 10);
        int included = Math.Min(frame.Length, SnapLength);

        Span<byte> record = stackalloc byte[RecordHeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], subSecond);
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)included);
        BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)frame.Length);

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _stream.Write(record);
            _stream.Write(frame[..included]);
            RecordCount++;
        }
    }

    /// <summary>Flushes buffered records to the stream.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            if (!_disposed) _stream.Flush();
        }
    }

    /// <summary>Flushes, and closes the stream unless it was left open.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _stream.Flush();
            if (!_leaveOpen) _stream.Dispose();
        }
    }
}
