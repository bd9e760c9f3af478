using System.Collections.Concurrent;
using System.Diagnostics;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// The real `rx-netstack proxy` between three namespaces the rig creates: <see cref="Clients"/> routes 10.79.0.0/24 and
/// fd79::/64 into the TUN interface <see cref="Interface"/>; the proxy runs in <see cref="Upstream"/> (it opened the TUN
/// there, and the rig then moved the interface to the clients' namespace — the descriptor keeps working, so the proxy's
/// own sockets cannot loop back into it); its upstream sockets reach <see cref="Servers"/> over a veth pair, where kernel
/// servers (proxy_peers.py serve: TCP and UDP echo on 7007, HTTP on 8080) listen on 10.79.0.2 and fd79::2. Disposing sends
/// SIGTERM, waits (bounded), kills what is left and deletes the namespaces.
/// </summary>
internal sealed class ProxyRig : IAsyncDisposable
{
    public const string Interface = "rxp0";
    public const string ServerV4 = "10.79.0.2", ServerV6 = "fd79::2";
    public const int EchoPort = 7007, HttpPort = 8080;

    private static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(15);

    private readonly List<PeerProcess> _peers = [];

    private ProxyRig(NetworkNamespace clients, NetworkNamespace upstream, NetworkNamespace servers)
    {
        Clients = clients;
        Upstream = upstream;
        Servers = servers;
    }

    public NetworkNamespace Clients { get; }
    public NetworkNamespace Upstream { get; }
    public NetworkNamespace Servers { get; }
    public CliProcess Proxy { get; private set; } = null!;

    /// <summary>The peer started before the proxy (the SOCKS5 server), if any.</summary>
    public PeerProcess? BeforeProxy { get; private set; }

    /// <summary>The peers script next to the tests.</summary>
    public static string Peers => Path.Combine(AppContext.BaseDirectory, "Interop", "proxy_peers.py");

    /// <summary>Builds the namespaces, starts the servers, then the proxy (with <paramref name="extraArgs"/>), and moves its TUN.</summary>
    /// <param name="beforeProxy">Started in <see cref="Upstream"/> before the proxy (a SOCKS5 server), waited for its "ready".</param>
    public static async Task<ProxyRig> StartAsync(string[]? beforeProxy = null, params string[] extraArgs)
    {
        var rig = new ProxyRig(NetworkNamespace.Create("rxpc"), NetworkNamespace.Create("rxpu"), NetworkNamespace.Create("rxps"));
        try
        {
            NetworkNamespace u = rig.Upstream, s = rig.Servers, c = rig.Clients;
            u.Exec("ip", "link", "add", "rxpu0", "type", "veth", "peer", "name", "rxps0");
            u.Exec("ip", "link", "set", "rxps0", "netns", s.Name);
            u.Exec("ip", "addr", "add", "10.79.0.1/24", "dev", "rxpu0");
            u.Exec("ip", "-6", "addr", "add", "fd79::1/64", "dev", "rxpu0", "nodad");
            u.Exec("ip", "link", "set", "rxpu0", "up");
            s.Exec("ip", "addr", "add", $"{ServerV4}/24", "dev", "rxps0");
            s.Exec("ip", "-6", "addr", "add", $"{ServerV6}/64", "dev", "rxps0", "nodad");
            s.Exec("ip", "link", "set", "rxps0", "up");
            await rig.StartPeerAsync(s, "serve", $"{EchoPort}", $"{HttpPort}");
            if (beforeProxy is not null) rig.BeforeProxy = await rig.StartPeerAsync(u, beforeProxy);

            rig.Proxy = CliProcess.Start(u, ["proxy", "--device", Interface, "--address", "10.78.0.2/24", "--address", "fd78::2/64",
                "--intercept", "10.79.0.0/24", "--intercept", "fd79::/64", .. extraArgs]);
            await rig.Proxy.WaitForLineAsync(line => line.Contains("Ctrl-C or SIGTERM stops.", StringComparison.Ordinal), StartPatience);

            u.Exec("ip", "link", "set", Interface, "netns", c.Name);
            c.Exec("ip", "addr", "add", "10.78.0.1/24", "dev", Interface);
            c.Exec("ip", "-6", "addr", "add", "fd78::1/64", "dev", Interface, "nodad");
            c.Exec("ip", "link", "set", Interface, "up");
            c.Exec("ip", "route", "add", "10.79.0.0/24", "dev", Interface);
            c.Exec("ip", "-6", "route", "add", "fd79::/64", "dev", Interface);
            return rig;
        }
        catch (Exception e)
        {
            string tail = rig.Proxy?.Tail() ?? "";
            await rig.DisposeAsync();
            throw new InvalidOperationException($"the proxy rig did not start: {e.Message}\n--- rx-netstack output ---\n{tail}", e);
        }
    }

    private async Task<PeerProcess> StartPeerAsync(NetworkNamespace ns, params string[] args)
    {
        var peer = PeerProcess.Start(ns, args);
        _peers.Add(peer);
        await peer.WaitForLineAsync("ready", StartPatience);
        return peer;
    }

    /// <summary>Starts a peer in the clients' namespace and returns it (for one that streams while the test acts).</summary>
    public PeerProcess StartClient(params string[] args)
    {
        var peer = PeerProcess.Start(Clients, args);
        _peers.Add(peer);
        return peer;
    }

    /// <summary>Runs a program in the clients' namespace to its end (killed at <paramref name="timeout"/>).</summary>
    public async Task<ProgramRun> RunClientAsync(TimeSpan timeout, params string[] command)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string arg in (string[])["netns", "exec", Clients.Name, .. command]) info.ArgumentList.Add(arg);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {command[0]}");
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        bool timedOut = false;
        try { await process.WaitForExitAsync().WaitAsync(timeout); }
        catch (TimeoutException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(StopPatience);
        }
        return new ProgramRun(string.Join(' ', command), timedOut ? -1 : process.ExitCode, await stdout, await stderr, clock.Elapsed, timedOut);
    }

    /// <summary>A peer of proxy_peers.py in the clients' namespace.</summary>
    public Task<ProgramRun> RunPeerAsync(TimeSpan timeout, params string[] args) => RunClientAsync(timeout, ["python3", Peers, .. args]);

    /// <summary>What to attach to a failure: the proxy's last lines.</summary>
    public string Log => $"--- rx-netstack proxy ---\n{Proxy?.Tail(30)}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Proxy is { HasExited: false })
            {
                Proxy.Signal(15 /* SIGTERM */);
                await Proxy.WaitForExitAsync(StopPatience);
            }
        }
        catch (Exception)
        {
            // Killed below.
        }
        Proxy?.Dispose();
        foreach (PeerProcess peer in _peers) peer.Dispose();
        Clients.Dispose();
        Upstream.Dispose();
        Servers.Dispose();
    }
}

/// <summary>proxy_peers.py running in a namespace, its output collected line by line.</summary>
internal sealed class PeerProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _newLine = new(0);

    private PeerProcess(Process process) => _process = process;

    public IEnumerable<string> Lines => _lines;
    public bool HasExited => _process.HasExited;

    public static PeerProcess Start(NetworkNamespace ns, params string[] args)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string arg in (string[])["netns", "exec", ns.Name, "python3", "-u", ProxyRig.Peers, .. args]) info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var peer = new PeerProcess(process);
        process.OutputDataReceived += (_, e) => peer.Add(e.Data);
        process.ErrorDataReceived += (_, e) => peer.Add(e.Data is null ? null : $"stderr: {e.Data}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    private void Add(string? line)
    {
        if (line is null) return;
        _lines.Enqueue(line);
        _newLine.Release();
    }

    /// <summary>Waits for a line starting with <paramref name="prefix"/>; throws if the process ends or the time runs out first.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            if (_lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) is { } line) return line;
            if (_process.HasExited && !_lines.Any(l => l.StartsWith(prefix, StringComparison.Ordinal)))
                throw new InvalidOperationException($"proxy_peers.py exited ({_process.ExitCode}) before '{prefix}': {string.Join(" | ", _lines)}");
            try { await _newLine.WaitAsync(TimeSpan.FromMilliseconds(200), deadline.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"no '{prefix}' from proxy_peers.py within {timeout.TotalSeconds} s: {string.Join(" | ", _lines)}"); }
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
