using Rx.Netstack.Cli;

// rx-netstack: the demo (default), the TUN server, the benchmarks and the kernel-socket HTTP twin. Each command lives in its own file.
string command = args.Length > 0 ? args[0] : "demo";
string[] rest = args.Length > 0 ? args[1..] : [];
try
{
    return command switch
    {
        "demo" => await DemoCommand.RunAsync(rest),
        "tun" => await TunCommand.RunAsync(rest),
        "bench" => await BenchCommand.RunAsync(rest),
        "http" => await HttpCommand.RunAsync(rest),
        "-h" or "--help" or "help" => Usage(0),
        _ => Usage(2),
    };
}
catch (CliUsageException e)
{
    Console.Error.WriteLine($"rx-netstack {command}: {e.Message}");
    return 2;
}

static int Usage(int code)
{
    (code == 0 ? Console.Out : Console.Error).WriteLine("""
        usage: rx-netstack [demo|tun|bench|http] [options]
          demo [--pcap FILE] [--bulk-mb N] [--mtu M]  two in-memory stacks: UDP + LINQ, ping, TCP echo, HTTP, bulk transfer, counters
          tun --device NAME --address A [...]      serve echo/discard/chargen/HTTP on a Linux TUN device (root)
          http --listen ADDRESS:PORT [--quiet]     the same HTTP routes on Kestrel over kernel sockets (for comparisons)
          bench tcp|udp|rr|connect|tun [options]   throughput and latency, side by side with the kernel's loopback
        """);
    return code;
}
