using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

// The namespace itself is Rx.Netstack.Devices.NetworkNamespace (shared with `bench tun`); here are the test attributes.

/// <summary>
/// A fact that needs network namespaces (root). It is skipped, with the reason, when they are unavailable —
/// except under CI (<c>CI=true</c>), where it always runs and fails loudly instead.
/// </summary>
public sealed class NamespaceFactAttribute : FactAttribute
{
    /// <param name="programs">Programs the test runs besides <c>ip</c> (curl, tshark …): missing ones skip it with the reason,
    /// as root alone does not make a fresh machine have them.</param>
    public NamespaceFactAttribute(params string[] programs)
    {
        if (IsCi) return;
        if (!NetworkNamespace.IsSupported)
            Skip = "Needs root (CAP_NET_ADMIN), /dev/net/tun and the `ip` tool to create a network namespace; run as root or with CI=true.";
        else if (MissingPrograms(programs) is { Length: > 0 } missing)
            Skip = $"Needs {string.Join(", ", missing.Select(p => $"`{p}`"))} (apt-get install -y {string.Join(' ', missing.Select(DebianPackage))}); under CI=true this test runs and requires them.";
    }

    internal static string[] MissingPrograms(IEnumerable<string> programs) => programs.Where(p => NetworkNamespace.FindProgram(p) is null).ToArray();

    /// <summary>The Debian package that brings a program, where its name differs.</summary>
    internal static string DebianPackage(string program) => program switch
    {
        "ping" => "iputils-ping",
        "nc" => "netcat-openbsd",
        "ab" => "apache2-utils",
        "nginx" => "nginx-light",
        _ => program,
    };

    internal static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}

/// <summary>A fact that needs a program on PATH: skipped without it, except under CI where it must be installed.</summary>
public sealed class RequiresProgramFactAttribute : FactAttribute
{
    public RequiresProgramFactAttribute(string program)
    {
        if (NetworkNamespace.FindProgram(program) is null && !NamespaceFactAttribute.IsCi)
            Skip = $"`{program}` is not installed (apt-get install -y {NamespaceFactAttribute.DebianPackage(program)}); under CI=true this test runs and requires it.";
    }
}
