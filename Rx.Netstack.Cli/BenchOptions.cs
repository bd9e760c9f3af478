using System.Globalization;

namespace Rx.Netstack.Cli;

/// <summary>The options of <c>bench</c>; every loop a benchmark runs is bounded by <see cref="Seconds"/> and by a count.</summary>
internal sealed record BenchOptions
{
    public double Seconds { get; init; } = 3;
    public int Mtu { get; init; } = 65535;
    public int Buffer { get; init; } = 256 * 1024;
    public int Write { get; init; } = 32 * 1024;
    public int IdleConnections { get; init; }
    public int DatagramSize { get; init; } = 1024;
    public int Parallel { get; init; } = 8;
    public bool Json { get; init; }
    /// <summary>Whether the stacks' pipe offloads TCP/UDP checksums, as the kernel's loopback does (the default).</summary>
    public ChecksumOffload Checksums { get; init; } = ChecksumOffload.Both;
    /// <summary>tcp: whether the pipe passes TCP super-segments whole (segmentation offload, as a veth pair does; only with
    /// checksum offload); tun: whether the TUN device asks for virtio-net headers and TCP segmentation offload. On by default.</summary>
    public bool Offloads { get; init; } = true;

    public TimeSpan Duration => TimeSpan.FromSeconds(Seconds);

    public const string Help = """
        usage: rx-netstack bench tcp|udp|rr|connect|tun [options]
          --seconds N            how long each side runs (default 3)
          --mtu M                MTU of the in-memory pipe between the two stacks (default 65535)
          --buffer B             TCP socket buffers in bytes, both stacks and kernel (default 262144; tun: 65536 and 1048576)
          --write W              bytes per write (default 32768)
          --idle-connections K   tcp: hold K idle established connections open during the transfer (default 0)
          --size S               udp: datagram payload bytes (default 1024)
          --parallel P           connect: concurrent connect/close loops (default 8)
          --checksums C          tcp, udp, rr, connect: offload (default; like the kernel's loopback, the pipe's TCP/UDP
                                 checksums are neither computed nor verified) or compute
          --offloads on|off      tcp: TCP segmentation offload on the pipe (default on: 64 KiB super-segments cross an MTU
                                 1500 pipe whole, as on a Linux veth pair; off: every frame is at most the MTU);
                                 tun: TUN offloads (default on: the kernel hands us TCP super-packets of up to 64 KiB)
          --json                 one JSON object per result line instead of a table
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            string Next() => i + 1 < args.Count ? args[++i] : throw new CliUsageException($"{name} needs a value");
            int Int(int min, int max)
            {
                string text = Next();
                if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
                    throw new CliUsageException($"{name} \"{text}\" must be a whole number within {min}..{max}");
                return v;
            }
            o = name switch
            {
                "--seconds" => o with { Seconds = double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s is > 0 and <= 600
                    ? s : throw new CliUsageException("--seconds must be a number within (0, 600]") },
                "--mtu" => o with { Mtu = Int(1280, 65535) },
                "--buffer" => o with { Buffer = Int(1024, 64 << 20) },
                "--write" => o with { Write = Int(1, 16 << 20) },
                "--idle-connections" => o with { IdleConnections = Int(0, 60000) },
                "--size" => o with { DatagramSize = Int(1, 65507) },
                "--parallel" => o with { Parallel = Int(1, 256) },
                "--json" => o with { Json = true },
                "--checksums" => o with { Checksums = Next() switch
                {
                    "offload" => ChecksumOffload.Both,
                    "compute" => ChecksumOffload.None,
                    var other => throw new CliUsageException($"--checksums \"{other}\" must be offload or compute"),
                } },
                "--offloads" => o with { Offloads = Next() switch
                {
                    "on" => true,
                    "off" => false,
                    var other => throw new CliUsageException($"--offloads \"{other}\" must be on or off"),
                } },
                _ => throw new CliUsageException($"unknown option {name}\n{Help}"),
            };
        }
        return o;
    }
}
