using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Devices;

// The namespace itself is Rx.Netstack.Devices.NetworkNamespace (shared with `bench tun`); here are the test attributes.

/// <summary>
/// A fact that needs network namespaces (root). It is skipped, with the reason, when they are unavailable —
/// except under CI (<c>CI=true</c>), where it always runs and fails loudly instead.
/// </summary>
public sealed class NamespaceFactAttribute : FactAttribute
{
    public NamespaceFactAttribute()
    {
        if (!NetworkNamespace.IsSupported && !IsCi)
            Skip = "Needs root (CAP_NET_ADMIN), /dev/net/tun and the `ip` tool to create a network namespace; run as root or with CI=true.";
    }

    internal static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}

/// <summary>A fact that needs a program on PATH: skipped without it, except under CI where it must be installed.</summary>
public sealed class RequiresProgramFactAttribute : FactAttribute
{
    public RequiresProgramFactAttribute(string program)
    {
        if (NetworkNamespace.FindProgram(program) is null && !NamespaceFactAttribute.IsCi)
            Skip = $"`{program}` is not installed (apt-get install -y {program}); under CI=true this test runs and requires it.";
    }
}

/// <summary>
/// A fact that needs network namespaces (root) and some programs on PATH (load clients such as ab, wrk, python3): skipped,
/// with the reason, when either is missing — except under CI (<c>CI=true</c>), where it always runs and fails loudly instead.
/// </summary>
public sealed class NamespaceProgramsFactAttribute : FactAttribute
{
    public NamespaceProgramsFactAttribute(params string[] programs)
    {
        if (NamespaceFactAttribute.IsCi) return;
        if (NetworkNamespace.WhyUnsupported() is { } why)
        {
            Skip = $"Needs a network namespace: {why}";
            return;
        }
        string[] missing = [.. programs.Where(program => NetworkNamespace.FindProgram(program) is null)];
        if (missing.Length > 0)
            Skip = $"`{string.Join("`, `", missing)}` not installed (see .ci/run for the packages); under CI=true this test runs and requires it.";
    }
}
