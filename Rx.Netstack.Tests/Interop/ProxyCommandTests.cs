using System.Text.Json;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>
/// The real `rx-netstack proxy` carrying kernel clients' connections to kernel servers in another namespace (see
/// <see cref="ProxyRig"/>): curl, python asyncio, UDP, refusals, 1,000 connections, SIGTERM, a SOCKS5 upstream.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class ProxyCommandTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [NamespaceFact("curl", "python3", "ping")]
    public async Task Curl_and_udp_requests_reach_kernel_servers_through_the_proxy_over_ipv4_and_ipv6()
    {
        await using var rig = await ProxyRig.StartAsync();
        // Echo to an intercepted address is answered by the proxy's stack, from that address.
        foreach (string host in (string[])[ProxyRig.ServerV4, ProxyRig.ServerV6])
        {
            var ping = await rig.RunClientAsync(Patience, "ping", "-c", "2", "-i", "0.2", "-W", "5", host);
            Assert.True(ping.Stdout.Contains("2 received", StringComparison.Ordinal) && ping.Stdout.Contains($"from {host}", StringComparison.Ordinal),
                $"{ping.Output}\n{rig.Log}");
        }
        foreach (string url in (string[])[$"http://{ProxyRig.ServerV4}:{ProxyRig.HttpPort}/v4", $"http://[{ProxyRig.ServerV6}]:{ProxyRig.HttpPort}/v6"])
        {
            var curl = await rig.RunClientAsync(Patience, "curl", "-sS", "--max-time", "20", url);
            Assert.True(curl.ExitCode == 0 && curl.Stdout.Contains("<h1>behind the proxy</h1>", StringComparison.Ordinal), $"{curl.Output}\n{rig.Log}");
        }
        foreach (string host in (string[])[ProxyRig.ServerV4, ProxyRig.ServerV6])
        {
            var udp = await rig.RunPeerAsync(Patience, "udp", host, $"{ProxyRig.EchoPort}", "5");
            Assert.True(udp.ExitCode == 0, $"{udp.Output}\n{rig.Log}");
            Assert.Contains("answered 5 of 5", udp.Stdout, StringComparison.Ordinal);
        }
        // Without --socks5 a flow goes direct, through a connected socket of the proxy's own.
        Assert.Contains(rig.Proxy.Lines, line => line.StartsWith("udp ", StringComparison.Ordinal) && line.EndsWith(": relaying", StringComparison.Ordinal));
        Assert.DoesNotContain(rig.Proxy.Lines, line => line.Contains("SOCKS5 UDP", StringComparison.Ordinal) || line.Contains("through SOCKS5", StringComparison.Ordinal));
    }

    [NamespaceFact("python3")]
    public async Task A_50_MB_echo_is_byte_exact_each_way_with_half_close_over_ipv4_and_ipv6()
    {
        await using var rig = await ProxyRig.StartAsync();
        foreach (string host in (string[])[ProxyRig.ServerV4, ProxyRig.ServerV6])
        {
            // The client sends 50 MiB while reading the echo, shuts its write side (the proxy passes the FIN on, the server
            // echoes the rest and closes), and reads to end of stream: every byte back, in order, and the end of stream too.
            var run = await rig.RunPeerAsync(TimeSpan.FromMinutes(3), "bigecho", host, $"{ProxyRig.EchoPort}", $"{50 * 1024 * 1024}");
            Assert.True(run.ExitCode == 0, $"{run.Output}\n{rig.Log}");
            using var result = JsonDocument.Parse(run.Stdout);
            Assert.True(result.RootElement.GetProperty("ok").GetBoolean());
            Assert.Equal(50 * 1024 * 1024, result.RootElement.GetProperty("received").GetInt64());
        }
    }

    [NamespaceFact("python3")]
    public async Task A_refused_port_is_a_reset_and_an_unreachable_host_an_icmp_error_to_the_client()
    {
        await using var rig = await ProxyRig.StartAsync();
        // Nothing listens on port 9 of the server: its kernel resets the upstream connect, the proxy resets the client's.
        var refused = await rig.RunPeerAsync(Patience, "connect", ProxyRig.ServerV4, "9");
        Assert.True(refused.Stdout.StartsWith("refused", StringComparison.Ordinal), $"{refused.Output}\n{rig.Log}");
        var refused6 = await rig.RunPeerAsync(Patience, "connect", ProxyRig.ServerV6, "9");
        Assert.True(refused6.Stdout.StartsWith("refused", StringComparison.Ordinal), $"{refused6.Output}\n{rig.Log}");

        // Nobody has 10.79.0.99 or fd79::99: the upstream's ARP / neighbour discovery fails (EHOSTUNREACH, ~3 s), and the client
        // hears ICMP host (address) unreachable from the address it asked for — its connect fails with EHOSTUNREACH, not a time-out.
        foreach (string host in (string[])["10.79.0.99", "fd79::99"])
        {
            var unreachable = await rig.RunPeerAsync(Patience, "connect", host, "80");
            Assert.True(unreachable.Stdout.StartsWith("EHOSTUNREACH", StringComparison.Ordinal), $"{host}: {unreachable.Output}\n{rig.Log}");
        }

        // UDP to a closed port: the upstream's ICMP port unreachable becomes one to the client (ECONNREFUSED on its socket).
        var udp = await rig.RunPeerAsync(Patience, "udp", ProxyRig.ServerV4, "7999", "1");
        Assert.True(udp.Stdout.Trim() == "refused", $"{udp.Output}\n{rig.Log}");
    }

    [NamespaceFact("python3")]
    public async Task A_thousand_concurrent_connections_echo_through_the_proxy()
    {
        await using var rig = await ProxyRig.StartAsync(null, "--quiet");
        string loadClient = Path.Combine(AppContext.BaseDirectory, "Interop", "load_client.py");
        var run = await rig.RunClientAsync(TimeSpan.FromMinutes(3), "python3", loadClient, "echo", ProxyRig.ServerV4, $"{ProxyRig.EchoPort}",
            "--connections", "1000", "--size", "10000", "--deadline", "120");
        Assert.True(run.ExitCode == 0, $"{run.Output}\n{rig.Log}");
        using var result = JsonDocument.Parse(run.Stdout);
        Assert.Equal(1000, result.RootElement.GetProperty("ok").GetInt32());
    }

    /// <summary>
    /// <c>--engines 2</c>: the proxy's stack has two engines on a two-queue TUN; intercepted TCP lands on both by flow, UDP on
    /// the first. curl and UDP over both families, then 1,000 concurrent connections, all exact.
    /// </summary>
    [NamespaceFact("curl", "python3")]
    public async Task Two_engines_carry_curl_udp_and_a_thousand_concurrent_connections()
    {
        await using var rig = await ProxyRig.StartAsync(null, "--engines", "2", "--quiet");
        Assert.Contains(rig.Proxy.Lines, line => line.Contains("2 engines on as many queues", StringComparison.Ordinal));
        foreach (string url in (string[])[$"http://{ProxyRig.ServerV4}:{ProxyRig.HttpPort}/v4", $"http://[{ProxyRig.ServerV6}]:{ProxyRig.HttpPort}/v6"])
        {
            var curl = await rig.RunClientAsync(Patience, "curl", "-sS", "--max-time", "20", url);
            Assert.True(curl.ExitCode == 0 && curl.Stdout.Contains("<h1>behind the proxy</h1>", StringComparison.Ordinal), $"{curl.Output}\n{rig.Log}");
        }
        foreach (string host in (string[])[ProxyRig.ServerV4, ProxyRig.ServerV6])
        {
            var udp = await rig.RunPeerAsync(Patience, "udp", host, $"{ProxyRig.EchoPort}", "5");
            Assert.True(udp.ExitCode == 0 && udp.Stdout.Contains("answered 5 of 5", StringComparison.Ordinal), $"{udp.Output}\n{rig.Log}");
        }
        string loadClient = Path.Combine(AppContext.BaseDirectory, "Interop", "load_client.py");
        var run = await rig.RunClientAsync(TimeSpan.FromMinutes(3), "python3", loadClient, "echo", ProxyRig.ServerV4, $"{ProxyRig.EchoPort}",
            "--connections", "1000", "--size", "10000", "--deadline", "120");
        Assert.True(run.ExitCode == 0, $"{run.Output}\n{rig.Log}");
        using var result = JsonDocument.Parse(run.Stdout);
        Assert.Equal(1000, result.RootElement.GetProperty("ok").GetInt32());
    }

    [NamespaceFact("python3")]
    public async Task Sigterm_mid_transfer_resets_the_client_and_leaves_nothing_behind()
    {
        var rig = await ProxyRig.StartAsync();
        try
        {
            PeerProcess stream = rig.StartClient("stream", ProxyRig.ServerV4, $"{ProxyRig.EchoPort}");
            await stream.WaitForLineAsync("streaming", Patience);
            await rig.Proxy.WaitForLineAsync(line => line.EndsWith(": relaying", StringComparison.Ordinal), Patience);

            rig.Proxy.Signal(15 /* SIGTERM */);
            Assert.Equal(0, await rig.Proxy.WaitForExitAsync(Patience));
            // The client's connection was reset, not left hanging (it would wait 30 s for a byte otherwise).
            string ended = await stream.WaitForLineAsync("reset after", TimeSpan.FromSeconds(20));
            Assert.Contains("ConnectionResetError", ended, StringComparison.Ordinal);
            Assert.Contains(rig.Proxy.Lines, line => line == $"closed {ProxyRig.Interface}");
            // The TUN interface went with the proxy's descriptor, even from the namespace it was moved to.
            Assert.Throws<InvalidOperationException>(() => rig.Clients.Exec("ip", "link", "show", ProxyRig.Interface));
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException($"{e}\n{rig.Log}");
        }
        finally
        {
            await rig.DisposeAsync();
        }
    }

    /// <summary>
    /// <c>--dashboard</c>: the page on the proxy's own address, and its event stream's socket table lists a relayed connection
    /// by its original destination (the server behind the proxy) while it streams.
    /// </summary>
    [NamespaceFact("curl", "python3")]
    public async Task The_dashboard_lists_a_relayed_connection_by_its_original_destination()
    {
        await using var rig = await ProxyRig.StartAsync(null, "--dashboard");
        Assert.Contains(rig.Proxy.Lines, line => line == "dashboard: http://10.78.0.2/dashboard");
        var page = await rig.RunClientAsync(Patience, "curl", "-sS", "--max-time", "20", "http://10.78.0.2/dashboard");
        Assert.True(page.ExitCode == 0 && page.Stdout.Contains("<html", StringComparison.OrdinalIgnoreCase), $"{page.Output}\n{rig.Log}");

        PeerProcess stream = rig.StartClient("stream", ProxyRig.ServerV4, $"{ProxyRig.EchoPort}");
        await stream.WaitForLineAsync("streaming", Patience);
        await rig.Proxy.WaitForLineAsync(line => line.EndsWith(": relaying", StringComparison.Ordinal), Patience);
        // Two seconds of the event stream (curl ends it with exit code 28, a timeout, having printed what came).
        var events = await rig.RunClientAsync(Patience, "curl", "-sS", "-N", "--max-time", "2", $"http://10.78.0.2/dashboard/events?stack={ProxyRig.Interface}");
        Assert.True(events.Stdout.Contains($"{ProxyRig.ServerV4}:{ProxyRig.EchoPort}", StringComparison.Ordinal),
            $"no row for the relayed connection in:\n{events.Stdout[..Math.Min(events.Stdout.Length, 3000)]}\n{rig.Log}");
    }

    [NamespaceFact("curl", "python3")]
    public async Task A_socks5_upstream_carries_the_connections_and_its_refusals()
    {
        await using var rig = await ProxyRig.StartAsync(["socks5", "1080"], "--socks5", "127.0.0.1:1080");
        var curl = await rig.RunClientAsync(Patience, "curl", "-sS", "--max-time", "20", $"http://{ProxyRig.ServerV4}:{ProxyRig.HttpPort}/socks");
        Assert.True(curl.ExitCode == 0 && curl.Stdout.Contains("<p>/socks</p>", StringComparison.Ordinal), $"{curl.Output}\n{rig.Log}");
        var run = await rig.RunPeerAsync(TimeSpan.FromMinutes(2), "bigecho", ProxyRig.ServerV6, $"{ProxyRig.EchoPort}", $"{10 * 1024 * 1024}");
        Assert.True(run.ExitCode == 0, $"{run.Output}\n{rig.Log}");
        // The SOCKS5 server's "connection refused" reply (5) becomes a reset to the client.
        var refused = await rig.RunPeerAsync(Patience, "connect", ProxyRig.ServerV4, "9");
        Assert.True(refused.Stdout.StartsWith("refused", StringComparison.Ordinal), $"{refused.Output}\n{rig.Log}");
        Assert.Contains(rig.Proxy.Lines, line => line.Contains("upstream SOCKS5 127.0.0.1:1080", StringComparison.Ordinal));
    }

    /// <summary>
    /// <c>--socks5</c> and UDP: each flow gets a UDP ASSOCIATE of its own on the SOCKS5 server (RFC 1928 §7), its datagrams
    /// cross the server's relay wrapped with the original destination, and the answers come back unwrapped from that
    /// destination — over IPv4 and IPv6. The server's own log shows every datagram it relayed.
    /// </summary>
    [NamespaceFact("python3")]
    public async Task Udp_flows_cross_the_socks5_servers_udp_relay_over_ipv4_and_ipv6()
    {
        await using var rig = await ProxyRig.StartAsync(["socks5", "1080"], "--socks5", "127.0.0.1:1080");
        foreach (string host in (string[])[ProxyRig.ServerV4, ProxyRig.ServerV6])
        {
            var udp = await rig.RunPeerAsync(Patience, "udp", host, $"{ProxyRig.EchoPort}", "5");
            Assert.True(udp.ExitCode == 0 && udp.Stdout.Contains("answered 5 of 5", StringComparison.Ordinal), $"{udp.Output}\n{rig.Log}");
        }
        PeerProcess socks = rig.BeforeProxy!;
        // The server logs a datagram after relaying it: wait for the last one of each flow (10 bytes × 5) before reading the log.
        await socks.WaitForLineAsync($"socks5 udp #1 {ProxyRig.ServerV4} {ProxyRig.EchoPort} 50", Patience);
        await socks.WaitForLineAsync($"socks5 udp #2 {ProxyRig.ServerV6} {ProxyRig.EchoPort} 50", Patience);
        string serverLog = string.Join('\n', socks.Lines);
        Assert.True(socks.Lines.Count(l => l.StartsWith("socks5 udp associate", StringComparison.Ordinal)) == 2, $"{serverLog}\n{rig.Log}");
        // "socks5 udp #N HOST PORT LENGTH": the udp peer's datagrams are "datagram i" repeated i + 1 times.
        foreach (string host in (string[])[ProxyRig.ServerV4, ProxyRig.ServerV6])
        {
            int[] lengths = [.. socks.Lines.Where(l => l.StartsWith("socks5 udp #", StringComparison.Ordinal) && l.Contains($" {host} {ProxyRig.EchoPort} ", StringComparison.Ordinal))
                .Select(l => int.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))];
            Assert.True(lengths.SequenceEqual(Enumerable.Range(0, 5).Select(i => $"datagram {i}".Length * (i + 1))), $"{host}: {serverLog}\n{rig.Log}");
        }
        Assert.Contains(rig.Proxy.Lines, line => line.EndsWith("relaying through SOCKS5", StringComparison.Ordinal));
        Assert.DoesNotContain(socks.Lines, l => l.Contains("malformed", StringComparison.Ordinal));
    }
}
