using System.Net;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Reflection;
using Rx.Netstack.AspNetCore;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Testing;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// The public names of the packages against the BCL and Rx names users import beside ours (docs/api.md, "Names").
/// This file itself imports System.Net.Sockets beside Rx.Netstack.Sockets: it would not compile (CS0104) if a name clashed.
/// </summary>
public sealed class PublicNamesTests
{
    private static readonly Assembly[] Ours =
    [
        typeof(Netstack).Assembly, typeof(PipeDevice).Assembly, typeof(NetstackTransportOptions).Assembly, typeof(VirtualNetwork).Assembly,
    ];

    /// <summary>Namespaces a user of the stack commonly imports next to ours.</summary>
    private static readonly string[] ImportedBeside = ["System.Net", "System.Net.Sockets", "System.Net.Http", "System.IO", "System.IO.Pipelines", "System.Reactive"];

    [Fact]
    public void No_public_type_shares_its_name_with_a_type_of_a_namespace_imported_beside_it()
    {
        Assembly[] theirs =
        [
            typeof(object).Assembly, typeof(IPAddress).Assembly, typeof(Socket).Assembly, typeof(System.Net.Sockets.TcpListener).Assembly,
            typeof(HttpClient).Assembly, typeof(Stream).Assembly, typeof(FileStream).Assembly, typeof(System.IO.Pipelines.Pipe).Assembly,
            typeof(Observable).Assembly, typeof(Dns).Assembly,
        ];
        var bcl = theirs.Distinct().SelectMany(a => a.GetExportedTypes())
            .Where(t => t.Namespace is { } ns && ImportedBeside.Any(i => ns == i || (i == "System.Reactive" && ns.StartsWith("System.Reactive", StringComparison.Ordinal))))
            .GroupBy(SimpleName).ToDictionary(g => g.Key, g => g.First().FullName);

        var clashes = Ours.SelectMany(a => a.GetExportedTypes()).Where(t => !t.IsNested && bcl.ContainsKey(SimpleName(t)))
            .Select(t => $"{t.FullName} vs {bcl[SimpleName(t)]}").ToList();

        Assert.Empty(clashes);
        Assert.True(bcl.ContainsKey("TcpListener")); // the check sees the BCL's names (this is the clash it was written for)
    }

    [Fact]
    public void Both_listeners_compile_side_by_side()
    {
        // Both namespaces are imported in this file; each name means one type.
        Assert.NotEqual(typeof(TcpListener), typeof(TcpConnectionListener));
        Assert.Equal("Rx.Netstack.Sockets", typeof(TcpConnectionListener).Namespace);
    }

    [Fact]
    public void Accidental_public_types_are_internal()
    {
        var exported = Ours.SelectMany(a => a.GetExportedTypes()).Select(t => t.FullName).ToHashSet();
        Assert.DoesNotContain("Rx.Netstack.Tcp.TcpCounters", exported);      // mutable fields nobody outside the engine could reach
        Assert.DoesNotContain("Rx.Netstack.Testing.InlineScheduler", exported); // a benchmark tool, in another package's namespace
        // Every public type sits in a namespace of its own package (Rx.Netstack.Devices holds no Rx.Netstack.Testing type).
        foreach (Assembly assembly in Ours)
            Assert.All(assembly.GetExportedTypes(), t => Assert.StartsWith(assembly.GetName().Name!, t.Namespace!, StringComparison.Ordinal));
    }

    [Fact]
    public void Engine_socket_state_names_stay_apart_from_the_public_sockets()
    {
        // docs/architecture.md, "Names": the engine's side of a socket is <SocketKind>SocketState; no public type ends so.
        Assert.DoesNotContain(Ours.SelectMany(a => a.GetExportedTypes()), t => t.Name.EndsWith("SocketState", StringComparison.Ordinal));
        Assert.Equal(["RawSocketState", "TcpInterceptorSocketState", "TcpListenerSocketState", "TcpStreamSocketState", "UdpInterceptorSocketState", "UdpSocketState"],
            typeof(Netstack).Assembly.GetTypes().Where(t => t.Namespace == "Rx.Netstack.Engine" && t.Name.EndsWith("SocketState", StringComparison.Ordinal)
                && !t.IsAbstract).Select(t => t.Name).Order(StringComparer.Ordinal));
    }

    private static string SimpleName(Type type) => type.Name.Split('`')[0];
}
