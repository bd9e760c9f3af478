using System.Diagnostics;
using System.Net;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

public sealed class CaptureTests
{
    private static readonly DateTimeOffset Start = new(2024, 5, 17, 12, 0, 0, TimeSpan.Zero);

    private static TestScheduler SchedulerAt(DateTimeOffset time)
    {
        var scheduler = new TestScheduler();
        scheduler.AdvanceTo(time.UtcTicks);
        return scheduler;
    }

    [Fact]
    public void Writer_emits_a_classic_header_and_records_stamped_by_the_scheduler()
    {
        var scheduler = SchedulerAt(Start);
        var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, scheduler, leaveOpen: true))
        {
            writer.Write(new byte[] { 0x45, 1, 2 });
            scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1.5).Ticks + 7); // 7 ticks = 700 ns: below microsecond resolution
            writer.Write(new byte[100]);
            Assert.Equal(2, writer.RecordCount);
        }

        var file = PcapTestFile.Parse(stream.ToArray());
        Assert.Equal(PcapWriter.MagicMicroseconds, file.Magic);
        Assert.Equal((2, 4), (file.VersionMajor, file.VersionMinor));
        Assert.Equal(65535u, file.SnapLength);
        Assert.Equal(101u, file.LinkType);
        Assert.Equal(2, file.Records.Count);
        uint unixSeconds = (uint)Start.ToUnixTimeSeconds();
        Assert.Equal((unixSeconds, 0u, 3), (file.Records[0].Seconds, file.Records[0].Fraction, file.Records[0].OriginalLength));
        Assert.Equal(new byte[] { 0x45, 1, 2 }, file.Records[0].Data);
        Assert.Equal((unixSeconds, 1500u, 100), (file.Records[1].Seconds, file.Records[1].Fraction, file.Records[1].OriginalLength));
        Assert.Equal(24 + 16 + 3 + 16 + 100, stream.Length);
    }

    [Fact]
    public void Nanosecond_files_keep_the_clocks_100ns_ticks()
    {
        var scheduler = SchedulerAt(Start.AddTicks(12_345_678)); // 1.2345678 s
        var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, scheduler, PcapTimestampResolution.Nanoseconds, leaveOpen: true))
            writer.Write(new byte[20]);

        var file = PcapTestFile.Parse(stream.ToArray());
        Assert.Equal(PcapWriter.MagicNanoseconds, file.Magic);
        Assert.Equal((uint)Start.ToUnixTimeSeconds() + 1, file.Records[0].Seconds);
        Assert.Equal(234_567_800u, file.Records[0].Fraction);
    }

    [Fact]
    public void Frames_longer_than_the_snap_length_are_cut_but_keep_their_original_length()
    {
        var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, SchedulerAt(Start), snapLength: 64, leaveOpen: true))
            writer.Write(new byte[200]);
        var file = PcapTestFile.Parse(stream.ToArray());
        Assert.Equal(64u, file.SnapLength);
        Assert.Equal(64, file.Records[0].Data.Length);
        Assert.Equal(200, file.Records[0].OriginalLength);
    }

    [Fact]
    public void A_virtual_clock_starting_at_year_one_is_written_as_elapsed_time()
    {
        var scheduler = new TestScheduler();
        scheduler.AdvanceBy(TimeSpan.FromSeconds(3).Ticks);
        var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, scheduler, leaveOpen: true))
            writer.Write(new byte[20]);
        Assert.Equal(3u, PcapTestFile.Parse(stream.ToArray()).Records[0].Seconds);
    }

    [Fact]
    public void Capture_device_records_both_directions_and_passes_frames_through()
    {
        var scheduler = SchedulerAt(Start);
        var (a, b) = PipeDevice.CreatePair();
        var stream = new MemoryStream();
        var writer = new PcapWriter(stream, scheduler, leaveOpen: true);
        using var capture = new CaptureDevice(a, scheduler, writer);
        var frames = new List<CapturedFrame>();
        capture.Frames.Subscribe(frames.Add);
        var atB = new List<byte[]>();
        b.Received.Subscribe(f => atB.Add(f.ToArray()));
        var atCapture = new List<byte[]>();
        capture.Received.Subscribe(f => atCapture.Add(f.ToArray()));
        capture.Received.Subscribe(_ => { }); // a second subscriber must not record twice

        var outgoing = TestPackets.Udp4(IPAddress.Parse("10.0.0.1"), 1000, IPAddress.Parse("10.0.0.2"), 2000, "out"u8);
        var incoming = TestPackets.Udp4(IPAddress.Parse("10.0.0.2"), 2000, IPAddress.Parse("10.0.0.1"), 1000, "in!"u8);
        capture.Transmit.OnNext(outgoing);
        scheduler.AdvanceBy(TimeSpan.FromMilliseconds(2).Ticks);
        b.Transmit.OnNext(incoming);
        outgoing[0] = 0; // the capture kept copies

        Assert.Single(atB);
        Assert.Equal(incoming, Assert.Single(atCapture));
        Assert.Equal(2, frames.Count);
        Assert.Equal(CaptureDirection.Out, frames[0].Direction);
        Assert.Equal(Start, frames[0].Timestamp);
        Assert.Equal(0x45, frames[0].Data[0]);
        Assert.Equal(CaptureDirection.In, frames[1].Direction);
        Assert.Equal(Start.AddMilliseconds(2), frames[1].Timestamp);
        Assert.Equal(incoming, frames[1].Data);
        Assert.Equal(a.Mtu, capture.Mtu);

        capture.Dispose();
        var file = PcapTestFile.Parse(stream.ToArray());
        Assert.Equal(2, file.Records.Count);
        Assert.Equal(2000u, file.Records[1].Fraction);
        Assert.Equal(incoming, file.Records[1].Data);
    }

    [RequiresProgramFact("tshark")]
    public void Tshark_reads_the_capture()
    {
        string tshark = NetworkNamespace.FindProgram("tshark")
            ?? throw new InvalidOperationException("tshark is required under CI (apt-get install -y tshark)");

        string path = Path.Combine(Path.GetTempPath(), $"rx-netstack-capture-{Guid.NewGuid():N}.pcap");
        try
        {
            var scheduler = SchedulerAt(Start);
            using (var writer = new PcapWriter(File.Create(path), scheduler))
            {
                writer.Write(TestPackets.Udp4(IPAddress.Parse("10.1.2.3"), 1111, IPAddress.Parse("10.9.8.7"), 53, "query"u8));
                scheduler.AdvanceBy(TimeSpan.FromMilliseconds(1).Ticks);
                writer.Write(TestPackets.Udp4(IPAddress.Parse("10.9.8.7"), 53, IPAddress.Parse("10.1.2.3"), 1111, "reply"u8));
            }

            var lines = Run(tshark, "-r", path, "-T", "fields", "-e", "ip.src", "-e", "udp.dstport", "-e", "frame.time_epoch");
            Assert.Equal(2, lines.Length);
            Assert.StartsWith("10.1.2.3\t53\t", lines[0]);
            Assert.StartsWith("10.9.8.7\t1111\t", lines[1]);
            double t0 = double.Parse(lines[0].Split('\t')[2], System.Globalization.CultureInfo.InvariantCulture);
            double t1 = double.Parse(lines[1].Split('\t')[2], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(Start.ToUnixTimeSeconds(), t0, 6);
            Assert.Equal(0.001, t1 - t0, 6);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string[] Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish in 60 s");
        }
        Assert.True(process.ExitCode == 0, $"{program} exited {process.ExitCode}: {stderr.Result}");
        return stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
