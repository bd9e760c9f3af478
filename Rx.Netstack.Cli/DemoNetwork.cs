using Rx.Netstack.Devices;

namespace Rx.Netstack.Cli;

/// <summary>
/// Two stacks in real time (each on its own <see cref="System.Reactive.Concurrency.EventLoopScheduler"/>) joined by a
/// synchronous in-memory <see cref="PipeDevice"/>: A is 10.0.0.1 / fd00::1, B is 10.0.0.2 / fd00::2. Optionally A's end is
/// wrapped in an <see cref="ImpairedLink"/> (loss, delay, a rate: <c>demo --dashboard</c>) and in a <see cref="CaptureDevice"/>
/// writing a pcap file. Used by the demo and by <c>bench</c>.
/// </summary>
internal sealed class DemoNetwork : IDisposable
{
    public static readonly NetAddress A4 = NetAddress.Parse("10.0.0.1"), B4 = NetAddress.Parse("10.0.0.2");
    public static readonly NetAddress A6 = NetAddress.Parse("fd00::1"), B6 = NetAddress.Parse("fd00::2");

    private readonly PipeDevice _pipeA, _pipeB;
    private readonly ImpairedLink? _impaired;
    private readonly CaptureDevice? _capture;
    private readonly PcapWriter? _pcap;

    public DemoNetwork(int mtu = 1500, string? pcapPath = null, Func<NetstackOptions, NetstackOptions>? configure = null,
        ChecksumOffload checksumOffload = ChecksumOffload.None, bool segmentationOffload = false,
        ImpairmentOptions? outbound = null, ImpairmentOptions? inbound = null)
    {
        configure ??= o => o;
        A = new Netstack(configure(new NetstackOptions { Addresses = [new(A4, 24), new(A6, 64)] }));
        B = new Netstack(configure(new NetstackOptions { Addresses = [new(B4, 24), new(B6, 64)] }));
        (_pipeA, _pipeB) = PipeDevice.CreatePair(mtu, checksumOffload: checksumOffload,
            tcpSegmentationOffload: segmentationOffload && checksumOffload == ChecksumOffload.Both);
        IPacketDevice deviceA = _pipeA;
        if (outbound is not null || inbound is not null)
        {
            // A's outbound is the A → B direction, its inbound B → A; decided on A's clock.
            _impaired = new ImpairedLink(_pipeA, A.Scheduler, outbound, inbound, seed: 14);
            deviceA = _impaired;
        }
        if (pcapPath is not null)
        {
            _pcap = new PcapWriter(new BufferedStream(File.Create(pcapPath), 1 << 20), A.Scheduler);
            _capture = new CaptureDevice(deviceA, A.Scheduler, _pcap);
            deviceA = _capture;
        }
        A.Attach(deviceA);
        B.Attach(_pipeB);
        Mtu = mtu;
    }

    public Netstack A { get; }
    public Netstack B { get; }
    public int Mtu { get; }

    /// <summary>Frames written to the pcap file so far (0 without capture).</summary>
    public long CapturedFrames => _pcap?.RecordCount ?? 0;

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        _capture?.Dispose();
        _impaired?.Dispose();
        _pcap?.Dispose();
        _pipeA.Dispose();
    }
}
