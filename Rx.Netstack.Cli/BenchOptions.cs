using System.CommandLine;

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
    /// <summary>bench engines: the stack's engines (NetstackOptions.Engines), one TUN queue each.</summary>
    public int Engines { get; init; } = 1;
    public bool Json { get; init; }
    /// <summary>Whether the stacks' pipe offloads TCP/UDP checksums, as the kernel's loopback does (the default).</summary>
    public ChecksumOffload Checksums { get; init; } = ChecksumOffload.Both;
    /// <summary>tcp: whether the pipe passes TCP super-segments whole (segmentation offload, as a veth pair does; only with
    /// checksum offload); tun: whether the TUN device asks for virtio-net headers and TCP segmentation offload. On by default.</summary>
    public bool Offloads { get; init; } = true;
    /// <summary>Whether --buffer was given (bench tun measures two sizes without it).</summary>
    public bool BufferGiven { get; init; }

    public TimeSpan Duration => TimeSpan.FromSeconds(Seconds);

    private static readonly BenchOptions Defaults = new();

    /// <summary>
    /// The `bench` command and one subcommand per benchmark, each with the options it reads (an option another benchmark
    /// takes is refused, saying which one takes it). The action hands the benchmark's name and options to <paramref name="run"/>.
    /// </summary>
    public static Command CreateCommand(Func<string, BenchOptions, Task<int>> run)
    {
        var bench = new Command("bench", "Throughput and latency of two stacks over an in-memory pipe, side by side with the kernel's loopback in the same run (bench tun: the kernel against the stack over a TUN device, root).");
        bench.Subcommands.Add(Benchmark("tcp", "Bulk TCP transfer A → B, default and inline continuations, against 127.0.0.1; as root also against the loopback of a namespace it creates and deletes, at the same MTU (with --offloads off: one segment per packet).",
            Knob.Mtu | Knob.Buffer | Knob.Write | Knob.IdleConnections | Knob.Checksums | Knob.Offloads, run,
            offloadsHelp: "TCP segmentation offload on the pipe: on passes 64 KiB super-segments whole across an MTU 1500 pipe, as a Linux veth pair does (needs --checksums offload); off: every frame is at most the MTU."));
        bench.Subcommands.Add(Benchmark("udp", "UDP datagrams A → B as fast as each send completes: datagrams/s received and loss, against 127.0.0.1.",
            Knob.Mtu | Knob.Size | Knob.Checksums, run));
        bench.Subcommands.Add(Benchmark("rr", "1-byte TCP request/response on one connection, one at a time: round trips/s, against 127.0.0.1.",
            Knob.Mtu | Knob.Checksums, run));
        bench.Subcommands.Add(Benchmark("connect", "TCP connect + close in parallel loops: connections/s.",
            Knob.Mtu | Knob.Parallel | Knob.Checksums, run));
        bench.Subcommands.Add(Benchmark("tun", "The Linux kernel against the stack over a TUN device at MTU 1500, in a network namespace it creates and deletes (root): bulk TCP each way.",
            Knob.Buffer | Knob.Write | Knob.Offloads, run,
            bufferHelp: "TCP socket buffers in bytes, both sides (1024..67108864); default: both 65536 and 1048576, one after the other.",
            offloadsHelp: "TUN offloads: on lets the kernel hand over TCP super-packets of up to 64 KiB (virtio-net headers); off: one packet per MTU."));
        bench.Subcommands.Add(Benchmark("tap", "The Linux kernel against the stack over a Linux bridge at MTU 1500, the stack on a TAP port, in a network namespace it creates and deletes (root): bulk TCP each way.",
            Knob.Buffer | Knob.Write | Knob.Offloads, run,
            bufferHelp: "TCP socket buffers in bytes, both sides (1024..67108864); default: both 65536 and 1048576, one after the other.",
            offloadsHelp: "TAP offloads: on lets the kernel hand over and cut Ethernet super-frames of up to 64 KiB (virtio-net headers); off: one frame per MTU."));
        bench.Subcommands.Add(Benchmark("proxy", "Bulk TCP between two namespaces through `rx-netstack proxy` (TUN, the stack, host sockets) and through the kernel's own forwarding, in one run (root).",
            Knob.Write, run));
        bench.Subcommands.Add(Benchmark("loss", "Goodput under loss and reordering: the Linux kernel and the stack, each sending to the other over the same impaired link (TUN in a namespace it creates and deletes, root): 1, 3, 5 % loss, reordering; both on CUBIC, then both on BBR.",
            Knob.Buffer | Knob.Write, run,
            bufferHelp: "TCP socket buffers in bytes, both sides (1024..67108864); default 262144."));
        bench.Subcommands.Add(Benchmark("engines", "A stack of N engines against the Linux kernel over a multi-queue TUN device in a namespace it creates and deletes (root): bulk TCP over --parallel connections each way, then connections per second, with the CPU taken.",
            Knob.Buffer | Knob.Write | Knob.Offloads | Knob.Parallel | Knob.Engines, run,
            offloadsHelp: "TUN offloads: on lets the kernel hand over TCP super-packets of up to 64 KiB (virtio-net headers); off: one packet per MTU."));
        bench.Subcommands.Add(Benchmark("reflect", "A stack of N engines against a reflector that answers each TCP segment in place (an in-memory N-queue link, no root): bulk from the stack over --parallel connections, then connections per second accepted by the stack, with the CPU taken. The stack is the bottleneck.",
            Knob.Buffer | Knob.Write | Knob.Offloads | Knob.Parallel | Knob.Engines, run,
            offloadsHelp: "TCP segmentation offload on the link: on passes 64 KiB super-segments whole (the reflector acknowledges each); off: every segment at most the MTU 1500."));
        return bench;
    }

    [Flags]
    private enum Knob
    {
        Mtu = 1,
        Buffer = 2,
        Write = 4,
        IdleConnections = 8,
        Size = 16,
        Parallel = 32,
        Checksums = 64,
        Offloads = 128,
        Engines = 256,
    }

    private static Command Benchmark(string name, string description, Knob knobs, Func<string, BenchOptions, Task<int>> run,
        string? bufferHelp = null, string? offloadsHelp = null)
    {
        var command = new Command(name, description);
        T Add<T>(T option) where T : Option
        {
            command.Options.Add(option);
            return option;
        }
        Option<int>? Number(Knob knob, string option, string helpName, string help, int min, int max, int defaultValue) =>
            !knobs.HasFlag(knob) ? null : Add(new Option<int>(option)
            {
                Description = $"{help} ({min}..{max}).",
                HelpName = helpName,
                DefaultValueFactory = _ => defaultValue,
                CustomParser = OptionParsers.WholeNumber(option, min, max),
            });
        Option<string>? Choice(Knob knob, string option, string help, params string[] choices)
        {
            if (!knobs.HasFlag(knob)) return null;
            var choice = Add(new Option<string>(option)
            {
                Description = help,
                HelpName = string.Join('|', choices),
                DefaultValueFactory = _ => choices[0],
                CustomParser = OptionParsers.OneOf(option, choices),
            });
            choice.CompletionSources.Add(choices);
            return choice;
        }

        var seconds = Add(new Option<double>("--seconds")
        {
            Description = "How long each side runs, in seconds (more than 0, at most 600).",
            HelpName = "N",
            DefaultValueFactory = _ => Defaults.Seconds,
            CustomParser = OptionParsers.PositiveNumber("--seconds", 600),
        });
        var mtu = Number(Knob.Mtu, "--mtu", "M", "MTU of the in-memory pipe between the two stacks", 1280, 65535, Defaults.Mtu);
        Option<int>? buffer = null;
        if (knobs.HasFlag(Knob.Buffer))
        {
            buffer = Add(new Option<int>("--buffer")
            {
                Description = bufferHelp ?? "TCP socket buffers in bytes, both stacks and the kernel (1024..67108864).",
                HelpName = "B",
                CustomParser = OptionParsers.WholeNumber("--buffer", 1024, 64 << 20),
            });
            if (bufferHelp is null) buffer.DefaultValueFactory = _ => Defaults.Buffer;
        }
        var write = Number(Knob.Write, "--write", "W", "Bytes per write", 1, 16 << 20, Defaults.Write);
        var idle = Number(Knob.IdleConnections, "--idle-connections", "K", "Idle established connections held open during the transfer", 0, 60000, Defaults.IdleConnections);
        var size = Number(Knob.Size, "--size", "S", "Datagram payload bytes", 1, 65507, Defaults.DatagramSize);
        var parallel = Number(Knob.Parallel, "--parallel", "P", "Concurrent connect/close loops (bench engines: also the bulk connections)", 1, 256, Defaults.Parallel);
        var engines = Number(Knob.Engines, "--engines", "N", "The stack's engines, one TUN queue each", 1, 16, Defaults.Engines);
        var checksums = Choice(Knob.Checksums, "--checksums",
            "offload: the pipe's TCP/UDP checksums are neither computed nor verified, as on the kernel's loopback; compute: they are.",
            "offload", "compute");
        var offloads = Choice(Knob.Offloads, "--offloads", offloadsHelp ?? "", "on", "off");
        var json = Add(new Option<bool>("--json") { Description = "Print one JSON object per result line instead of a table." });

        command.SetAction(result =>
        {
            var o = Defaults with { Seconds = result.GetValue(seconds), Json = result.GetValue(json) };
            if (mtu is not null) o = o with { Mtu = result.GetValue(mtu) };
            if (buffer is not null && result.GetResult(buffer) is { Implicit: false })
                o = o with { Buffer = result.GetValue(buffer), BufferGiven = true };
            if (write is not null) o = o with { Write = result.GetValue(write) };
            if (idle is not null) o = o with { IdleConnections = result.GetValue(idle) };
            if (size is not null) o = o with { DatagramSize = result.GetValue(size) };
            if (parallel is not null) o = o with { Parallel = result.GetValue(parallel) };
            if (engines is not null) o = o with { Engines = result.GetValue(engines) };
            if (checksums is not null) o = o with { Checksums = result.GetValue(checksums) == "compute" ? ChecksumOffload.None : ChecksumOffload.Both };
            if (offloads is not null) o = o with { Offloads = result.GetValue(offloads) != "off" };
            return run(name, o);
        });
        return command;
    }
}
