using System.Net;
using System.Text.RegularExpressions;
using Rx.Netstack.Cli;

namespace Rx.Netstack.Tests.Cli;

/// <summary>
/// The rx-netstack command line, in process and without running anything: every command line parses to the options its
/// command would get, a wrong one exits 2 with a message saying what is wrong (and nothing runs), --help lists each
/// command's options and the exit codes, --version prints the package version.
/// </summary>
public sealed partial class CommandLineTests
{
    /// <summary>Runs a command line with recorders in place of the commands; returns what they were given.</summary>
    private static async Task<Run> InvokeAsync(params string[] args)
    {
        var run = new Run();
        var commands = new CliCommands(
            Demo: o => run.Record("demo", o),
            Tun: o => run.Record("tun", o),
            Http: o => run.Record("http", o),
            Bench: (which, o) => run.Record($"bench {which}", o),
            Tap: o => run.Record("tap", o))
        {
            Proxy = o => run.Record("proxy", o),
        };
        var output = new StringWriter();
        var error = new StringWriter();
        run.ExitCode = await new RxNetstackCli(commands).InvokeAsync(args, output, error);
        run.Output = output.ToString();
        run.Error = error.ToString();
        return run;
    }

    private sealed class Run
    {
        public string? Command { get; private set; }
        public object? Options { get; private set; }
        public int ExitCode { get; set; }
        public string Output { get; set; } = "";
        public string Error { get; set; } = "";

        public Task<int> Record(string command, object options)
        {
            Assert.Null(Command); // one command per line
            (Command, Options) = (command, options);
            return Task.FromResult(0);
        }

        public T Ran<T>(string command)
        {
            Assert.True(ExitCode == 0, $"exit code {ExitCode}: {Error}");
            Assert.Equal(command, Command);
            return Assert.IsType<T>(Options);
        }

        public void Refused(params string[] messages)
        {
            Assert.True(ExitCode == ExitCodes.Usage, $"exit code {ExitCode}, not 2; error: {Error}");
            Assert.Null(Command);
            foreach (string message in messages) Assert.Contains(message, Error);
            Assert.Matches(@"See 'rx-netstack[a-z ]*--help'\.", Error);
            Assert.Equal("", Output);
        }
    }

    // ---- proxy ----

    [Fact]
    public async Task Proxy_lines_parse_to_their_options_and_bad_prefixes_are_refused()
    {
        // ProxyCommandTests' line.
        var o = (await InvokeAsync("proxy", "--device", "rxp0", "--address", "10.78.0.2/24", "--address", "fd78::2/64",
            "--intercept", "10.79.0.0/24", "--intercept", "fd79::/64", "--socks5", "127.0.0.1:1080")).Ran<ProxyOptions>("proxy");
        Assert.Equal("rxp0", o.Device);
        Assert.Equal([NetPrefix.Parse("10.79.0.0/24"), NetPrefix.Parse("fd79::/64")], o.Intercept);
        Assert.Equal(IPEndPoint.Parse("127.0.0.1:1080"), o.Socks5);
        Assert.False(o.Quiet);

        // Without --intercept: everything, both families.
        o = (await InvokeAsync("proxy", "-d", "tun9", "-a", "10.0.0.2/24", "-q")).Ran<ProxyOptions>("proxy");
        Assert.Equal([NetPrefix.AllV4, NetPrefix.AllV6], o.Intercept);
        Assert.Null(o.Socks5);
        Assert.True(o.Quiet);
        Assert.Equal(1, o.Engines);
        Assert.Equal(2, (await InvokeAsync("proxy", "-d", "tun9", "-a", "10.0.0.2/24", "--engines", "2")).Ran<ProxyOptions>("proxy").Engines);
        (await InvokeAsync("proxy", "-d", "tun9", "-a", "10.0.0.2/24", "--engines", "0")).Refused("--engines");

        (await InvokeAsync("proxy", "-d", "tun9", "-a", "10.0.0.2/24", "--intercept", "10.0.0.0/33")).Refused("--intercept: '10.0.0.0/33' is not a prefix");
        (await InvokeAsync("proxy", "-d", "tun9", "-a", "10.0.0.2/24", "--socks5", "localhost")).Refused("--socks5: 'localhost' is not an address and port");
        (await InvokeAsync("proxy", "-a", "10.0.0.2/24")).Refused("--device");
    }

    // ---- tap ----

    [Fact]
    public async Task Tap_lines_parse_to_their_options_and_bad_values_are_refused()
    {
        // TapCommandProcessTests and TapDhcpProcessTests.
        var o = (await InvokeAsync("tap", "--device", "rxtap0", "--address", "10.77.9.2/24", "--mac", "02:00:00:77:09:02",
            "--route", "default via 10.77.9.1")).Ran<TapOptions>("tap");
        Assert.Equal(("rxtap0", MacAddress.Parse("02:00:00:77:09:02"), false), (o.Device, o.Mac, o.Dhcp));
        Assert.Equal([InterfaceAddress.Parse("10.77.9.2/24")], o.Addresses);
        Assert.Equal([Route.Default(NetAddress.Parse("10.77.9.1"))], o.Routes);
        o = (await InvokeAsync("tap", "-d", "rxtap1", "--dhcp")).Ran<TapOptions>("tap");
        Assert.True(o.Dhcp);
        Assert.Empty(o.Addresses);
        Assert.Null(o.Mac);
        Assert.True(o.Offloads); // on by default, as for tun
        Assert.False((await InvokeAsync("tap", "-d", "t0", "--offloads", "off")).Ran<TapOptions>("tap").Offloads);

        var bad = await InvokeAsync("tap", "-d", "t0", "--mac", "01:00:5e:00:00:01");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--mac: '01:00:5e:00:00:01' is not a unicast MAC address", bad.Error);
        bad = await InvokeAsync("tap", "-d", "t0", "--route", "10.0.0.0/8 via fd00::1");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--route:", bad.Error);
        bad = await InvokeAsync("tap", "-d", "t0", "--offloads", "maybe");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--offloads", bad.Error);
    }

    // ---- tun ----

    [Fact]
    public async Task Tun_lines_of_the_tests_and_scripts_parse_to_their_options()
    {
        // TunCommandProcessTests: a bare IPv6 address is a host address.
        var o = (await InvokeAsync("tun", "--device", "rxtun0", "--address", "10.99.0.2/24", "--address", "fd00:99::2", "--pcap", "/tmp/x.pcap")).Ran<TunOptions>("tun");
        Assert.Equal("rxtun0", o.Device);
        Assert.Equal([InterfaceAddress.Parse("10.99.0.2/24"), InterfaceAddress.Parse("fd00:99::2/128")], o.Addresses);
        Assert.Equal("/tmp/x.pcap", o.PcapPath);
        Assert.False(o.Quiet);
        Assert.False(o.DiscardSha256);
        Assert.True((await InvokeAsync("tun", "-d", "t0", "-a", "10.0.0.2", "--discard-sha256")).Ran<TunOptions>("tun").DiscardSha256);
        Assert.True((await InvokeAsync("tap", "-d", "t0", "--discard-sha256")).Ran<TapOptions>("tap").DiscardSha256);
        Assert.Equal(Rx.Netstack.Tcp.Congestion.CongestionControlAlgorithm.Cubic, o.Congestion);
        Assert.Equal(Rx.Netstack.Tcp.Congestion.CongestionControlAlgorithm.Bbr,
            (await InvokeAsync("tun", "-d", "t0", "-a", "10.0.0.2", "--congestion", "bbr")).Ran<TunOptions>("tun").Congestion);
        Assert.Equal(Rx.Netstack.Tcp.Congestion.CongestionControlAlgorithm.NewReno,
            (await InvokeAsync("tap", "-d", "t0", "--congestion", "newreno")).Ran<TapOptions>("tap").Congestion);
        Assert.Equal(Rx.Netstack.Tcp.Congestion.CongestionControlAlgorithm.Bbr,
            (await InvokeAsync("proxy", "-d", "t0", "-a", "10.0.0.2", "--congestion", "bbr")).Ran<ProxyOptions>("proxy").Congestion);

        // bench/http-compare.sh
        o = (await InvokeAsync("tun", "--device", "rxhc0", "--address", "10.77.0.2/24", "--quiet")).Ran<TunOptions>("tun");
        Assert.Equal(new TunOptions("rxhc0", o.Addresses, null, true), o);
        Assert.Equal([InterfaceAddress.Parse("10.77.0.2/24")], o.Addresses);

        // Short aliases, any order, --option=value.
        o = (await InvokeAsync("tun", "-q", "-a", "10.0.0.2", "-d", "t0", "--address=fd00::2/64")).Ran<TunOptions>("tun");
        Assert.Equal("t0", o.Device);
        Assert.Equal([InterfaceAddress.Parse("10.0.0.2/32"), InterfaceAddress.Parse("fd00::2/64")], o.Addresses);
        Assert.True(o.Quiet);
    }

    [Theory]
    [InlineData("tun -d t0 -a 10.0.0.x", "rx-netstack tun: --address: '10.0.0.x' is not an address like 10.0.0.2/24 or fd00::2/64")]
    [InlineData("tun -d t0 -a 10.0.0.2/33", "'10.0.0.2/33' is not an address like 10.0.0.2/24 or fd00::2/64 (Prefix length 33 is out of range for 10.0.0.2)")]
    [InlineData("tun -d t0 -a fd00::2/64/1", "'fd00::2/64/1' is not an address")]
    [InlineData("tun -d interface-name-16b -a 10.0.0.2", "--device: interface name 'interface-name-16b' is 18 bytes long; Linux allows at most 15")]
    [InlineData("tun -d a/b -a 10.0.0.2", "--device: interface name 'a/b' contains '/'")]
    [InlineData("tun -a 10.0.0.2", "'--device' is required")]
    [InlineData("tun -d t0", "'--address' is required")]
    [InlineData("tun -d t0 -a", "'-a'")]
    [InlineData("tun --devce t0 -a 10.0.0.2", "unknown option '--devce'; did you mean '--device'?")]
    [InlineData("tun -d t0 --adress 10.0.0.2", "unknown option '--adress'; did you mean '--address'?")]
    [InlineData("tun -d t0 -a 10.0.0.2 --pcap /no/such/directory/x.pcap", "--pcap: the directory '/no/such/directory' of '/no/such/directory/x.pcap' does not exist")]
    [InlineData("tun -d t0 -a 10.0.0.2 extra", "unexpected argument 'extra'")]
    [InlineData("tun -d t0 -d t1 -a 10.0.0.2", "Option '-d' expects a single argument")]
    public async Task Tun_refuses_a_wrong_line_with_exit_code_2_and_says_what_is_wrong(string line, string message) =>
        (await InvokeAsync(line.Split(' '))).Refused(message);

    // ---- http ----

    [Fact]
    public async Task Http_lines_parse_to_their_options()
    {
        var o = (await InvokeAsync("http", "--listen", "10.77.0.1:8080", "--quiet")).Ran<HttpOptions>("http");
        Assert.Equal([IPEndPoint.Parse("10.77.0.1:8080")], o.Endpoints);
        Assert.True(o.Quiet);

        o = (await InvokeAsync("http", "-l", "[::1]:8080", "-l", "127.0.0.1:9000")).Ran<HttpOptions>("http");
        Assert.Equal([IPEndPoint.Parse("[::1]:8080"), IPEndPoint.Parse("127.0.0.1:9000")], o.Endpoints);
        Assert.False(o.Quiet);
    }

    [Theory]
    [InlineData("http", "'--listen' is required")]
    [InlineData("http -l 127.0.0.1", "--listen: '127.0.0.1' is not ADDRESS:PORT like 127.0.0.1:8080 or [::1]:8080")]
    [InlineData("http -l 127.0.0.1:0", "--listen: '127.0.0.1:0' is not ADDRESS:PORT")]
    [InlineData("http -l localhost:80", "--listen: 'localhost:80' is not ADDRESS:PORT")]
    [InlineData("http -l 127.0.0.1:80 --quite", "unknown option '--quite'; did you mean '--quiet'?")]
    public async Task Http_refuses_a_wrong_line_with_exit_code_2_and_says_what_is_wrong(string line, string message) =>
        (await InvokeAsync(line.Split(' '))).Refused(message);

    // ---- demo ----

    [Fact]
    public async Task Demo_is_the_default_and_its_lines_parse_to_their_options()
    {
        Assert.Equal(new DemoOptions(null, null, 1500), (await InvokeAsync()).Ran<DemoOptions>("demo"));
        Assert.Equal(new DemoOptions(null, null, 1500), (await InvokeAsync("demo")).Ran<DemoOptions>("demo"));
        Assert.Equal(new DemoOptions(null, 8_000_000, 1500), (await InvokeAsync("demo", "--bulk-mb", "8")).Ran<DemoOptions>("demo"));
        Assert.Equal(new DemoOptions("/tmp/demo.pcap", 500_000, 9000),
            (await InvokeAsync("demo", "--pcap", "/tmp/demo.pcap", "--mtu", "9000", "--bulk-mb", "0.5")).Ran<DemoOptions>("demo"));
    }

    [Theory]
    [InlineData("demo --no-such-option", "rx-netstack demo: unknown option '--no-such-option'")]
    [InlineData("demo --mtu 1000", "--mtu: '1000' is not a whole number within 1280..65535")]
    [InlineData("demo --mtu 1500.5", "--mtu: '1500.5' is not a whole number within 1280..65535")]
    [InlineData("demo --bulk-mb 0", "--bulk-mb: '0' is not a number greater than 0")]
    [InlineData("demo --bulk-mb lots", "--bulk-mb: 'lots' is not a number greater than 0")]
    [InlineData("demo --pcap", "'--pcap'")]
    [InlineData("demo --bulk 8", "unknown option '--bulk'; did you mean '--bulk-mb'?")]
    [InlineData("dmeo", "rx-netstack: unknown command 'dmeo'; did you mean 'demo'?")]
    [InlineData("--pcap x.pcap", "rx-netstack: unknown option '--pcap': demo, tun and tap take it, rx-netstack does not")]
    public async Task Demo_refuses_a_wrong_line_with_exit_code_2_and_says_what_is_wrong(string line, string message) =>
        (await InvokeAsync(line.Split(' '))).Refused(message);

    // ---- bench ----

    [Fact]
    public async Task Bench_lines_parse_to_their_options()
    {
        var defaults = new BenchOptions();
        Assert.Equal(defaults, (await InvokeAsync("bench", "tcp")).Ran<BenchOptions>("bench tcp"));
        Assert.Equal(defaults with { Seconds = 1.5, Mtu = 1500, Buffer = 65536, BufferGiven = true, Write = 1000, IdleConnections = 10000, Checksums = ChecksumOffload.None, Offloads = false, Json = true },
            (await InvokeAsync("bench", "tcp", "--seconds", "1.5", "--mtu", "1500", "--buffer", "65536", "--write", "1000", "--idle-connections", "10000",
                "--checksums", "compute", "--offloads", "off", "--json")).Ran<BenchOptions>("bench tcp"));
        Assert.Equal(defaults with { Mtu = 1500, DatagramSize = 64 }, (await InvokeAsync("bench", "udp", "--mtu", "1500", "--size", "64")).Ran<BenchOptions>("bench udp"));
        Assert.Equal(defaults with { Seconds = 2, Checksums = ChecksumOffload.None }, (await InvokeAsync("bench", "rr", "--seconds", "2", "--checksums", "compute")).Ran<BenchOptions>("bench rr"));
        Assert.Equal(defaults with { Parallel = 32 }, (await InvokeAsync("bench", "connect", "--parallel", "32")).Ran<BenchOptions>("bench connect"));
        // BenchTunProcessTests; without --buffer bench tun measures two sizes.
        Assert.Equal(defaults with { Seconds = 1, Json = true }, (await InvokeAsync("bench", "tun", "--seconds", "1", "--json")).Ran<BenchOptions>("bench tun"));
        Assert.Equal(defaults with { Buffer = 1048576, BufferGiven = true, Offloads = false },
            (await InvokeAsync("bench", "tun", "--buffer", "1048576", "--offloads", "off")).Ran<BenchOptions>("bench tun"));
    }

    [Theory]
    [InlineData("bench", "rx-netstack bench: which one? tcp, udp, rr, connect, tun")]
    [InlineData("bench tpc", "rx-netstack bench: unknown command 'tpc'; did you mean 'tcp'?")]
    [InlineData("bench rr --size 100", "rx-netstack bench rr: unknown option '--size': bench udp takes it, bench rr does not")]
    [InlineData("bench tun --mtu 9000", "unknown option '--mtu': demo, bench tcp, bench udp, bench rr and bench connect take it, bench tun does not")]
    [InlineData("bench tcp --seconds 0", "--seconds: '0' is not a number greater than 0 and at most 600")]
    [InlineData("bench tcp --seconds 601", "--seconds: '601' is not a number greater than 0 and at most 600")]
    [InlineData("bench tcp --mtu 99", "--mtu: '99' is not a whole number within 1280..65535")]
    [InlineData("bench tcp --buffer 1k", "--buffer: '1k' is not a whole number within 1024..67108864")]
    [InlineData("bench tcp --checksums fast", "--checksums: 'fast' is not one of offload, compute")]
    [InlineData("bench tcp --offloads of", "--offloads: 'of' is not one of on, off; did you mean 'off' or 'on'?")]
    [InlineData("bench udp --size 65508", "--size: '65508' is not a whole number within 1..65507")]
    [InlineData("bench connect --parallel 0", "--parallel: '0' is not a whole number within 1..256")]
    [InlineData("bench tcp --jsn", "unknown option '--jsn'; did you mean '--json'?")]
    public async Task Bench_refuses_a_wrong_line_with_exit_code_2_and_says_what_is_wrong(string line, string message) =>
        (await InvokeAsync(line.Split(' '))).Refused(message);

    // ---- help, version, exit codes ----

    [Theory]
    [InlineData("", new[] { "demo", "tun", "http", "bench", "--help", "--version" })]
    [InlineData("demo", new[] { "--pcap <FILE>", "--bulk-mb <N>", "--mtu <M>", "[default: 1500]" })]
    [InlineData("tun", new[] { "-d, --device <NAME> (REQUIRED)", "-a, --address <ADDRESS> (REQUIRED)", "--pcap <FILE>", "-q, --quiet", "10.0.0.2/24" })]
    [InlineData("http", new[] { "-l, --listen <ADDRESS:PORT> (REQUIRED)", "-q, --quiet" })]
    [InlineData("bench", new[] { "tcp", "udp", "rr", "connect", "tun" })]
    [InlineData("bench tcp", new[] { "--seconds <N>", "--mtu <M>", "--buffer <B>", "--write <W>", "--idle-connections <K>", "--checksums <offload|compute>", "--offloads <on|off>", "--json", "[default: 65535]" })]
    [InlineData("bench udp", new[] { "--seconds <N>", "--mtu <M>", "--size <S>", "--checksums <offload|compute>", "--json" })]
    [InlineData("bench rr", new[] { "--seconds <N>", "--mtu <M>", "--checksums <offload|compute>", "--json" })]
    [InlineData("bench connect", new[] { "--seconds <N>", "--mtu <M>", "--parallel <P>", "--checksums <offload|compute>", "--json" })]
    [InlineData("bench tun", new[] { "--seconds <N>", "--buffer <B>", "--write <W>", "--offloads <on|off>", "--json", "both 65536 and 1048576" })]
    public async Task Help_on_every_command_lists_its_options_and_the_exit_codes(string command, string[] expected)
    {
        string[] words = command.Length == 0 ? [] : command.Split(' ');
        foreach (string help in (string[])["--help", "-h", "-?"])
        {
            var run = await InvokeAsync([.. words, help]);
            Assert.True(run.ExitCode == 0, run.Error);
            Assert.Null(run.Command);
            Assert.Contains($"rx-netstack {command}".TrimEnd(), run.Output);
            foreach (string text in expected) Assert.Contains(text, run.Output);
            Assert.Contains("Exit codes:", run.Output);
            Assert.Contains("2  usage error", run.Output);
            Assert.Equal(command is "" or "bench" or "bench tun", run.Output.Contains("3  bench tun", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Help_wins_over_a_wrong_line_and_the_help_word_still_works()
    {
        var run = await InvokeAsync("tun", "--devce", "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--device <NAME>", run.Output);

        run = await InvokeAsync("help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Commands:", run.Output);
        Assert.DoesNotContain("help ", run.Output.Split("Commands:")[1].Split("Exit codes:")[0]); // hidden
    }

    [Fact]
    public async Task Version_prints_the_package_version()
    {
        var run = await InvokeAsync("--version");
        Assert.Equal(0, run.ExitCode);
        Assert.Null(run.Command);
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Directory.Build.props"))) root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("Directory.Build.props");
        string version = VersionProperty().Match(File.ReadAllText(Path.Combine(root, "Directory.Build.props"))).Groups["version"].Value;
        Assert.NotEmpty(version);
        Assert.Equal(version + Environment.NewLine, run.Output);
    }

    [Fact]
    public async Task A_command_that_throws_exits_1_and_says_why()
    {
        var commands = CliCommands.Real with { Tun = _ => throw new InvalidOperationException("the device went away") };
        var error = new StringWriter();
        int code = await new RxNetstackCli(commands).InvokeAsync(["tun", "-d", "t0", "-a", "10.0.0.2"], new StringWriter(), error);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("rx-netstack tun: System.InvalidOperationException: the device went away", error.ToString());
    }

    [Fact]
    public async Task The_exit_code_of_a_command_is_the_exit_code_of_the_process()
    {
        var commands = CliCommands.Real with { Bench = (_, _) => Task.FromResult(ExitCodes.Unsupported) };
        Assert.Equal(ExitCodes.Unsupported, await new RxNetstackCli(commands).InvokeAsync(["bench", "tun"], new StringWriter(), new StringWriter()));
    }

    [Theory]
    [InlineData("--devce", "--device")]
    [InlineData("--evice", "--device")]
    [InlineData("--dev", "--device")]
    [InlineData("--qiuet", "--quiet")]
    public void Typos_suggest_the_closest_option(string typed, string meant) =>
        Assert.Equal(meant, Typos.Closest(typed, ["--device", "-d", "--address", "-a", "--pcap", "--quiet", "-q", "--help"])[0]);

    [Fact]
    public async Task The_readme_shows_what_a_wrong_line_really_prints()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "README.md")) || !File.Exists(Path.Combine(root, "Rx.Netstack.sln")))
            root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("README.md");
        var example = ReadmeExample().Match(File.ReadAllText(Path.Combine(root, "README.md")));
        Assert.True(example.Success, "README.md has no ```text block starting with '$ rx-netstack'");
        var run = await InvokeAsync(example.Groups["line"].Value.Split(' '));
        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal(example.Groups["output"].Value.ReplaceLineEndings(), run.Error.ReplaceLineEndings());
    }

    [GeneratedRegex(@"```text\n\$ rx-netstack (?<line>[^\n]+)\n(?<output>(?:[^`][^\n]*\n)+)```")]
    private static partial Regex ReadmeExample();

    [GeneratedRegex(@"<Version>(?<version>[^<]+)</Version>")]
    private static partial Regex VersionProperty();
}
